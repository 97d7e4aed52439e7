"""The checks in a booted guest, item by item: what only a running system shows.

A booted check reads the guest through a `Guest` (commands run inside it by an agent,
and what the host sees of its forwarded sshd port); qcow2/live.py boots the image and
provides one. Each check is its item's (items/: the module's `booted`); items.booted_checks lists them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .results import Result
    from .view import BaselineView


BootedCheck = Callable[['BaselineView', 'Guest'], Iterable['Result']]


class Output(Protocol):
    code: int
    out: str


class Guest(Protocol):
    def shell(self, command: str, timeout: float = 60) -> Output:
        """Run `command` with /bin/sh inside the guest."""

    def ssh_banner(self) -> str:
        """What the host reads first from the guest's forwarded sshd port."""

    def root_login(self) -> tuple[int, str]:
        """(exit status, stderr) of an ssh login as root from the host with a throw-away key."""

