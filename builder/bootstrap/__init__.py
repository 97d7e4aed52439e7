"""The bootstrapped root filesystem every image of a spec starts from (the container image and the qcow2).

One bootstrapper per family, from one table (BOOTSTRAPPERS, keyed by the tool the family module names, which the
image definition's `bootstrap.tool` carries): debootstrap for Debian, dnf --installroot for EL. The entry points:

    base = base_tree_for(spec)        # what would be bootstrapped, from the spec's repositories only
    tarball = ensure_cached(base)     # bootstrap it unless cached with the mirror's current state; the zstd tarball
    date = fill(base, root)           # unpack it into the new directory `root`; the mirror state's date
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .. import host
from ..baseline import Baseline
from ..baseline.model import el_langpack
from ..baseline.repos import key_files, repo_file
from ..errors import BuilderError
from ..families import RpmdbBackend
from ..spec import Spec
from .debootstrap import APT_DIR, AptSource, Debootstrap, mirror_for
from .definition import ImageDefinition, image_definition
from .dnf import DnfInstallroot, dnf_repos, install_langs
from .tree import COMMON_TOOLS, BaseTree, apply_script, cache_dir, fill, why_not_bootstrap
from .tree import ensure_cached as _ensure_cached

__all__ = ["BOOTSTRAP_TOOLS", "BOOTSTRAPPERS", "BaseTree", "apply_script", "base_tree_for", "cache_dir", "ensure_cached",
           "fill", "why_not_bootstrap"]


def _debootstrap(spec, definition, packages: tuple[str, ...]) -> Debootstrap:
    b = definition.bootstrap
    sources = tuple(AptSource(r.baseurl, tuple(r.suites), tuple(r.components)) for r in spec.repos)
    return Debootstrap(b.variant, b.suite, mirror_for(spec, b.suite), packages, sources, _apt_files(spec))


def _apt_files(spec) -> tuple[tuple[str, str], ...]:
    """The spec's sources (the repos item's own deb822 files) and embedded keys, where the bootstrap's apt reads them."""
    keys = f"{APT_DIR}/keys"
    files = [(f"{APT_DIR}/sources.list.d/{PurePosixPath(path).name}", content)
             for path, content in (repo_file(repo, spec.target.info.family, key_dir=keys) for repo in spec.repos)]
    files += [(f"{keys}/{PurePosixPath(path).name}", armor) for path, armor in key_files(spec.repos, spec.target.info.family)]
    return tuple(files)


def _dnf(spec, definition, packages: tuple[str, ...]) -> DnfInstallroot:
    info = spec.target.info
    if why := info.facts.bootstrap_refusal(info.distribution, info.major):
        raise BuilderError(f"{spec.name}: {spec.target}: {why.why}", hint=why.hint)
    b = definition.bootstrap
    # The release package (/etc/os-release, $releasever for dnf in the image) is named: with weak dependencies off,
    # nothing need pull it in. The langpack goes into the first transaction: glibc requires one, and dnf would
    # pick any (all of them).
    base = b.packages + (spec.target.info.release_package, el_langpack(spec.locale))
    # A full package the spec installs (curl, coreutils) wins over the base set's minimal build of it, which is left
    # out and excluded: dnf would stop at their conflict (families: minimal_builds).
    giving_way = info.facts.minimal_giving_way(packages)
    base = tuple(name for name in base if name not in giving_way)
    # b.dbpath: the rpm database's place, the family's for the release (image_definition).
    return DnfInstallroot(str(info.major), dnf_repos(spec), base, tuple(map(_dnf_argument, packages)), b.dbpath,
                          install_langs(spec.locale), b.exclude_packages + giving_way,
                          tuple(sorted(spec.target.info.dnf_variables.items())),
                          info.facts.rpmdb_backend(info.major) or RpmdbBackend.SQLITE)


def _dnf_argument(name: str) -> str:
    """How `dnf install` names a package, a group or an environment: @ID for both of the last two (dnf 4 and 5 alike;
    the kickstart's %packages writes an environment @^ID)."""
    return "@" + name.removeprefix("@^") if name.startswith("@^") else name


# The family's bootstrapper (builder.families: bootstrapper.tool) -> how the spec, its base image definition and the
# package set become a bootstrapper.
BOOTSTRAPPERS: dict[str, Callable] = {"debootstrap": _debootstrap, "dnf": _dnf}
BOOTSTRAP_TOOLS = COMMON_TOOLS + Debootstrap.tools + DnfInstallroot.tools


def base_tree_for(spec: Spec, definition: ImageDefinition | None = None, baseline: Baseline | None = None) -> BaseTree:
    """The base tree of a spec: its definition's bootstrap, the spec's repositories, the packages a container of it
    needs (the container `baseline`'s packages, and the spec's groups; the script then finds them installed).
    A build plans it once (builder.bootstrap.plan)."""
    definition = definition or image_definition(spec)
    make = BOOTSTRAPPERS[definition.bootstrap.tool]  # the family's bootstrapper
    baseline = baseline or Baseline(spec, context="container")
    return BaseTree(make(spec, definition, baseline.packages + baseline.groups))  # dnf install takes @group as it is


def ensure_cached(base: BaseTree, log=host.progress, offline: bool = False) -> Path:
    """Bootstrap `base` unless it is cached and its repositories are unchanged (`offline`: the cache as it is, the
    repositories not asked); the cached tarball (zstd, tar --numeric-owner)."""
    _ensure_cached(base, log, offline)
    return base.tarball
