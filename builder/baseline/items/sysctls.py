"""The sysctls item: the baseline's kernel settings and the spec's `sysctls` in `/etc/sysctl.d/90-builder.conf`."""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..paths import SYSCTL_FILE
from ..results import Check, Result, failed, passed, same_file
from ..shell import put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "sysctls"
# Kernel settings every baseline sets (a spec's sysctl of the same name wins): the kernel's defaults, made
# explicit so that no package lowers them (systemd-coredump's 50-coredump.conf sets fs.suid_dumpable = 2).
SYSCTL_DEFAULTS = (("fs.suid_dumpable", "0"), ("kernel.randomize_va_space", "2"))


def sysctls(b: BaselineView) -> dict[str, str]:
    """The baseline's kernel settings, then the spec's (which win over a baseline one of the same name)."""
    settings = {key: value for key, value in SYSCTL_DEFAULTS if key not in b.spec.sysctls}
    settings.update((key, str(value)) for key, value in b.spec.sysctls.items())
    return settings


def sysctl_file(b: BaselineView) -> str:
    return "# Managed by builder\n" + "".join(f"{k} = {v}\n" for k, v in sysctls(b).items())


def step(b: BaselineView) -> list[str]:
    return [put_generated(SYSCTL_FILE, sysctl_file(b))]


def check(c: Check) -> Iterator[Result]:
    yield same_file(c, NAME, SYSCTL_FILE, sysctl_file(c.baseline))


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    for key, value in sysctls(b).items():
        got = " ".join(guest.shell(f"sysctl -n {shlex.quote(key)}").out.split())
        yield (passed(NAME, f"{key} = {got}") if got == " ".join(str(value).split())
               else failed(NAME, f"{key} is {got!r} in the running kernel, expected {value}"))


UNIT = register(Unit(
    NAME, "`sysctls`", (Step("sysctls", step),),
    writes="`/etc/sysctl.d/90-builder.conf`: `fs.suid_dumpable = 0`, `kernel.randomize_va_space = 2` "
           "(unless the spec sets them), then the spec's (`tcp_tw_recycle` refused: removed in Linux 4.12)",
    check=check, checked="file content; booted: `sysctl -n`", booted=booted,
    not_applicable=in_container("a container shares the host's kernel; set sysctls through the container runtime"),
    owns=(SYSCTL_FILE.rsplit("/", 1)[0] + "/",),
))
