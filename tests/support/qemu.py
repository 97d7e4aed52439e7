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


def boot_console(work: Path, until: re.Pattern[bytes], *qemu_args: str, machine: str = "accel=tcg") -> bytes:
    """Boot QEMU with `qemu_args` until the guest's serial console shows `until` (as text); the console so far."""
    serial = work / "serial.log"
    serial.unlink(missing_ok=True)
    with (work / "qemu.err").open("wb") as errors:
        process = subprocess.Popen([QEMU, "-machine", machine, "-m", "1024", "-display", "none", "-monitor", "none",
                                    "-serial", f"file:{serial}", *qemu_args], stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            console = serial.read_bytes() if serial.exists() else b""
            if until.search(screen_text(console)):
                return console
            if process.poll() is not None:
                break
            time.sleep(1)
        tail = serial.read_bytes()[-2000:].decode(errors="replace") if serial.exists() else ""
        raise AssertionError(f"{until.pattern!r} never came on the guest's serial console (qemu exit {process.poll()}):\n{tail}")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)


def kernel_command_line(work: Path, *qemu_args: str) -> str:
    """Boot QEMU with `qemu_args`; the guest kernel's command line, as it printed it on ttyS0."""
    return COMMAND_LINE.search(screen_text(boot_console(work, COMMAND_LINE, *qemu_args)))[1].decode(errors="replace")


# SeaBIOS draws the 80x25 text screen on the serial port with cursor moves: a line that reaches the last
# column is continued after "ESC[row;80H\r\n\r", and a character may be preceded by a move to its own cell.
# Where that falls depends on how much was printed before (DHCP retries, IPv6 lines): undo both.
_WRAP = re.compile(rb"\x1b\[\d+;80H\r\n\r")
_CURSOR = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def screen_text(console: bytes) -> bytes:
    """The firmware's console as the text it printed: wrapped lines joined, cursor moves and colours removed."""
    return _CURSOR.sub(b"", _WRAP.sub(b"", console))


# With graphics=off, SeaBIOS copies what the BIOS and the boot loaders print (iPXE, pxelinux) to the serial port.
FIRMWARE_ON_SERIAL = "accel=tcg,graphics=off"
NO_BOOTABLE_DEVICE = b"No bootable device"
