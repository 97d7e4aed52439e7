#!/usr/bin/env python3
"""qcow2 build and boot, against a plain diskimage-builder image built in the same run.

Baseline: `disk-image-create -a amd64 -t qcow2 vm debian-minimal block-device-mbr`
for the same release and mirror (with -u when our spec does not compress, so
both images are compressed alike). Ours: `builder build examples/debian12-node.yaml
--only qcow2` into a fresh directory. Prints:
  - full build time, ours / plain (target <= 1.10);
  - unchanged-spec rebuild time (target < 5 s);
  - qcow2 size, ours / plain;
  - boot time under the same QEMU settings (TCG, virtio-scsi, user net, no
    config drive): to the login prompt on the serial console for both images
    (the plain image has no sshd), and to the SSH banner for ours.
Needs root and, on a kernel without device-mapper, the test shims
(tests/support/dm_shims.py), which it installs and removes like the tests do.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from builder.bootstrap.plan import plan_for
from builder.qcow2.dib import compose
from builder.qcow2.live import free_port, qemu_argv
from builder.spec import load_all, load_spec
from tests.support.dm_shims import dm_shims
from tests.support.qcow2 import stock_command

ROOT = Path(__file__).resolve().parent.parent

SPEC = ROOT / "examples" / "debian12-node.yaml"
BUILDER = str(Path(sys.executable).parent / "builder")


def timed(argv: list[str], env: dict | None = None, log: Path | None = None) -> float:
    start = time.perf_counter()
    with open(log or os.devnull, "w") as handle:
        subprocess.run(argv, env=env, check=True, stdout=handle, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def plain_build(work: Path) -> tuple[float, Path]:
    run = compose(plan_for(load_all([str(SPEC)])[0], images=True))
    (work / "tmp").mkdir()
    # Compressed like ours (or not), so the sizes compare.
    argv, env = stock_command(work / "plain", work, compress="-u" not in run.options)
    return timed(argv, env, work / "plain.log"), work / "plain.qcow2"


def boot_times(image: Path, work: Path, guest_ssh_port: int | None) -> tuple[float, float | None]:
    """(seconds to `login:` on the serial console, seconds to an SSH banner or None)."""
    run = work / f"boot-{image.stem}"
    run.mkdir()
    overlay = run / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image), str(overlay)], check=True)
    port = free_port()
    console = run / "console.log"
    argv = qemu_argv(overlay, run, port, guest_ssh_port or 22, console)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    login = banner = None
    try:
        deadline = start + 1800
        while time.perf_counter() < deadline and (login is None or (guest_ssh_port and banner is None)):
            if login is None and console.exists() and "login:" in console.read_text(errors="replace"):
                login = time.perf_counter() - start
            if guest_ssh_port and banner is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                        conn.settimeout(5)
                        if conn.recv(16).startswith(b"SSH-"):
                            banner = time.perf_counter() - start
                except OSError:
                    pass
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait()
    if login is None:
        raise RuntimeError(f"{image}: no login prompt; see {console}")
    return login, banner


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (diskimage-builder)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-qcow2-"))
    try:
        with dm_shims():
            plain_seconds, plain = plain_build(work)
            ours_seconds = timed([BUILDER, "build", str(SPEC), "--only", "qcow2", "--out", str(work / "out")], log=work / "ours.log")
            rebuild_seconds = timed([BUILDER, "build", str(SPEC), "--only", "qcow2", "--out", str(work / "out")])
        ours = work / "out" / "debian12-node" / "debian12-node.qcow2"
        plain_login, _ = boot_times(plain, work, None)
        ours_login, ours_banner = boot_times(ours, work, load_spec(SPEC)[0].sshd.port)
        ratio = ours_seconds / plain_seconds
        print(f"full build:  plain DIB {plain_seconds:7.1f} s   ours {ours_seconds:7.1f} s   ratio {ratio:.2f} (target <= 1.10)")
        print(f"rebuild (unchanged spec): {rebuild_seconds:.2f} s (target < 5 s)")
        print(f"qcow2 size:  plain {plain.stat().st_size / 2**20:7.1f} MiB   ours {ours.stat().st_size / 2**20:7.1f} MiB   "
              f"ratio {ours.stat().st_size / plain.stat().st_size:.2f}")
        print(f"boot to login prompt (TCG): plain {plain_login:6.1f} s   ours {ours_login:6.1f} s   ratio {ours_login / plain_login:.2f}")
        print(f"boot to SSH banner (ours; the plain image has no sshd): {ours_banner:.1f} s" if ours_banner
              else "boot to SSH banner (ours): no banner")
    finally:
        subprocess.run(["umount", "-R", str(work)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
