"""What a check returns, and what every check reads: the shared part of the baseline checks."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING

from .rootfs import GroupEntry, PasswdEntry, RootFS, RootfsError, parse_group, parse_passwd, parse_shadow

if TYPE_CHECKING:
    from ..spec import Spec
    from .view import BaselineView


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NA = "n/a"


@dataclass(frozen=True)
class Result:
    item: str
    status: Status
    detail: str

    def __str__(self) -> str:
        return f"{self.status.value:<4} {self.item}: {self.detail}"


@dataclass
class Check:
    """What one check reads: the baseline, the tree, and the tree's account databases."""

    baseline: BaselineView
    fs: RootFS
    context: str

    @property
    def spec(self) -> Spec:
        return self.baseline.spec

    @cached_property
    def passwd(self) -> dict[str, PasswdEntry]:
        return parse_passwd(self.fs.read_text("/etc/passwd"))

    @cached_property
    def groups(self) -> dict[str, GroupEntry]:
        return parse_group(self.fs.read_text("/etc/group"))

    @cached_property
    def shadow(self) -> dict[str, str]:
        return parse_shadow(self.fs.read_text("/etc/shadow"))


# ---------------------------------------------------------------- helpers


def passed(item: str, detail: str) -> Result:
    return Result(item, Status.PASS, detail)


def failed(item: str, detail: str) -> Result:
    return Result(item, Status.FAIL, detail)


def not_applicable(item: str, detail: str) -> Result:
    return Result(item, Status.NA, detail)


def verdict(item: str, problems: list[str], ok: str, subject: str = "") -> Result:
    prefix = f"{subject}: " if subject else ""
    return failed(item, prefix + "; ".join(problems)) if problems else passed(item, prefix + ok)


def same_file(c: Check, item: str, path: str, expected: str, show: bool = True) -> Result:
    """Compare a file with its expected text; `show` quotes the differing line (never for spec files)."""
    try:
        actual = c.fs.read_text(path)
    except RootfsError as exc:
        return failed(item, str(exc))
    if actual is None:
        return failed(item, f"{path} is missing")
    if actual == expected:
        return passed(item, f"{path} is as the baseline writes it")
    return failed(item, f"{path} differs from the baseline: {first_difference(actual, expected, show)}")


def wrong_setting(name: str, path: str, text: str | None, have: str | None, want: str) -> str:
    """Why NAME=want is not what `path` (whose text is `text`) says: missing file, unset, or another value."""
    if text is None:
        return f"{path} is missing, expected {name}={want}"
    if have is None:
        return f"{name} is not set in {path}, expected {name}={want}"
    return f"{name} in {path} is {have!r}, expected {want!r}"


def first_difference(actual: str, expected: str, show: bool) -> str:
    have, want = actual.splitlines(keepends=True), expected.splitlines(keepends=True)
    for number, (a, e) in enumerate(zip(have, want, strict=False), 1):
        if a != e:
            return f"line {number} is {short(a)}, expected {short(e)}" if show else f"line {number} differs"
    if len(have) != len(want):
        return f"{len(have)} lines, expected {len(want)}"
    return "line endings differ"


def short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def mode_of(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def enabled_units(c: Check) -> set[str]:
    """Units with a link in a .wants or .requires directory, by link name and by target name."""
    units: set[str] = set()
    base = "/etc/systemd/system"
    for name in c.fs.listdir(base):
        if name.endswith((".wants", ".requires")):
            for link in c.fs.listdir(f"{base}/{name}"):
                target = c.fs.readlink(f"{base}/{name}/{link}")
                if target is not None:
                    units.update((link, target.rstrip("/").rsplit("/", 1)[-1]))
    return units
