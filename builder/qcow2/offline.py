"""Check the baseline inside a qcow2 without booting it: convert, attach read-only, mount read-only, check."""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import host
from ..baseline import Baseline
from ..baseline.verify import Result, verify_rootfs
from ..errors import BuilderError
from . import blockdev


def check_tools() -> None:
    host.require_tools(("qemu-img", "losetup", "partx", "mount"), "verify --qcow2")


def verify_offline(baseline: Baseline, image: Path) -> list[Result]:
    with mounted_root(image) as root:
        # The qcow2 context adds the seal and cloud-init items (the item table's contexts).
        return verify_rootfs(baseline, root, context="qcow2", current=True)


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
        if host.run(["mount", "-o", "ro", part, str(point)], f"mounting {part}", check=False).returncode != 0:
            tried.append(f"{part}: not mountable")
            continue
        if (point / "etc" / "os-release").exists() or (point / "etc" / "os-release").is_symlink():
            return point
        tried.append(f"{part}: no /etc/os-release")
        host.run(["umount", str(point)], f"unmounting {part}", check=False)
    raise BuilderError(f"no root file system found in the image ({'; '.join(tried) or 'no partitions'})")


def _run(argv: list[str], message: str) -> None:
    host.run(argv, message)
