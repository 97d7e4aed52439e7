"""The hostname item: `/etc/hostname`; its step also writes `/etc/hosts` (the hosts item's file, rendered here)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..results import Check, Result, failed, not_applicable, passed, short
from ..shell import put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "hostname"


def hosts_file(b: BaselineView) -> str:
    lines = ["127.0.0.1   localhost localhost.localdomain", "::1         localhost localhost.localdomain ip6-localhost ip6-loopback"]
    self_address = b.facts.baseline.hosts_self_address
    if b.spec.hostname and self_address:
        short_name = b.spec.hostname.split(".")[0]
        names = " ".join(dict.fromkeys([b.spec.hostname, short_name]))
        lines.append(f"{self_address:<11} {names}")
    if b.facts.baseline.hosts_ip6_multicast:
        lines += ["ff02::1     ip6-allnodes", "ff02::2     ip6-allrouters"]
    for entry in b.spec.hosts:
        lines.append(f"{entry.address:<11} {' '.join(entry.names)}")
    return "\n".join(lines) + "\n"


def step(b: BaselineView) -> list[str]:
    lines = [put_generated("/etc/hosts", hosts_file(b))]
    if b.spec.hostname:
        lines.insert(0, put_generated("/etc/hostname", b.spec.hostname + "\n"))
    return lines


def check(c: Check) -> Iterator[Result]:
    want = c.spec.hostname
    if not want:
        yield not_applicable(NAME, "no hostname in the spec")
        return
    have = c.fs.read_text("/etc/hostname")
    if have is None:
        yield failed(NAME, "/etc/hostname is missing")
    elif have.strip() != want:
        yield failed(NAME, f"/etc/hostname is {short(have.strip())}, expected {want!r}")
    else:
        yield passed(NAME, want)


UNIT = register(Unit(
    NAME, "`hostname`", (Step("hostname", step),),
    writes="`/etc/hostname` (and `/etc/hosts`, the hosts item)",
    check=check, checked="file content", kickstart="`network --hostname`",
    kickstart_block="network",
    not_applicable=in_container("a container's hostname is set by its runtime (docker run --hostname)"),
    owns=("/etc/hostname",),
))
