"""The limits item: the spec's `limits.nofile` for login sessions (limits.d) and for services (systemd's
DefaultLimitNOFILE)."""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..paths import LIMITS_FILE, SYSTEMD_LIMITS_FILE, USER_LIMITS_FILE
from ..results import Check, Result, failed, passed, same_file
from ..shell import put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "limits"


def limits_file(b: BaselineView) -> str:
    n = b.spec.limits.nofile
    return (
        "# Managed by builder. '*' does not match root, so root is listed too.\n"
        f"*    soft nofile {n}\n*    hard nofile {n}\nroot soft nofile {n}\nroot hard nofile {n}\n"
    )


def systemd_limits_file(b: BaselineView) -> str:
    return ("# Managed by builder: limits.d covers login sessions only; this covers services.\n"
            f"[Manager]\nDefaultLimitNOFILE={b.spec.limits.nofile}\n")


def step(b: BaselineView) -> list[str]:
    return [
        put_generated(LIMITS_FILE, limits_file(b)),
        put_generated(SYSTEMD_LIMITS_FILE, systemd_limits_file(b)),
        put_generated(USER_LIMITS_FILE, systemd_limits_file(b)),
    ]


def check(c: Check) -> Iterator[Result]:
    b = c.baseline
    yield same_file(c, NAME, LIMITS_FILE, limits_file(b))
    yield same_file(c, NAME, SYSTEMD_LIMITS_FILE, systemd_limits_file(b))
    yield same_file(c, NAME, USER_LIMITS_FILE, systemd_limits_file(b))


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    nofile = str(b.spec.limits.nofile)
    default = guest.shell("systemctl show -p DefaultLimitNOFILE --value").out.strip()
    yield (passed(NAME, f"systemd DefaultLimitNOFILE={default}") if default == nofile
           else failed(NAME, f"systemd DefaultLimitNOFILE is {default!r}, expected {nofile}"))
    if b.spec.sshd.enabled:
        limits = guest.shell(f"cat /proc/$(systemctl show -p MainPID --value {shlex.quote(b.paths.sshd_unit)})/limits").out
        soft = next((line.split()[3] for line in limits.splitlines() if line.startswith("Max open files")), None)
        yield (passed(NAME, f"sshd runs with nofile {soft}") if soft == nofile
               else failed(NAME, f"sshd runs with nofile {soft!r}, expected {nofile}"))


UNIT = register(Unit(
    NAME, "`limits.nofile`", (Step("limits", step),),
    writes="`limits.d` (login sessions) AND `system.conf.d`/`user.conf.d` `DefaultLimitNOFILE` (services)",
    check=check, checked="file content; booted: systemd's default, sshd's limit",
    booted=booted,
    not_applicable=in_container("a container's limits are set by its runtime (docker run --ulimit nofile=N)"),
    owns=(*(path.rsplit("/", 1)[0] + "/" for path in (LIMITS_FILE, SYSTEMD_LIMITS_FILE, USER_LIMITS_FILE)),),
))
