"""Mounts and loop devices: find what a build or a check left under its own directory, and release it.

Only what lies under the given directory is touched; the host's other mounts
and loop devices are never considered.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import BuilderError
from ..host import mounts_under, run


def loops_under(directory: Path) -> list[str]:
    """Loop devices whose backing file lies under `directory`."""
    root = os.path.realpath(directory)
    result = run(["losetup", "--list", "--noheadings", "--raw", "--output", "NAME,BACK-FILE"], "listing loop devices",
                 check=False)
    loops = []
    for line in result.stdout.splitlines():
        name, _, back = line.partition(" ")
        back = back.strip().replace("\\x20", " ").removesuffix(" (deleted)")
        if back == root or back.startswith(root + "/"):
            loops.append(name)
    return loops


def chrooted_under(directory: Path) -> list[int]:
    """Processes whose root directory lies under `directory` (a build's chroot left running)."""
    root = os.path.realpath(directory)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            proc_root = os.readlink(entry / "root")
        except OSError:
            continue
        if proc_root == root or proc_root.startswith(root + "/"):
            found.append(int(entry.name))
    return found


def release(directory: Path) -> list[str]:
    """Stop what still runs chrooted under `directory`, unmount everything under it and detach
    its loop devices; returns what is still held."""
    for _attempt in range(10):
        pids = chrooted_under(directory)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    for point in mounts_under(directory):
        if run(["umount", point], f"unmounting {point}", check=False).returncode != 0:
            run(["umount", "--lazy", point], f"unmounting {point}", check=False)
    for loop in loops_under(directory):
        detach(loop)
    return mounts_under(directory) + loops_under(directory)


def detach(loop: str) -> None:
    """Drop a loop device's partition mappings, then the device itself."""
    if shutil.which("kpartx"):
        run(["kpartx", "-d", loop], f"removing the partition mappings of {loop}", check=False)
    run(["partx", "-d", loop], f"removing the partitions of {loop}", check=False)
    for _attempt in range(5):
        if run(["losetup", "-d", loop], f"detaching {loop}", check=False).returncode == 0:
            return
        time.sleep(0.5)


def remove_tree(directory: Path) -> None:
    """Release and delete `directory`; refuses to delete through a mount that will not go away."""
    held = release(directory)
    if held:
        raise BuilderError(f"{directory}: still in use after cleanup: {', '.join(held)}",
                           hint="unmount and detach these by hand (umount, losetup -d), then remove the directory")
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def attached(image: Path, read_only: bool = True) -> Iterator[str]:
    """A loop device for `image` with its partitions scanned (/dev/loopNpM), detached on exit."""
    argv = ["losetup", "--find", "--show", "--partscan"]
    if read_only:
        argv.append("--read-only")
    result = run([*argv, str(image)], f"attaching {image}", check=False)
    if result.returncode != 0:
        raise BuilderError(f"{image}: cannot attach a loop device: {result.stderr.strip()}", hint="this needs root")
    loop = result.stdout.strip()
    try:
        # The kernel may not scan partitions of loop devices (sandboxes): partx adds them.
        run(["partx", "-a", loop], f"adding the partitions of {loop}", check=False)
        yield loop
    finally:
        detach(loop)


def partitions(loop: str) -> list[str]:
    base = os.path.basename(loop)
    return sorted((str(p) for p in Path("/dev").glob(f"{base}p*")), key=lambda p: int(p.rsplit("p", 1)[1]))
