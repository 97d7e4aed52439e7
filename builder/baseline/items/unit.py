"""What a baseline item is (`Unit`), the register of items, and every table derived from it.

Each item module of this package builds one `Unit` and registers it when it is imported; the
register's order is the order the script runs the steps and the checks report. The script
(script.py), the offline checks (verify.py), the booted checks (booted.py), the items that do not
apply in a context and the package list (model.py), the paths a spec's files[] may not write
(spec_rules.py) and the item table of docs/baseline.md are all read from the register.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...spec import Spec
    from ..booted import BootedCheck, Guest
    from ..results import Check, Result
    from ..view import BaselineView

# Contexts a baseline is rendered or checked for: a full system (a kickstart install, a
# unpacked root filesystem), a qcow2 image, or a container image.
CONTEXTS = ("rootfs", "container", "qcow2")


def _no_packages(b: BaselineView) -> Sequence[str]:
    return ()


@dataclass(frozen=True)
class Step:
    name: str
    """What `builder_step` prints (kept as it always was: the script's log is read by people and tests)."""
    render: Callable[[BaselineView], list[str]]
    """Renders its shell lines ([] when there is nothing to do)."""


@dataclass(frozen=True)
class Unit:
    name: str
    """What the item's step and every check report under."""
    spec_field: str
    """The spec field(s) the item comes from, for the docs."""
    steps: tuple[Step, ...] = ()
    no_step: str = ""
    """Why the script has no step of its own for the item (required when `steps` is empty)."""
    writes: str = ""
    """What the steps write or run, for the docs."""
    check: Callable[[Check], Iterable[Result]] | None = None
    """The offline check, on a file system (verify --rootfs, --image, --qcow2)."""
    no_check: str = ""
    checked: str = ""
    """What the check reads, for the docs."""
    booted: Callable[[BaselineView, Guest], Iterable[Result]] | None = None
    """The check in the booted qcow2 guest, if any."""
    kickstart: str = ""
    """The kickstart command(s) that own the item at install time (EL), or "" when only %post does it."""
    kickstart_block: str = ""
    """The block of kickstarts/base.ks.j2 that renders those commands (default: the item's name, '-' as '_')."""
    not_applicable: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Context -> why the item has no meaning there: the script skips it and the checks report n/a."""
    kept_by: str = ""
    """The spec setting (its dotted path, like container.sshd) that keeps the item where it would not apply, for the docs."""
    kept: Callable[[Spec], bool] | None = None
    """Whether that setting is on in a spec."""
    packages: Callable[[BaselineView], Sequence[str]] = _no_packages
    """Packages the baseline installs for this item: left out where it does not apply."""
    package_order: int = 100
    """Where the item's packages come in the package list (lowest first; the order the script and the kickstart's
    %packages have always printed: sshd, time, users, the toolset, firewall, selinux, locale, prepull)."""
    contexts: tuple[str, ...] = CONTEXTS
    """Where the item exists at all (reported, n/a included); an image's seal exists only in a qcow2."""
    owns: tuple[str, ...] = ()
    """The paths its steps write or edit, on any family: a path ending in '/' owns the directory's files, one ending
    in '-' every file named so. A spec's files[] may not write one (owner_of)."""
    owned_hint: str = ""
    """What to do instead of a files[] entry at one of those paths (default: use the item's spec field)."""

    @property
    def template_block(self) -> str | None:
        """The kickstart template block of the item, or None when the kickstart has no command for it."""
        if not self.kickstart:
            return None
        return self.kickstart_block or self.name.replace("-", "_")


def in_container(why: str) -> MappingProxyType[str, str]:
    """`not_applicable` of an item that has no meaning in a container image."""
    return MappingProxyType({"container": why})


_REGISTER: list[Unit] = []


def register(unit: Unit) -> Unit:
    """Add an item (its module calls this when imported); the script runs it after those registered before."""
    if any(u.name == unit.name for u in _REGISTER):
        raise ValueError(f"a baseline item named {unit.name} is registered already")
    if bool(unit.kept_by) != (unit.kept is not None):
        raise ValueError(f"baseline item {unit.name}: kept_by names the setting that `kept` reads: give both or neither")
    if not (unit.steps or unit.no_step) or not (unit.check or unit.no_check):
        raise ValueError(f"baseline item {unit.name}: give it a step and a check, or say why it has none")
    _REGISTER.append(unit)
    return unit


def unregister(unit: Unit) -> None:
    """Take an item out again (for a test's own item)."""
    _REGISTER.remove(unit)


def units() -> tuple[Unit, ...]:
    """Every registered item, in the script's order."""
    return tuple(_REGISTER)


def steps() -> tuple[tuple[Unit, Step], ...]:
    """(item, step) of every step, in the order the script runs them."""
    return tuple((u, step) for u in _REGISTER for step in u.steps)


def owner_of(path: str) -> Unit | None:
    """The item that writes `path`, or None: a spec's files[] may write it."""
    for unit in _REGISTER:
        for owned in unit.owns:
            if path == owned or (owned.endswith(("/", "-")) and path.startswith(owned)):
                return unit
    return None


def not_applicable_items(spec: Spec, context: str) -> dict[str, str]:
    """Item name -> why it does not apply to `context` (empty for a full system)."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}")
    return {u.name: u.not_applicable[context] for u in _REGISTER
            if context in u.not_applicable and not (u.kept is not None and u.kept(spec))}


def items_in(context: str) -> tuple[Unit, ...]:
    """The items that exist in `context` (applicable or not)."""
    return tuple(u for u in _REGISTER if context in u.contexts)


def item_packages(b: BaselineView) -> list[str]:
    """The packages the items that apply to the baseline's context install, in the package list's order.

    A package of an item that does not apply is left out even when another item asks for it too (the toolset's
    chrony in a container: time sync has no meaning there); the spec's own packages.install is not an item's."""
    ordered = sorted(_REGISTER, key=lambda u: u.package_order)
    unused = {name for u in ordered if u.name in b.not_applicable for name in u.packages(b)}
    return [name for u in ordered if u.name not in b.not_applicable for name in u.packages(b) if name not in unused]


def booted_checks() -> list[tuple[str, BootedCheck]]:
    """(item name, check) of every item that has a booted check, in the script's order (qcow2/live.py runs them)."""
    return [(u.name, u.booted) for u in _REGISTER if u.booted is not None]


def markdown_table() -> str:
    """The item table of docs/baseline.md (tests/test_items.py keeps the two equal)."""
    rows = ["| item | spec field | kickstart command (EL) | script writes / runs | check | in a container |",
            "|---|---|---|---|---|---|"]
    for u in _REGISTER:
        container = "n/a" + (f" unless `{u.kept_by}: true`" if u.kept_by else "") if "container" in u.not_applicable else (
            "—" if "container" in u.contexts else "(not checked)")
        rows.append(f"| {u.name} | {u.spec_field} | {u.kickstart or '—'} | {u.writes} | {u.checked} | {container} |")
    return "\n".join(rows) + "\n"
