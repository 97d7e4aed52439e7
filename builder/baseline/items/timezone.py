"""The timezone item: `/etc/localtime` links to the spec's `timezone` (and `/etc/timezone` names it, Debian)."""
from __future__ import annotations

from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..results import Check, Result, failed, passed
from ..shell import put_generated
from .unit import Step, Unit, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "timezone"


def step(b: BaselineView) -> list[str]:
    zone = quote(f"../usr/share/zoneinfo/{b.spec.timezone}")
    lines = [
        f"if [ \"$(readlink /etc/localtime 2>/dev/null)\" != {zone} ]; then",
        f"    ln -sfn -- {zone} /etc/localtime",
        "fi",
    ]
    if b.facts.baseline.timezone_file:
        lines.append(put_generated(b.facts.baseline.timezone_file, b.spec.timezone + "\n"))
    return lines


def check(c: Check) -> Iterator[Result]:
    tz = c.spec.timezone
    target = c.fs.readlink("/etc/localtime")
    endings = (f"zoneinfo/{tz}", "zoneinfo/Etc/UTC") if tz == "UTC" else (f"zoneinfo/{tz}",)
    if target is None:
        yield failed(NAME, "/etc/localtime is not a symlink to a zoneinfo file")
    elif not target.endswith(endings):
        yield failed(NAME, f"/etc/localtime points to {target}, expected .../zoneinfo/{tz}")
    elif c.fs.stat("/etc/localtime") is None and tz != "UTC":
        yield failed(NAME, f"/etc/localtime points to {target}, which does not exist (is tzdata installed?)")
    else:
        yield passed(NAME, f"/etc/localtime -> {target}")
    path = c.baseline.facts.baseline.timezone_file
    if path:
        text = c.fs.read_text(path)
        have = (text or "").strip()
        yield (passed(NAME, f"{path} is {tz}") if have == tz
               else failed(NAME, f"{path} is missing, expected " + tz if text is None
                           else f"{path} is {have!r}, expected {tz!r}"))


UNIT = register(Unit(
    NAME, "`timezone`", (Step("timezone", step),),
    writes="`/etc/localtime` (+ `/etc/timezone` on Debian)",
    check=check, checked="link target", kickstart="`timezone --utc`",
    owns=("/etc/localtime", "/etc/timezone"),
))
