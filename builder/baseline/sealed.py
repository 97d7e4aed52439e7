"""The offline checks of a sealed image: what the builder-seal and builder-cloud-init DIB elements promise.

Only a qcow2 is sealed (the item table lists these items for the qcow2 context alone):
a kickstart install is the machine itself, and a container image keeps no identity.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..spec import CloudInit
from .names import Item
from .results import Check, Result, failed, passed


def check_seal(c: Check) -> Iterator[Result]:
    root = c.fs.root
    machine_id = root / "etc" / "machine-id"
    yield (passed(Item.SEAL, "/etc/machine-id is empty (a new one on first boot)")
           if machine_id.is_file() and machine_id.stat().st_size == 0
           else failed(Item.SEAL, "/etc/machine-id is missing or not empty"))
    keys = sorted(p.name for p in (root / "etc" / "ssh").glob("ssh_host_*"))
    yield (failed(Item.SEAL, f"SSH host keys ship in the image: {', '.join(keys)}") if keys
           else passed(Item.SEAL, "no SSH host keys in the image"))
    unit = root / "etc" / "systemd" / "system" / "multi-user.target.wants" / "builder-ssh-host-keys.service"
    yield (passed(Item.SEAL, "builder-ssh-host-keys.service makes host keys on first boot") if unit.is_symlink()
           else failed(Item.SEAL, "builder-ssh-host-keys.service is not enabled"))
    logs = [str(p.relative_to(root)) for p in (root / "var" / "log").rglob("*") if p.is_file() and not p.is_symlink()
            and p.stat().st_size > 0]
    yield (failed(Item.SEAL, f"log files are not empty: {', '.join(logs[:5])}") if logs
           else passed(Item.SEAL, "every file under /var/log is empty"))
    debs = list((root / "var" / "cache" / "apt" / "archives").glob("*.deb")) + list((root / "var" / "cache" / "dnf").glob("*/*"))
    yield (failed(Item.SEAL, f"{len(debs)} cached packages ship in the image") if debs
           else passed(Item.SEAL, "no cached packages"))
    writable = ["/" + str(p.relative_to(root)) for d in ("bin", "sbin") for p in (root / "usr" / "local" / d).glob("*")
                if not p.is_symlink() and p.is_file() and p.stat().st_mode & 0o022]
    yield (failed(Item.SEAL, f"group or world writable on PATH: {', '.join(writable)}") if writable
           else passed(Item.SEAL, "nothing in /usr/local/bin or /usr/local/sbin is group or world writable"))


def check_cloud_init(c: Check) -> Iterator[Result]:
    root = c.fs.root
    installed = (root / "usr" / "bin" / "cloud-init").exists()
    if c.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
        sources = " ".join(p.read_text() for p in (root / "etc" / "cloud" / "cloud.cfg.d").glob("*.cfg")) if installed else ""
        yield (passed(Item.CLOUD_INIT, "installed; data sources ConfigDrive and OpenStack")
               if "ConfigDrive" in sources and "OpenStack" in sources
               else failed(Item.CLOUD_INIT, "cloud-init is missing or not set to the OpenStack data sources"))
    else:
        yield (failed(Item.CLOUD_INIT, "cloud-init is installed but the spec says none") if installed
               else passed(Item.CLOUD_INIT, "not installed (the spec says none)"))
