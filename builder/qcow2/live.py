"""Boot the qcow2 in QEMU and check the baseline from inside the running guest.

The guest boots from a throw-away overlay (the image is never written) 1 GiB larger than the image (a flavor's disk
is larger than the image: the root must grow to it), with
software emulation (KVM is not assumed), user networking restricted to the
host (only the forwarded sshd port reaches it), a config drive like the one
OpenStack attaches (so cloud-init finds its data source at once), and the
serial console in a file. Inside, the QEMU guest agent runs the checks; from
the host, the forwarded port shows the SSH banner and that root is refused.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .. import host
from ..baseline import Baseline
from ..baseline.items import booted_checks as item_booted_checks
from ..baseline.results import failed, passed
from ..baseline.verify import Result
from ..errors import BuilderError
from ..spec import CloudInit
from .dib import SERIAL_CONSOLE
from .guest_agent import GuestAgent

QEMU = "qemu-system-x86_64"

# How much larger than the image the booted guest's disk is.
DISK_GROWTH = 1 << 30


def check_tools() -> None:
    host.require_tools((QEMU, "qemu-img", "xorriso", "ssh", "ssh-keygen"), "booting the qcow2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify_live(baseline: Baseline, image: Path, timeout: float = 1200, console: Path | None = None) -> list[Result]:
    check_tools()
    with booted(baseline, image, timeout, console) as guest:
        return booted_checks(baseline, guest)


class Guest:
    """The booted guest as the booted checks see it (baseline.booted.Guest)."""

    def __init__(self, work: Path, port: int, agent: GuestAgent):
        self.work, self.port, self.agent = work, port, agent

    def shell(self, command: str, timeout: float = 60):
        return self.agent.shell(command, timeout)

    def ssh_banner(self) -> str:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
                conn.settimeout(30)
                return conn.recv(256).decode(errors="replace").strip()
        except OSError as exc:
            return f"({exc})"

    def root_login(self) -> tuple[int, str]:
        key = self.work / "throwaway"
        if not key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
        attempt = host.run(
            ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=30", "-o", "IdentitiesOnly=yes", "-i", str(key), "-p", str(self.port), "root@127.0.0.1", "true"],
            "ssh as root", timeout=120, check=False)
        return attempt.returncode, attempt.stderr


@contextlib.contextmanager
def booted(baseline: Baseline, image: Path, timeout: float, console: Path | None,
           grow_by: int = DISK_GROWTH) -> Iterator[Guest]:
    """The image booted from an overlay `grow_by` bytes larger than it, its guest agent answering."""
    work = Path(tempfile.mkdtemp(prefix="builder-boot-"))
    agent = GuestAgent(work / "qga.sock")
    try:
        overlay = work / "overlay.qcow2"
        _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.resolve()), str(overlay)])
        if grow_by:
            _run(["qemu-img", "resize", "-q", str(overlay), f"+{grow_by}"])
        port = free_port()
        argv = qemu_argv(overlay, work, port, baseline.spec.sshd.port, console or work / "console.log")
        if baseline.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
            argv += ["-drive", f"file={config_drive(baseline, work)},if=ide,media=cdrom,readonly=on,format=raw"]
        # QEMU is stopped when the block ends (SIGTERM, SIGKILL after 20 s), or with the build on Ctrl-C or SIGTERM.
        with host.background(argv, "booting the qcow2", stderr=work / "qemu.err", patience=20) as proc:
            deadline = time.monotonic() + timeout
            with host.step(f"verify {image}: booting it in QEMU (software emulation: minutes)"):
                agent.wait(deadline, lambda: proc.poll() is None)
                settle = agent.run(["/bin/systemctl", "is-system-running", "--wait"], timeout=max(30, deadline - time.monotonic()))
            if settle.out.strip() not in ("running", "degraded"):
                raise BuilderError(f"the guest did not finish booting: systemctl is-system-running says {settle.out.strip()!r}")
            yield Guest(work, port, agent)
    except BuilderError as exc:
        log = console or work / "console.log"
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:]) if log.exists() else ""
        raise BuilderError(f"{exc.args[0]}\n--- serial console (last lines) ---\n{tail}", hint=exc.hint) from None
    finally:
        agent.close()
        shutil.rmtree(work, ignore_errors=True)


def qemu_argv(disk: Path, work: Path, host_port: int, guest_port: int, console: Path) -> list[str]:
    # The disk and NIC models match the properties builder publish gives Glance (virtio-scsi, virtio).
    return [
        QEMU, "-machine", "q35,accel=tcg", "-cpu", "max", "-smp", "2", "-m", "1536",
        "-nodefaults", "-display", "none", "-no-user-config",
        "-serial", f"file:{console}",
        "-device", "virtio-scsi-pci,id=scsi0",
        "-drive", f"file={disk},if=none,id=disk0,format=qcow2,cache=unsafe",
        "-device", "scsi-hd,drive=disk0,bus=scsi0.0,bootindex=0",
        "-nic", f"user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}",
        "-chardev", f"socket,path={work / 'qga.sock'},server=on,wait=off,id=qga0",
        "-device", "virtio-serial-pci",
        "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    ]


def config_drive(baseline: Baseline, work: Path) -> Path:
    """An OpenStack config drive (ISO labelled config-2) with the instance's metadata and no keys."""
    root = work / "config-drive" / "openstack" / "latest"
    root.mkdir(parents=True)
    name = baseline.spec.hostname or baseline.spec.name
    (root / "meta_data.json").write_text(json.dumps({"uuid": str(uuid.uuid4()), "name": baseline.spec.name, "hostname": name}))
    iso = work / "config-drive.iso"
    _run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "config-2", "-J", "-R", "-o", str(iso), str(work / "config-drive")])
    return iso


def _run(argv: list[str]) -> None:
    host.run(argv, argv[0])


# ------------------------------------------------------------------ the booted checks


def booted_checks(baseline: Baseline, guest: Guest) -> list[Result]:
    """Every item's booted check (the item table's), in the table's order, then the image's own."""
    return [*(result for _, check in item_booted_checks() for result in check(baseline, guest)), serial_console(guest)]


def serial_console(guest: Guest) -> Result:
    """The kernel writes to the serial console (the console log a cloud shows), as builder asked DIB."""
    wanted = f"console={SERIAL_CONSOLE}"
    cmdline = guest.shell("cat /proc/cmdline").out.split()
    return (passed("serial-console", f"{wanted} on the running kernel's command line") if wanted in cmdline
            else failed("serial-console", f"{wanted} is not on /proc/cmdline: {' '.join(cmdline)}"))
