"""The artifact kinds: one object per kind, in one table that the command line and the build read.

Each kind says whether it can be made for a spec (and, if not, why and what to do instead), which
`builder build` options are its own, whether it starts from the spec's base tree, what its dry run would do (`plan`)
and how it is made (`build`); both take the spec's one plan (builder.bootstrap.plan), computed once per spec.
`KINDS` drives argparse (`--only` choices, each kind's options and their help), the refusal of an option whose kind
is not being built, the dry run and the build (builder.build).

Adding a kind is one `ArtifactKind` in `KINDS` and the module its plan and build functions live in.
Those are named as ".module:function" and imported only when used: the image builders pull in
heavy libraries (pykickstart, docker, openstack) that `builder --help` must not load.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bootstrap.plan import Plan
    from .manifest import ArtifactRecord


class Kind(StrEnum):
    KICKSTART = "kickstart"
    PREPULL = "prepull"
    ISO = "iso"
    CONTAINER = "container"
    QCOW2 = "qcow2"


@dataclass(frozen=True)
class Option:
    """An option of `builder build` (of the kinds that list it) or `builder publish` (of the targets that list it), and of no other."""

    flag: str                                   # "--boot-iso"
    help: str
    argparse: Mapping[str, Any] = field(default_factory=dict)   # add_argument's other keywords (type, metavar, action)
    default: Any = None     # publish: filled in after the refusal; to argparse None (or False) means "not given"

    @property
    def dest(self) -> str:
        return str(self.argparse.get("dest") or self.flag.lstrip("-").replace("-", "_"))


@dataclass(frozen=True)
class Refusal:
    """Why a kind is not made for a spec, and what to do instead; `field` is the spec field it comes from (its line is
    where the refusal is reported)."""

    why: str
    hint: str
    field: str = "target"


@dataclass(frozen=True)
class ArtifactKind:
    name: Kind
    makes: str                                  # what it writes into OUT/<name>/ (help, docs)
    default: bool                               # built without --only (renders in seconds; images need --only)
    refuse: Callable[[Any], Refusal | None]     # spec -> None when this kind can be made for it
    plan_with: str                              # ".module:function"(plan, directory, options) -> lines for stdout
    build_with: str                             # ".module:function"(plan, directory, options) -> [ArtifactRecord]
    options: tuple[Option, ...] = ()
    base_tree: bool = False                     # starts from the spec's base tree: its plan holds the definition and tree

    def refusal(self, spec) -> Refusal | None:
        return self.refuse(spec)

    def plan(self, plan: Plan, directory: Path, options: BuildOptions) -> list[str]:
        """What a build would write and run, as lines for stdout; writes nothing, runs nothing."""
        return resolve(self.plan_with)(plan, directory, options)

    def build(self, plan: Plan, directory: Path, options: BuildOptions) -> list[ArtifactRecord]:
        """Make the artifact in `directory`; its records. A failure leaves nothing of it behind."""
        return resolve(self.build_with)(plan, directory, options)


def resolve(ref: str) -> Callable:
    """The function a ".module:function" reference names, imported only now."""
    module, _, function = ref.partition(":")
    return getattr(importlib.import_module(module, __package__), function)


# ------------------------------------------------------------------ when a kind cannot be made


def needs_kickstart(spec) -> Refusal | None:
    if (reason := spec.target.info.facts.no_kickstart) is not None:
        return Refusal(reason.why, reason.hint)
    return needs_disk(spec)


def needs_disk(spec) -> Refusal | None:
    """A kickstart wipes the disk the spec names (the spec's checks refuse a kickstart or install section without one)."""
    from .spec.checks import DISK_HINT, NO_DISK

    if spec.kickstart_settings.disk.device is None:
        return Refusal(NO_DISK, DISK_HINT, "kickstart.disk.device" if spec.kickstart is not None else "target")
    return None


def needs_prepull(spec) -> Refusal | None:
    if spec.container is not None and spec.container.prepull is not None:
        return None
    return Refusal("the spec has no container.prepull", "set container.prepull.image to the image nodes should pull",
                   "container.prepull")


def needs_iso_kickstart(spec) -> Refusal | None:
    if (reason := spec.target.info.facts.no_kickstart_iso) is not None:
        return Refusal(reason.why, reason.hint)
    return needs_disk(spec)


def needs_bootstrap(spec) -> Refusal | None:
    """A container or a qcow2 starts from the spec's tree, bootstrapped from its own repositories."""
    info = spec.target.info
    if (reason := info.facts.bootstrap_refusal(info.distribution, info.major)) is not None:
        return Refusal(reason.why, reason.hint)
    if not spec.repos:
        return Refusal("an image starts from a tree bootstrapped from the spec's repositories, and the spec has none",
                       "add the mirror's repositories under repos: (the kickstart's install source is not one)", "repos")
    if info.facts.bootstrapper.host_reads_file_keys and (local := [r.name for r in spec.repos
                                                                    if str(r.gpgkey or "").startswith("file://")]):
        # dnf --installroot reads a file:// key on the build host, not in the tree: it would be missing, or another's.
        first = next(i for i, r in enumerate(spec.repos) if r.name == local[0])
        return Refusal(f"the key of repos {', '.join(local)} is a file:// path on the installed system, which the build "
                       "host does not have", "give the key as a key file beside the spec (gpgkey: keys/mirror.asc) or "
                       "as a URL on the mirror", f"repos[{first}].gpgkey")
    return None


def needs_dib_element(spec) -> Refusal | None:
    if (reason := spec.target.info.facts.dib_refusal(spec.target.info.distribution)) is not None:
        return Refusal(reason.why, reason.hint)
    return needs_bootstrap(spec)


# ------------------------------------------------------------------ the table

# An option of every kind that starts from the bootstrapped base tree.
OFFLINE = Option("--offline", "build from the cached base tree as it is: the spec's repositories are not asked whether "
                 "they changed since it was made (by default a changed mirror makes the tree bootstrapped again)",
                 {"action": "store_true"})

KINDS: tuple[ArtifactKind, ...] = (
    ArtifactKind(Kind.KICKSTART, "ks.cfg, the kickstart (validated by pykickstart)", default=True, refuse=needs_kickstart,
                 plan_with=".rendered:plan_kickstart", build_with=".rendered:build_kickstart"),
    ArtifactKind(Kind.PREPULL, "prepull.sh, the image pre-pull installer for running nodes", default=True,
                 refuse=needs_prepull, plan_with=".rendered:plan_prepull", build_with=".rendered:build_prepull"),
    ArtifactKind(Kind.ISO, "oemdrv.iso (and boot-ks.iso with --boot-iso)", default=False, refuse=needs_iso_kickstart,
                 plan_with=".install.iso:plan_iso", build_with=".install.iso:build_iso",
                 options=(Option("--boot-iso", "also remaster this installer boot ISO with the kickstart (boot-ks.iso)",
                                 {"type": Path, "metavar": "PATH"}),)),
    ArtifactKind(Kind.CONTAINER, "container/ (OCI layout and docker-archive; root, minutes)", default=False,
                 refuse=needs_bootstrap, plan_with=".container.build:plan_container",
                 build_with=".container.build:build_container", options=(OFFLINE,), base_tree=True),
    ArtifactKind(Kind.QCOW2, "<name>.qcow2 and its build log (root, minutes)", default=False, refuse=needs_dib_element,
                 plan_with=".qcow2.build:plan_qcow2", build_with=".qcow2.build:build_qcow2",
                 options=(OFFLINE,
                          Option("--element", "one more DIB element (repeatable)",
                                 {"action": "append", "default": [], "metavar": "NAME", "dest": "extra_elements"}),
                          Option("--elements-path", "a directory of DIB elements searched before ours (repeatable)",
                                 {"action": "append", "default": [], "type": Path, "metavar": "DIR"})),
                 base_tree=True),
)

BY_NAME: dict[Kind, ArtifactKind] = {kind.name: kind for kind in KINDS}


def kind(name: str) -> ArtifactKind:
    return BY_NAME[Kind(name)]


def default_kinds() -> tuple[ArtifactKind, ...]:
    return tuple(k for k in KINDS if k.default)


def supported(spec) -> tuple[ArtifactKind, ...]:
    return tuple(k for k in KINDS if k.refusal(spec) is None)


def made_without_only() -> str:
    """For --help: what `builder build` makes when not asked with --only."""
    defaults = "; ".join(f"{k.name}: {k.makes}" for k in KINDS if k.default)
    others = ", ".join(k.name for k in KINDS if not k.default)
    return f"without --only it makes, for each spec that has them, {defaults}; and {others} only when asked with --only"


# ------------------------------------------------------------------ options


@dataclass(frozen=True)
class BuildOptions:
    """What the command line asks of the builders: --dry-run, --jobs, and each kind's own options by their dest."""

    dry_run: bool = False
    given: Mapping[str, Any] = field(default_factory=dict)
    jobs: int = 1                   # how many specs build at once

    def __getattr__(self, name: str) -> Any:
        # Builders read their options as attributes (options.boot_iso); an option not given has its default.
        for k in KINDS:
            for option in k.options:
                if option.dest == name:
                    default = option.argparse.get("default")
                    return self.given.get(name, default)
        raise AttributeError(name)

    @classmethod
    def from_args(cls, args) -> BuildOptions:
        return cls(dry_run=args.dry_run, given={o.dest: getattr(args, o.dest) for o, _ in all_options()},
                   jobs=args.jobs or 1)


def is_given(option: Option, options: BuildOptions) -> bool:
    return options.given.get(option.dest) not in (None, False, [], ())


def all_options() -> list[tuple[Option, tuple[Kind, ...]]]:
    """Every kind's option once (an option several kinds read is one argument), with the kinds that read it."""
    table: dict[str, tuple[Option, tuple[Kind, ...]]] = {}
    for k in KINDS:
        for option in k.options:
            table[option.flag] = (option, (*table.get(option.flag, (option, ()))[1], k.name))
    return list(table.values())
