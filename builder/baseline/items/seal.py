"""The seal item (qcow2 only): what the builder-seal DIB element promises, the image's last build step after the script
(empty machine-id, no host keys, empty logs, no package cache, nothing writable by others on PATH).

Only a qcow2 is sealed: a kickstart install is the machine itself, and a container image keeps no identity."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..results import Check, Result, failed, passed
from .unit import Unit, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "seal"


def check(c: Check) -> Iterator[Result]:
    root = c.fs.root
    machine_id = root / "etc" / "machine-id"
    yield (passed(NAME, "/etc/machine-id is empty (a new one on first boot)")
           if machine_id.is_file() and machine_id.stat().st_size == 0
           else failed(NAME, "/etc/machine-id is missing or not empty"))
    keys = sorted(p.name for p in (root / "etc" / "ssh").glob("ssh_host_*"))
    yield (failed(NAME, f"SSH host keys ship in the image: {', '.join(keys)}") if keys
           else passed(NAME, "no SSH host keys in the image"))
    unit = root / "etc" / "systemd" / "system" / "multi-user.target.wants" / "builder-ssh-host-keys.service"
    yield (passed(NAME, "builder-ssh-host-keys.service makes host keys on first boot") if unit.is_symlink()
           else failed(NAME, "builder-ssh-host-keys.service is not enabled"))
    logs = [str(p.relative_to(root)) for p in (root / "var" / "log").rglob("*") if p.is_file() and not p.is_symlink()
            and p.stat().st_size > 0]
    yield (failed(NAME, f"log files are not empty: {', '.join(logs[:5])}") if logs
           else passed(NAME, "every file under /var/log is empty"))
    debs = list((root / "var" / "cache" / "apt" / "archives").glob("*.deb")) + list((root / "var" / "cache" / "dnf").glob("*/*"))
    yield (failed(NAME, f"{len(debs)} cached packages ship in the image") if debs
           else passed(NAME, "no cached packages"))
    writable = ["/" + str(p.relative_to(root)) for d in ("bin", "sbin") for p in (root / "usr" / "local" / d).glob("*")
                if not p.is_symlink() and p.is_file() and p.stat().st_mode & 0o022]
    yield (failed(NAME, f"group or world writable on PATH: {', '.join(writable)}") if writable
           else passed(NAME, "nothing in /usr/local/bin or /usr/local/sbin is group or world writable"))


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    machine_id = guest.shell("cat /etc/machine-id").out.strip()
    yield (passed(NAME, f"machine-id generated on first boot ({len(machine_id)} hex digits)") if len(machine_id) == 32
           else failed(NAME, f"/etc/machine-id is {machine_id!r} after boot"))
    if b.spec.sshd.enabled:
        keys = guest.shell("ls /etc/ssh/").out.split()
        yield (passed(NAME, "SSH host keys generated on first boot") if any(k.endswith("_key") for k in keys)
               else failed(NAME, "no SSH host keys in the booted guest"))


UNIT = register(Unit(
    NAME, "(qcow2 only)",
    no_step="sealing is the qcow2 build's last step (the builder-seal DIB element), after the script",
    writes="(builder-seal: empty machine-id, no host keys, empty logs, no package cache, "
           "nothing writable by others in `/usr/local/bin`)",
    check=check,
    checked="machine-id, host keys, logs, package cache, `/usr/local/{bin,sbin}` modes; booted: regenerated",
    booted=booted, contexts=("qcow2",),
))
