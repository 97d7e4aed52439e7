"""Test-only kpartx/dmsetup shims for a kernel without device-mapper (this sandbox).

diskimage-builder maps partitions with `kpartx` and `dmsetup`; the shims in
dm-shims/ do the same with `partx` on the loop device and /dev/mapper symlinks.
They go where sudo's secure_path looks first (/usr/local/sbin) and are removed
again unless they were there before. They are never part of the product.
"""
from __future__ import annotations

import contextlib
import fcntl
import filecmp
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

SHIMS = Path(__file__).resolve().parent / "dm-shims"
INSTALL_DIR = Path("/usr/local/sbin")
NAMES = ("kpartx", "dmsetup")
LOCK = Path("/run/builder-tests-dm-shims.lock")
MARKER = Path("/run/builder-tests-dm-shims.installed")  # we installed them: the last one out removes them


def device_mapper_works() -> bool:
    """True when the kernel has device-mapper (then the real tools are used)."""
    try:
        # /dev/mapper/control alone proves nothing: dmsetup creates the node even when the kernel lacks the driver.
        return "device-mapper" in Path("/proc/misc").read_text()
    except OSError:
        return False


@contextlib.contextmanager
def dm_shims() -> Iterator[None]:
    """Install the shims for the duration of the block when device-mapper is missing.

    Several test sessions (and the benchmark) may use them at once: each holds a
    shared lock while it runs, and whoever leaves last, with nobody else holding
    the lock, removes them, unless they were there before any of us came.
    """
    if device_mapper_works() or os.geteuid() != 0:
        yield
        return
    with open(LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in NAMES:
            target = INSTALL_DIR / name
            if target.exists():
                if not filecmp.cmp(target, SHIMS / name, shallow=False):
                    raise RuntimeError(f"{target} exists and is not our test shim: refusing to replace it")
                continue
            tmp = target.with_name(f".{name}.builder-tests")
            shutil.copy2(SHIMS / name, tmp)
            os.replace(tmp, target)
            MARKER.touch()
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another session still uses them; it removes them when it leaves
            else:
                if MARKER.exists():
                    for name in NAMES:
                        with contextlib.suppress(FileNotFoundError):
                            (INSTALL_DIR / name).unlink()
                    MARKER.unlink()


def losetup_list() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=False).stdout
