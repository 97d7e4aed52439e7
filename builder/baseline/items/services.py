"""The services item: the spec's `services` enabled and disabled, with those the baseline implies (sshd, chrony,
firewalld)."""
from __future__ import annotations

from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..results import Check, Result, enabled_units, failed, passed
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "services"


def _unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


def services_enabled(b: BaselineView) -> tuple[str, ...]:
    units = []
    if b.spec.sshd.enabled:
        units.append(b.paths.sshd_unit)
    units.append(b.paths.chrony_unit)
    if b.spec.firewall.enabled:
        units.append("firewalld.service")
    units += [_unit(u) for u in b.spec.services.enable]
    return tuple(dict.fromkeys(units))


def services_disabled(b: BaselineView) -> tuple[str, ...]:
    units = [_unit(u) for u in b.spec.services.disable]
    if not b.spec.firewall.enabled:
        units.append("firewalld.service")
    if not b.spec.sshd.enabled:
        units.append(b.paths.sshd_unit)
    return tuple(dict.fromkeys(units))


def step(b: BaselineView) -> list[str]:
    return ([f"builder_enable {quote(u)}" for u in services_enabled(b)]
            + [f"builder_disable {quote(u)}" for u in services_disabled(b)])


def check(c: Check) -> Iterator[Result]:
    enabled = enabled_units(c)
    for unit in services_enabled(c.baseline):
        if _masked(c, unit):
            yield failed(NAME, f"{unit} is masked, expected enabled")
        else:
            yield (passed(NAME, f"{unit} is enabled") if unit in enabled
                   else failed(NAME, f"{unit} is not enabled (no link in /etc/systemd/system/*.wants)"))
    for unit in services_disabled(c.baseline):
        if _masked(c, unit):
            yield passed(NAME, f"{unit} is masked")
        else:
            yield (failed(NAME, f"{unit} is enabled, expected disabled") if unit in enabled
                   else passed(NAME, f"{unit} is not enabled"))


def _masked(c: Check, unit: str) -> bool:
    return c.fs.readlink(f"/etc/systemd/system/{unit}") == "/dev/null"


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    for unit in services_enabled(b):
        state = guest.shell(f"systemctl is-enabled {quote(unit)}; systemctl is-active {quote(unit)}").out.split()
        yield (passed(NAME, f"{unit} is enabled and active") if state[:2] == ["enabled", "active"]
               else failed(NAME, f"{unit} is {'/'.join(state) or 'unknown'}, expected enabled/active"))
    for unit in services_disabled(b):
        state = guest.shell(f"systemctl is-enabled {quote(unit)}; systemctl is-active {quote(unit)}").out.split()
        bad = state[:1] == ["enabled"] or "active" in state[1:2]
        yield (failed(NAME, f"{unit} is {'/'.join(state)}, expected disabled") if bad
               else passed(NAME, f"{unit} is {'/'.join(state) or 'absent'}"))


UNIT = register(Unit(
    NAME, "`services`", (Step("services", step),),
    writes="`systemctl enable/disable` (sshd, chronyd, firewalld implied)",
    check=check, checked="`*.wants` links, masks; booted: enabled and active",
    booted=booted,
    not_applicable=in_container("a container runs its command, not systemd: no unit is enabled or started"),
))
