"""The post-commands item: the spec's `post_commands`, each run by `bash -eu -o pipefail` (carried base64)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..results import Check, Result, not_applicable
from ..shell import b64
from .unit import Step, Unit, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "post-commands"


def step(b: BaselineView) -> list[str]:
    lines = []
    for index, command in enumerate(b.spec.post_commands):
        lines += [
            f"builder_step 'post_commands[{index}]'",
            f"printf '%s' {b64(command)} | base64 -d | bash -eu -o pipefail",
        ]
    return lines


def check(c: Check) -> Iterator[Result]:
    if c.spec.post_commands:
        yield not_applicable(NAME, "free-form commands cannot be checked")
    else:
        yield not_applicable(NAME, "none")


UNIT = register(Unit(
    NAME, "`post_commands`", (Step("post_commands", step),),
    writes="run by `bash -eu -o pipefail` (carried base64)",
    check=check, checked="n/a: free-form",
))
