"""Check the baseline inside a qcow2 without booting it: convert, attach read-only, mount read-only, check."""
from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import host
from ..baseline import Baseline
from ..baseline.results import failed, passed
from ..baseline.verify import Result, verify_rootfs
from ..errors import BuilderError
from ..spec import CloudInit
from . import blockdev


def check_tools() -> None:
    host.require_tools(("qemu-img", "losetup", "partx", "mount"), "verify --qcow2")


def verify_offline(baseline: Baseline, image: Path) -> list[Result]:
    with mounted_root(image) as root:
        return verify_rootfs(baseline, root, context="qcow2") + seal_checks(baseline, root)


def seal_checks(baseline: Baseline, root: Path) -> list[Result]:
    """What the builder-seal and builder-cloud-init elements promise, read from the image."""
    results = []
    machine_id = root / "etc" / "machine-id"
    results.append(passed("seal", "/etc/machine-id is empty (a new one on first boot)")
                   if machine_id.is_file() and machine_id.stat().st_size == 0
                   else failed("seal", "/etc/machine-id is missing or not empty"))
    keys = sorted(p.name for p in (root / "etc" / "ssh").glob("ssh_host_*"))
    results.append(failed("seal", f"SSH host keys ship in the image: {', '.join(keys)}") if keys
                   else passed("seal", "no SSH host keys in the image"))
    unit = root / "etc" / "systemd" / "system" / "multi-user.target.wants" / "builder-ssh-host-keys.service"
    results.append(passed("seal", "builder-ssh-host-keys.service makes host keys on first boot") if unit.is_symlink()
                   else failed("seal", "builder-ssh-host-keys.service is not enabled"))
    logs = [str(p.relative_to(root)) for p in (root / "var" / "log").rglob("*") if p.is_file() and not p.is_symlink()
            and p.stat().st_size > 0]
    results.append(failed("seal", f"log files are not empty: {', '.join(logs[:5])}") if logs
                   else passed("seal", "every file under /var/log is empty"))
    debs = list((root / "var" / "cache" / "apt" / "archives").glob("*.deb")) + list((root / "var" / "cache" / "dnf").glob("*/*"))
    results.append(failed("seal", f"{len(debs)} cached packages ship in the image") if debs
                   else passed("seal", "no cached packages"))
    cloud_init = (root / "usr" / "bin" / "cloud-init").exists()
    if baseline.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
        sources = " ".join(p.read_text() for p in (root / "etc" / "cloud" / "cloud.cfg.d").glob("*.cfg")) if cloud_init else ""
        results.append(passed("cloud-init", "installed; data sources ConfigDrive and OpenStack")
                       if "ConfigDrive" in sources and "OpenStack" in sources
                       else failed("cloud-init", "cloud-init is missing or not set to the OpenStack data sources"))
    else:
        results.append(failed("cloud-init", "cloud-init is installed but the spec says none") if cloud_init
                       else passed("cloud-init", "not installed (the spec says none)"))
    return results


@contextlib.contextmanager
def mounted_root(image: Path) -> Iterator[Path]:
    """The image's root file system, mounted read-only under a private directory; all released on exit."""
    check_tools()
    work = Path(tempfile.mkdtemp(prefix="builder-verify-"))
    try:
        raw = work / "disk.raw"
        _run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], f"{image}: not a readable disk image")
        with blockdev.attached(raw, read_only=True) as loop:
            yield _mount_root(loop, work)
    finally:
        blockdev.remove_tree(work)


def _mount_root(loop: str, work: Path) -> Path:
    """Mount each partition read-only until one holds /etc/os-release (the root file system)."""
    tried = []
    for index, part in enumerate(blockdev.partitions(loop) or [loop]):
        point = work / f"p{index}"
        point.mkdir()
        if subprocess.run(["mount", "-o", "ro", part, str(point)], capture_output=True, check=False).returncode != 0:
            tried.append(f"{part}: not mountable")
            continue
        if (point / "etc" / "os-release").exists() or (point / "etc" / "os-release").is_symlink():
            return point
        tried.append(f"{part}: no /etc/os-release")
        subprocess.run(["umount", str(point)], capture_output=True, check=False)
    raise BuilderError(f"no root file system found in the image ({'; '.join(tried) or 'no partitions'})")


def _run(argv: list[str], message: str) -> None:
    host.run(argv, message)
