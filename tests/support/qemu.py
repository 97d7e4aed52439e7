"""Boot a QEMU guest (TCG, no KVM here) until its kernel prints its command line, then stop it by PID."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .requirements import skip_or_fail

QEMU = "qemu-system-x86_64"
NETBOOT = Path("/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64")
COMMAND_LINE = re.compile(rb"Command line: ([^\r\n]*)[\r\n]")
TIMEOUT = 300  # the CPU is shared and emulated: generous, and never asserted on


def need_qemu() -> None:
    missing = [] if shutil.which(QEMU) else [QEMU]
    missing += [str(p) for p in (NETBOOT / "linux", NETBOOT / "initrd.gz") if not p.exists()]
    if missing:
        skip_or_fail(f"missing for the boot tests: {', '.join(missing)}")


def install_netboot_kernel(root: Path) -> None:
    """Debian's netboot kernel and initrd where the spec's PXE entries look for the installer's."""
    (root / "images" / "pxeboot").mkdir(parents=True, exist_ok=True)
    shutil.copy(NETBOOT / "linux", root / "images" / "pxeboot" / "vmlinuz")
    shutil.copy(NETBOOT / "initrd.gz", root / "images" / "pxeboot" / "initrd.img")


def kernel_command_line(work: Path, *qemu_args: str) -> str:
    """Boot QEMU with `qemu_args`; the guest kernel's command line, as it printed it on ttyS0."""
    serial = work / "serial.log"
    with (work / "qemu.err").open("wb") as errors:
        process = subprocess.Popen([QEMU, "-machine", "accel=tcg", "-m", "1024", "-display", "none", "-monitor", "none",
                                    "-serial", f"file:{serial}", *qemu_args], stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            match = COMMAND_LINE.search(serial.read_bytes()) if serial.exists() else None
            if match:
                return match[1].decode(errors="replace")
            if process.poll() is not None:
                break
            time.sleep(1)
        tail = serial.read_bytes()[-2000:].decode(errors="replace") if serial.exists() else ""
        raise AssertionError(f"no kernel command line on the guest's serial console (qemu exit {process.poll()}):\n{tail}")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
