"""The files item: the spec's `files`, each with its mode and owner (content carried base64)."""
from __future__ import annotations

import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...spec import ExtraFile
from ..results import Check, Result, failed, mode_of, not_applicable, verdict
from ..rootfs import RootfsError
from ..shell import put_free_text
from .unit import Step, Unit, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "files"


def step(b: BaselineView) -> list[str]:
    return [put_free_text(f.path, f.content, f.mode, f.owner, f.group) for f in b.spec.files]


def check(c: Check) -> Iterator[Result]:
    if not c.spec.files:
        yield not_applicable(NAME, "no extra files in the spec")
    for extra in c.spec.files:
        try:
            yield verdict(NAME, _file_problems(c, extra), f"content, mode {extra.mode}, "
                           f"owner {extra.owner}:{extra.group}", subject=extra.path)
        except RootfsError as exc:
            yield failed(NAME, str(exc))


def _file_problems(c: Check, extra: ExtraFile) -> list[str]:
    data = c.fs.read_bytes(extra.path)
    st = c.fs.stat(extra.path)
    if data is None or st is None:
        return ["missing"]
    problems = [] if data == extra.content.encode() else ["content differs from the spec"]
    if stat.S_IMODE(st.st_mode) != int(extra.mode, 8):
        problems.append(f"mode is {mode_of(st)}, expected {int(extra.mode, 8):04o}")
    owner, group = c.passwd.get(extra.owner), c.groups.get(extra.group)
    if owner is None:
        problems.append(f"owner {extra.owner} is not in the tree's /etc/passwd")
    elif owner.uid != st.st_uid:
        problems.append(f"owned by uid {st.st_uid}, expected {extra.owner} ({owner.uid})")
    if group is None:
        problems.append(f"group {extra.group} is not in the tree's /etc/group")
    elif group.gid != st.st_gid:
        problems.append(f"group is gid {st.st_gid}, expected {extra.group} ({group.gid})")
    return problems


UNIT = register(Unit(
    NAME, "`files`", (Step("files", step),), writes="files with mode and owner (carried base64)",
    check=check, checked="content, mode, owner",
))
