"""Boot the qcow2 in QEMU and check the baseline from inside the running guest.

The guest boots from a throw-away overlay (the image is never written), with
software emulation (KVM is not assumed), user networking restricted to the
host (only the forwarded sshd port reaches it), a config drive like the one
OpenStack attaches (so cloud-init finds its data source at once), and the
serial console in a file. Inside, the QEMU guest agent runs the checks; from
the host, the forwarded port shows the SSH banner and that root is refused.
"""
from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .. import host
from ..baseline import Baseline
from ..baseline.results import failed, not_applicable, passed
from ..baseline.verify import Result
from ..errors import BuilderError
from ..spec import CloudInit
from .guest_agent import GuestAgent

QEMU = "qemu-system-x86_64"


def check_tools() -> None:
    host.require_tools((QEMU, "qemu-img", "xorriso", "ssh", "ssh-keygen"), "booting the qcow2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify_live(baseline: Baseline, image: Path, timeout: float = 1200, console: Path | None = None) -> list[Result]:
    check_tools()
    with booted(baseline, image, timeout, console) as guest:
        return guest_checks(baseline, guest.agent) + host_checks(baseline, guest.port, guest.work)


class Guest:
    def __init__(self, work: Path, port: int, agent: GuestAgent):
        self.work, self.port, self.agent = work, port, agent


@contextlib.contextmanager
def booted(baseline: Baseline, image: Path, timeout: float, console: Path | None) -> Iterator[Guest]:
    work = Path(tempfile.mkdtemp(prefix="builder-boot-"))
    proc = None
    agent = GuestAgent(work / "qga.sock")
    try:
        overlay = work / "overlay.qcow2"
        _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.resolve()), str(overlay)])
        port = free_port()
        argv = qemu_argv(overlay, work, port, baseline.spec.sshd.port, console or work / "console.log")
        if baseline.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
            argv += ["-drive", f"file={config_drive(baseline, work)},if=ide,media=cdrom,readonly=on,format=raw"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(work / "qemu.err", "w"))
        deadline = time.monotonic() + timeout
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
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
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


# ------------------------------------------------------------------ checks in the guest


def guest_checks(b: Baseline, agent: GuestAgent) -> list[Result]:
    results: list[Result] = []
    sh = agent.shell

    if b.spec.network.classic_names:
        link = sh("ip -o link show eth0")
        results.append(passed("network", "eth0 exists") if link.code == 0 else failed("network", "no eth0 in the guest"))
        address = sh("ip -o -4 addr show dev eth0").out.split()
        results.append(passed("network", f"eth0 has {address[3]} (DHCP)") if len(address) > 3
                       else failed("network", "eth0 has no IPv4 address"))
    else:
        results.append(not_applicable("network", "classic_names is off: interface names are the kernel's"))

    cmdline = sh("cat /proc/cmdline").out.split()
    for arg in b.kernel_args:
        results.append(passed("kernel-args", f"{arg} on the running kernel's command line") if arg in cmdline
                       else failed("kernel-args", f"{arg} is not on /proc/cmdline"))

    if b.spec.sshd.enabled:
        port = b.spec.sshd.port
        listening = sh("ss -ltnH").out
        on_port = any(line.split()[3].rsplit(":", 1)[-1] == str(port) for line in listening.splitlines() if len(line.split()) > 3)
        results.append(passed("sshd", f"listening on port {port}") if on_port else failed("sshd", f"nothing listens on port {port}"))
        effective = dict(line.split(" ", 1) for line in sh("sshd -T").out.splitlines() if " " in line)
        for key, value in b.sshd_settings:
            got = effective.get(key.lower())
            results.append(passed("sshd", f"sshd -T: {key.lower()} {got}") if got == value.lower()
                           else failed("sshd", f"sshd -T: {key.lower()} is {got!r}, expected {value.lower()!r}"))
    else:
        results.append(not_applicable("sshd", "sshd is disabled in the spec"))

    for key, value in b.spec.sysctls.items():
        got = " ".join(sh(f"sysctl -n {shlex.quote(key)}").out.split())
        results.append(passed("sysctls", f"{key} = {got}") if got == " ".join(str(value).split())
                       else failed("sysctls", f"{key} is {got!r} in the running kernel, expected {value}"))

    nofile = str(b.spec.limits.nofile)
    default = sh("systemctl show -p DefaultLimitNOFILE --value").out.strip()
    results.append(passed("limits", f"systemd DefaultLimitNOFILE={default}") if default == nofile
                   else failed("limits", f"systemd DefaultLimitNOFILE is {default!r}, expected {nofile}"))
    if b.spec.sshd.enabled:
        limits = sh(f"cat /proc/$(systemctl show -p MainPID --value {shlex.quote(b.paths.sshd_unit)})/limits").out
        soft = next((line.split()[3] for line in limits.splitlines() if line.startswith("Max open files")), None)
        results.append(passed("limits", f"sshd runs with nofile {soft}") if soft == nofile
                       else failed("limits", f"sshd runs with nofile {soft!r}, expected {nofile}"))

    for unit in b.services_enabled:
        state = sh(f"systemctl is-enabled {shlex.quote(unit)}; systemctl is-active {shlex.quote(unit)}").out.split()
        results.append(passed("services", f"{unit} is enabled and active") if state[:2] == ["enabled", "active"]
                       else failed("services", f"{unit} is {'/'.join(state) or 'unknown'}, expected enabled/active"))
    for unit in b.services_disabled:
        state = sh(f"systemctl is-enabled {shlex.quote(unit)}; systemctl is-active {shlex.quote(unit)}").out.split()
        bad = state[:1] == ["enabled"] or "active" in state[1:2]
        results.append(failed("services", f"{unit} is {'/'.join(state)}, expected disabled") if bad
                       else passed("services", f"{unit} is {'/'.join(state) or 'absent'}"))

    machine_id = sh("cat /etc/machine-id").out.strip()
    keys = sh("ls /etc/ssh/").out.split()
    results.append(passed("seal", f"machine-id generated on first boot ({len(machine_id)} hex digits)") if len(machine_id) == 32
                   else failed("seal", f"/etc/machine-id is {machine_id!r} after boot"))
    if b.spec.sshd.enabled:
        results.append(passed("seal", "SSH host keys generated on first boot") if any(k.endswith("_key") for k in keys)
                       else failed("seal", "no SSH host keys in the booted guest"))
    if b.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
        status = sh("cloud-init status --wait --long", timeout=300)
        ok = status.code == 0 and "ConfigDrive" in status.out
        results.append(passed("cloud-init", "done, data source ConfigDrive (OpenStack config drive)") if ok
                       else failed("cloud-init", " ".join(status.out.split())[:300] or f"exit {status.code}"))
    else:
        present = sh("command -v cloud-init").code == 0
        results.append(failed("cloud-init", "cloud-init is installed but the spec says none") if present
                       else passed("cloud-init", "not installed (the spec says none)"))
    return results


# ------------------------------------------------------------------ checks from the host


def host_checks(b: Baseline, port: int, work: Path) -> list[Result]:
    if not b.spec.sshd.enabled:
        return [not_applicable("sshd", "sshd is disabled in the spec")]
    results = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.settimeout(30)
            banner = conn.recv(256).decode(errors="replace").strip()
    except OSError as exc:
        banner = f"({exc})"
    results.append(passed("sshd", f"from the host: {banner.splitlines()[0] if banner else ''}") if banner.startswith("SSH-2.0-")
                   else failed("sshd", f"no SSH banner on the forwarded port: {banner!r}"))
    key = work / "throwaway"
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    attempt = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=30", "-o", "IdentitiesOnly=yes", "-i", str(key), "-p", str(port), "root@127.0.0.1", "true"],
        capture_output=True, text=True, check=False, timeout=120)
    refused = attempt.returncode == 255 and "Permission denied" in attempt.stderr
    wants_refused = b.sshd_settings[1][1] == "no"
    if wants_refused:
        results.append(passed("sshd", "root login refused from the host (permission denied)") if refused
                       else failed("sshd", f"root login was not refused: exit {attempt.returncode}: {attempt.stderr.strip()[:200]}"))
    return results
