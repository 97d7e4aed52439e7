"""The checks in a booted guest, item by item: what only a running system shows.

A booted check reads the guest through a `Guest` (commands run inside it by an agent,
and what the host sees of its forwarded sshd port); qcow2/live.py boots the image and
provides one. Which item each check belongs to is the item table's (items.py).
"""
from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from ..spec import CloudInit
from .items import BOOTED_CHECKS
from .names import Item
from .results import Result, failed, not_applicable, passed

if TYPE_CHECKING:
    from .model import Baseline


BootedCheck = Callable[['Baseline', 'Guest'], Iterable[Result]]


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


def booted_network(b: Baseline, guest: Guest) -> Iterator[Result]:
    if not b.spec.network.classic_names:
        yield not_applicable(Item.NETWORK, "classic_names is off: interface names are the kernel's")
        return
    link = guest.shell("ip -o link show eth0")
    yield passed(Item.NETWORK, "eth0 exists") if link.code == 0 else failed(Item.NETWORK, "no eth0 in the guest")
    address = guest.shell("ip -o -4 addr show dev eth0").out.split()
    yield (passed(Item.NETWORK, f"eth0 has {address[3]} (DHCP)") if len(address) > 3
           else failed(Item.NETWORK, "eth0 has no IPv4 address"))


def booted_sshd(b: Baseline, guest: Guest) -> Iterator[Result]:
    if not b.spec.sshd.enabled:
        yield not_applicable(Item.SSHD, "sshd is disabled in the spec")
        return
    port = b.spec.sshd.port
    listening = guest.shell("ss -ltnH").out
    on_port = any(line.split()[3].rsplit(":", 1)[-1] == str(port) for line in listening.splitlines() if len(line.split()) > 3)
    yield passed(Item.SSHD, f"listening on port {port}") if on_port else failed(Item.SSHD, f"nothing listens on port {port}")
    effective = dict(line.split(" ", 1) for line in guest.shell("sshd -T").out.splitlines() if " " in line)
    for key, value in b.sshd_settings:
        got = effective.get(key.lower())
        yield (passed(Item.SSHD, f"sshd -T: {key.lower()} {got}") if got == value.lower()
               else failed(Item.SSHD, f"sshd -T: {key.lower()} is {got!r}, expected {value.lower()!r}"))
    # From the host: the banner on the forwarded port, and root refused where the spec says so.
    banner = guest.ssh_banner()
    yield (passed(Item.SSHD, f"from the host: {banner.splitlines()[0] if banner else ''}") if banner.startswith("SSH-2.0-")
           else failed(Item.SSHD, f"no SSH banner on the forwarded port: {banner!r}"))
    if dict(b.sshd_settings)["PermitRootLogin"] == "no":
        code, stderr = guest.root_login()
        yield (passed(Item.SSHD, "root login refused from the host (permission denied)")
               if code == 255 and "Permission denied" in stderr
               else failed(Item.SSHD, f"root login was not refused: exit {code}: {stderr.strip()[:200]}"))


def booted_kernel_args(b: Baseline, guest: Guest) -> Iterator[Result]:
    cmdline = guest.shell("cat /proc/cmdline").out.split()
    for arg in b.kernel_args:
        yield (passed(Item.KERNEL_ARGS, f"{arg} on the running kernel's command line") if arg in cmdline
               else failed(Item.KERNEL_ARGS, f"{arg} is not on /proc/cmdline"))


def booted_limits(b: Baseline, guest: Guest) -> Iterator[Result]:
    nofile = str(b.spec.limits.nofile)
    default = guest.shell("systemctl show -p DefaultLimitNOFILE --value").out.strip()
    yield (passed(Item.LIMITS, f"systemd DefaultLimitNOFILE={default}") if default == nofile
           else failed(Item.LIMITS, f"systemd DefaultLimitNOFILE is {default!r}, expected {nofile}"))
    if b.spec.sshd.enabled:
        limits = guest.shell(f"cat /proc/$(systemctl show -p MainPID --value {shlex.quote(b.paths.sshd_unit)})/limits").out
        soft = next((line.split()[3] for line in limits.splitlines() if line.startswith("Max open files")), None)
        yield (passed(Item.LIMITS, f"sshd runs with nofile {soft}") if soft == nofile
               else failed(Item.LIMITS, f"sshd runs with nofile {soft!r}, expected {nofile}"))


def booted_sysctls(b: Baseline, guest: Guest) -> Iterator[Result]:
    for key, value in b.sysctls.items():
        got = " ".join(guest.shell(f"sysctl -n {shlex.quote(key)}").out.split())
        yield (passed(Item.SYSCTLS, f"{key} = {got}") if got == " ".join(str(value).split())
               else failed(Item.SYSCTLS, f"{key} is {got!r} in the running kernel, expected {value}"))


def booted_services(b: Baseline, guest: Guest) -> Iterator[Result]:
    for unit in b.services_enabled:
        state = guest.shell(f"systemctl is-enabled {shlex.quote(unit)}; systemctl is-active {shlex.quote(unit)}").out.split()
        yield (passed(Item.SERVICES, f"{unit} is enabled and active") if state[:2] == ["enabled", "active"]
               else failed(Item.SERVICES, f"{unit} is {'/'.join(state) or 'unknown'}, expected enabled/active"))
    for unit in b.services_disabled:
        state = guest.shell(f"systemctl is-enabled {shlex.quote(unit)}; systemctl is-active {shlex.quote(unit)}").out.split()
        bad = state[:1] == ["enabled"] or "active" in state[1:2]
        yield (failed(Item.SERVICES, f"{unit} is {'/'.join(state)}, expected disabled") if bad
               else passed(Item.SERVICES, f"{unit} is {'/'.join(state) or 'absent'}"))


def booted_seal(b: Baseline, guest: Guest) -> Iterator[Result]:
    machine_id = guest.shell("cat /etc/machine-id").out.strip()
    yield (passed(Item.SEAL, f"machine-id generated on first boot ({len(machine_id)} hex digits)") if len(machine_id) == 32
           else failed(Item.SEAL, f"/etc/machine-id is {machine_id!r} after boot"))
    if b.spec.sshd.enabled:
        keys = guest.shell("ls /etc/ssh/").out.split()
        yield (passed(Item.SEAL, "SSH host keys generated on first boot") if any(k.endswith("_key") for k in keys)
               else failed(Item.SEAL, "no SSH host keys in the booted guest"))


def booted_cloud_init(b: Baseline, guest: Guest) -> Iterator[Result]:
    if b.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
        status = guest.shell("cloud-init status --wait --long", timeout=300)
        ok = status.code == 0 and "ConfigDrive" in status.out
        yield (passed(Item.CLOUD_INIT, "done, data source ConfigDrive (OpenStack config drive)") if ok
               else failed(Item.CLOUD_INIT, " ".join(status.out.split())[:300] or f"exit {status.code}"))
    else:
        present = guest.shell("command -v cloud-init").code == 0
        yield (failed(Item.CLOUD_INIT, "cloud-init is installed but the spec says none") if present
               else passed(Item.CLOUD_INIT, "not installed (the spec says none)"))


def booted_checks() -> list[tuple[Item, BootedCheck]]:
    """(item, check) for every item whose record names a booted check, in the table's order."""
    return [(item, globals()[name]) for item, name in BOOTED_CHECKS]
