"""The tree a qcow2 starts from: the spec's bootstrapped tarball, the one the container image starts from.

The qcow2 and the container share one root filesystem by construction: both start from
builder.bootstrap's cached tarball of the spec's tree (before the container's strip), and DIB
adds the kernel, bootloader and host-only packages from the spec's repositories
(elements/builder-root*).

THE SEAM to builder.bootstrap is `base_tree_for` and `ensure_cached` below, and nothing else
here asks builder.bootstrap anything. Today they wrap the Debian bootstrap (BaseTree from the
image definition in base-images/). The EL bootstrap (`dnf --installroot` from the spec's repos)
plugs in by making both ask builder.bootstrap for every family; the rest of the qcow2 code then
needs no change.
"""
from __future__ import annotations

import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..baseline import Baseline
from ..bootstrap import tree
from ..container.build import base_tree
from ..container.definition import image_definition
from ..errors import BuilderError
from ..spec import Spec
from ..targets import Family


class RootTreeUnavailable(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class RootTree:
    """What the qcow2's root element unpacks, and what making it contacts and runs on the build host."""

    tarball: Path | None                # the cached tarball (made on first use; None: no bootstrap for it yet)
    bootstrap: str                      # the command that makes it when it is not cached
    repositories: tuple[str, ...]       # every URL the bootstrap contacts
    host_tools: tuple[str, ...]         # what the bootstrap runs on the build host
    base: object | None = None          # builder.bootstrap's handle on it (None: this family has no bootstrap yet)


# ------------------------------------------------------------------ the seam to builder.bootstrap


def base_tree_for(spec: Spec) -> RootTree:
    """The spec's bootstrapped tree (pure: nothing is made or read). Becomes builder.bootstrap.base_tree_for(spec)."""
    if not spec.repos:  # builder.kinds refuses a qcow2 of such a spec
        raise RootTreeUnavailable(f"{spec.name}: the spec names no repository to bootstrap its tree from")
    if spec.target.info.family is Family.DEBIAN:
        base = base_tree(spec, Baseline(spec, context="container"), image_definition(spec))
        return RootTree(base.tarball, shlex.join(base.command(Path("ROOT"))), (base.mirror,),
                        tree.BOOTSTRAP_TOOLS, base)
    # EL: builder.bootstrap's dnf --installroot (branch i-elboot) replaces this description and makes the tarball.
    info = spec.target.info
    urls = tuple(repo.baseurl for repo in spec.repos)
    command = (f"dnf --installroot ROOT --releasever={info.major} --setopt=reposdir=SPEC-REPOS "
               f"--setopt=install_weak_deps=False --setopt=tsflags=nodocs install ...  (repos: {' '.join(urls)})")
    return RootTree(None, command, urls, ("dnf", "rpm", "tar", "zstd"), None)


def ensure_cached(root: RootTree, log) -> Path:
    """The tarball, bootstrapped now unless cached and intact. Becomes builder.bootstrap.ensure_cached(base)."""
    if root.base is None:
        raise RootTreeUnavailable("this builder cannot bootstrap an EL tree yet (dnf --installroot from the spec's "
                                  "repositories), so it cannot build an EL qcow2",
                                  hint="--dry-run shows the build; the EL bootstrap comes with builder.bootstrap")
    if tree._cached_record(root.base) is not None:
        log(f"root tree from the cache: {root.tarball.name}")
        return root.tarball
    scratch = Path(tempfile.mkdtemp(prefix="builder-qcow2-root."))  # fill() bootstraps, caches, then unpacks here
    try:
        tree.fill(root.base, scratch / "root", log=log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return root.tarball
