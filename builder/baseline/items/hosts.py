"""The hosts item: `/etc/hosts` (the spec's `hosts`), written by the hostname step (hostname.hosts_file)."""
from __future__ import annotations

from collections.abc import Iterator

from ..results import Check, Result, same_file
from .hostname import hosts_file
from .unit import Unit, in_container, register

NAME = "hosts"


def check(c: Check) -> Iterator[Result]:
    yield same_file(c, NAME, "/etc/hosts", hosts_file(c.baseline))


UNIT = register(Unit(
    NAME, "`hosts`", no_step="written by the hostname step: /etc/hosts names the host",
    writes="`/etc/hosts`", check=check, checked="file content",
    not_applicable=in_container("a container's /etc/hosts is written by its runtime (docker run --add-host)"),
    owns=("/etc/hosts",),
))
