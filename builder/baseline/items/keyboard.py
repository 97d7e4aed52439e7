"""The keyboard item: the spec's `keyboard` as `KEYMAP` in `/etc/vconsole.conf` (EL), written by the locale step."""
from __future__ import annotations

from collections.abc import Iterator

from ..results import Check, Result, failed, not_applicable, passed, wrong_setting
from ..rootfs import parse_env
from .unit import Unit, in_container, register

NAME = "keyboard"


def check(c: Check) -> Iterator[Result]:
    path = c.baseline.facts.baseline.keymap_file
    if path is None:
        yield not_applicable(NAME, "console keymap is set by the installer/console-setup, not the baseline")
        return
    text = c.fs.read_text(path)
    have, want = parse_env(text).get("KEYMAP"), c.spec.keyboard
    yield (passed(NAME, f"KEYMAP={want}") if have == want
           else failed(NAME, wrong_setting("KEYMAP", path, text, have, want)))


UNIT = register(Unit(
    NAME, "`keyboard`", no_step="written by the locale step (/etc/vconsole.conf, EL), beside the locale",
    writes="`/etc/vconsole.conf` (EL)", check=check, checked="`KEYMAP`",
    kickstart="`keyboard`", not_applicable=in_container("a container has no console"),
    owns=("/etc/vconsole.conf",),
))
