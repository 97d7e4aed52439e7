"""The qcow2 for real: diskimage-builder builds the Debian 12 example, builder verify checks it
mounted read-only and booted in QEMU, a failed or interrupted build leaves nothing behind."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.debootstrap import cache_dir
from support.dm_shims import dm_shims
from support.qcow2 import BUILDER, EXAMPLE, build_cached, why_not_dib, why_not_qemu
from support.requirements import skip_or_fail

from builder import host
from builder.qcow2 import blockdev

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def debian12_qcow2() -> Path:
    """The example's image: built by DIB the first time (minutes), reused by builder afterwards."""
    reason = why_not_dib()
    if reason:
        skip_or_fail(reason)
    return build_cached(log=cache_dir() / "qcow2-out.last-build.log")


def run_builder(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([BUILDER, *args], capture_output=True, text=True, **kwargs)


def results_of(proc: subprocess.CompletedProcess) -> dict[str, list[tuple[str, str]]]:
    data = json.loads(proc.stdout)
    by_item: dict[str, list[tuple[str, str]]] = {}
    for r in data["results"]:
        by_item.setdefault(r["item"], []).append((r["status"], r["detail"]))
    return by_item


def test_build_is_recorded_beside_its_log_and_reused(debian12_qcow2):
    directory = debian12_qcow2.parent
    manifest = json.loads((directory / "manifest.json").read_text())
    record = manifest["artifacts"]["qcow2"]
    assert record["path"] == debian12_qcow2.name and len(record["cache_key"]) == 64
    assert (directory / f"{debian12_qcow2.name}.log").stat().st_size > 0
    assert not list(directory.glob(".qcow2-build.*"))
    before = debian12_qcow2.stat()
    again = run_builder("build", str(EXAMPLE), "--only", "qcow2", "--out", str(directory.parent))
    assert again.returncode == 0, again.stderr
    assert "reusing" in again.stderr
    after = debian12_qcow2.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_qemu_img_sees_a_qcow2(debian12_qcow2):
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(debian12_qcow2)],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["format"] == "qcow2" and info["format-specific"]["data"]["compat"] == "1.1"


def test_verify_offline_and_booted(debian12_qcow2, tmp_path):
    reason = why_not_qemu()
    if reason:
        skip_or_fail(reason)
    console = tmp_path / "console.log"
    proc = run_builder("verify", str(EXAMPLE), "--qcow2", str(debian12_qcow2), "--json", "--console", str(console))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = results_of(proc)
    assert all(status != "fail" for items in results.values() for status, _ in items)
    # offline, in the image
    assert ("pass", "net.ifnames=0 in GRUB_CMDLINE_LINUX(_DEFAULT) in /etc/default/grub") in results["kernel-args"]
    assert any(s == "pass" and "machine-id" in d for s, d in results["seal"])
    # in the booted guest
    assert ("pass", "eth0 exists") in results["network (booted)"]
    sshd = [d for s, d in results["sshd (booted)"] if s == "pass"]
    assert "listening on port 2222" in sshd
    # booted on a disk 1 GiB larger than the image: the root grew to it; the serial console is on
    assert any(s == "pass" and "fills its disk" in d for s, d in results["growroot (booted)"]), results["growroot (booted)"]
    assert ("pass", "console=ttyS0,115200 on the running kernel's command line") in results["serial-console (booted)"]
    assert "sshd -T: permitrootlogin no" in sshd
    assert "root login refused from the host (permission denied)" in sshd
    assert any(d.startswith("from the host: SSH-2.0-") for d in sshd)
    assert ("pass", "net.ipv4.tcp_tw_reuse = 1") in results["sysctls (booted)"]
    assert ("pass", "sshd runs with nofile 65536") in results["limits (booted)"]
    assert ("pass", "ssh.service is enabled and active") in results["services (booted)"]
    assert ("pass", "firewalld.service is enabled and active") in results["services (booted)"]
    assert results["cloud-init (booted)"][0][0] == "pass"
    # Its packages are the newest the spec's repositories offer (read from them by verify).
    assert results["packages (current)"][0][0] == "pass", results["packages (current)"]
    assert "login:" in console.read_text(errors="replace")


def test_verify_fails_when_the_image_is_not_the_spec(debian12_qcow2, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(EXAMPLE.read_text().replace("net.core.somaxconn: 4096", "net.core.somaxconn: 8192")
                     .replace("nofile: 65536", "nofile: 32768"))
    proc = run_builder("verify", str(other), "--qcow2", str(debian12_qcow2), "--json", "--no-boot")
    assert proc.returncode == 1, proc.stderr
    failed = {r["item"] for r in json.loads(proc.stdout)["results"] if r["status"] == "fail"}
    assert {"sysctls", "limits"} <= failed


def _leftovers(out: Path) -> dict:
    return {"mounts": host.mounts_under(out), "loops": blockdev.loops_under(out),
            "images": [str(p) for p in out.rglob("*.qcow2")] + [str(p) for p in out.rglob("*.raw")],
            "build dirs": [str(p) for p in out.rglob(".qcow2-build.*")]}


def _broken_element(root: Path, phase: str, body: str) -> Path:
    element = root / "broken-element"
    (element / phase).mkdir(parents=True)
    (element / "README.rst").write_text("==============\nbroken-element\n==============\nFails on purpose (tests).\n")
    script = element / phase / "50-broken"
    script.write_text(f"#!/bin/bash\nset -eu\nset -o pipefail\n{body}\n")
    script.chmod(0o755)
    return root


def test_failed_build_leaves_no_mounts_loops_or_image(tmp_path):
    """The element fails in finalise.d: the image is partitioned, attached and mounted at that point."""
    reason = why_not_dib()
    if reason:
        skip_or_fail(reason)
    elements = _broken_element(tmp_path / "elements", "finalise.d", "echo 'broken on purpose' >&2\nexit 3")
    out = tmp_path / "out"
    with dm_shims():
        proc = run_builder("build", str(EXAMPLE), "--only", "qcow2", "--out", str(out),
                           "--element", "broken-element", "--elements-path", str(elements))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "disk-image-create failed" in proc.stderr
    assert _leftovers(out) == {"mounts": [], "loops": [], "images": [], "build dirs": []}
    log = out / "debian12-node" / "debian12-node.qcow2.log"
    assert "broken on purpose" in log.read_text()
    assert not (out / "debian12-node" / "manifest.json").exists()


def test_interrupted_build_leaves_no_mounts_loops_or_image(tmp_path):
    """Ctrl-C while the chroot is mounted (install.d): DIB's whole process group is stopped, then released."""
    reason = why_not_dib()
    if reason:
        skip_or_fail(reason)
    elements = _broken_element(tmp_path / "elements", "install.d", "sleep 600")
    out = tmp_path / "out"
    with dm_shims():
        proc = subprocess.Popen([BUILDER, "build", str(EXAMPLE), "--only", "qcow2", "--out", str(out),
                                 "--element", "broken-element", "--elements-path", str(elements)],
                                stderr=subprocess.PIPE, text=True,
                                # A background shell starts us with SIGINT ignored; a terminal's Ctrl-C is not.
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        seen = []
        try:
            for line in proc.stderr:
                seen.append(line)
                if line.strip().endswith(": install.d"):
                    break
            deadline = time.monotonic() + 300
            log = out / "debian12-node" / "debian12-node.qcow2.log"
            while "50-broken" not in log.read_text(errors="replace") and time.monotonic() < deadline:
                time.sleep(2)
            assert host.mounts_under(out), "the chroot should be mounted while the element sleeps"
            proc.send_signal(signal.SIGINT)
            rest = proc.communicate(timeout=300)[1]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, "".join(seen) + rest
    assert _leftovers(out) == {"mounts": [], "loops": [], "images": [], "build dirs": []}


def test_dry_run_runs_nothing(tmp_path):
    out = tmp_path / "out"
    proc = run_builder("build", str(EXAMPLE), "--only", "qcow2", "--out", str(out), "--dry-run")
    assert proc.returncode == 0 and "disk-image-create" in proc.stdout
    assert not out.exists()


def test_shims_are_test_only():
    """The product never ships or installs the kpartx/dmsetup stand-ins."""
    root = Path(__file__).resolve().parent.parent
    for path in (root / "builder").rglob("*.py"):
        assert "dm-shims" not in path.read_text() and "dm_shims" not in path.read_text()
    elements = list((root / "builder" / "resources" / "elements").rglob("*"))
    assert elements
    for path in elements:
        assert not path.is_file() or "kpartx" not in path.read_text(errors="replace")


# What the qcow2 has beyond the container: what booting a VM needs, each package with the role that pulls it in.
# Written from what an OpenStack guest needs (kernel, initramfs, bootloader, init, DHCP networking, cloud-init, the
# guest agent), plus what DIB's own image build runs in the chroot (builder-root-debian: sudo, gnupg, python3).
BOOT_ROLES = {
    "linux-image-amd64": "kernel", "initramfs-tools": "initramfs", "busybox": "initramfs",
    "grub-pc": "bootloader", "grub-pc-bin": "bootloader", "grub-efi-amd64": "bootloader", "grub2-common": "bootloader",
    "systemd-sysv": "init", "ifupdown": "networking at boot", "isc-dhcp-client": "networking at boot",
    "netbase": "networking at boot", "cloud-init": "cloud-init", "qemu-guest-agent": "guest agent",
    "sudo": "DIB's image build", "gnupg2": "DIB's image build", "python3": "DIB's image build",
    "rsync": "DIB's image build (install-static copies the elements' files)",
    "cloud-guest-utils": "root growth (builder-growroot's growpart)", "dracut": "initramfs",
}


def dpkg_stanzas(text: str) -> dict[str, dict[str, str]]:
    packages = {}
    for stanza in text.split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line[:1] in " \t" and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith("ok installed"):
            packages[fields["Package"]] = fields
    return packages


def pulled_in_by(packages: dict[str, dict[str, str]], roots: dict[str, str]) -> dict[str, str]:
    """Each package reachable from a root through Pre-Depends, Depends and Recommends (alternatives and virtual names
    included): the root's role and the root."""
    provides = {}
    for name, fields in packages.items():
        for virtual in fields.get("Provides", "").split(","):
            if virtual.strip():
                provides.setdefault(virtual.split()[0].split(":")[0], []).append(name)
    reached: dict[str, str] = {}
    for root, role in roots.items():
        queue = [root] if root in packages else []
        while queue:
            name = queue.pop()
            if name in reached:
                continue
            reached[name] = f"{role} ({root})"
            for field in ("Pre-Depends", "Depends", "Recommends"):
                for clause in packages[name].get(field, "").split(","):
                    for alternative in clause.split("|"):
                        dep = alternative.strip().split(" ")[0].split(":")[0]
                        queue += [n for n in [dep, *provides.get(dep, [])] if n in packages and n not in reached]
    return reached


def test_the_container_and_the_qcow2_share_every_package_version(debian12_qcow2, tmp_path):
    """One spec, one package set: the container of the same spec and base-tree cache carries the same version of
    every package it shares with the qcow2; the qcow2 adds only what booting needs, the container leaves out nothing
    (its image definition strips files, not packages). The differences are printed, each explained."""
    from support.oci import image_file

    from builder.qcow2.offline import mounted_root

    proc = run_builder("build", str(EXAMPLE), "--only", "container", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    container = dpkg_stanzas(image_file(tmp_path / "out/debian12-node/container/oci", "/var/lib/dpkg/status").decode())
    with mounted_root(debian12_qcow2) as root:
        qcow2 = dpkg_stanzas((root / "var/lib/dpkg/status").read_text())
    differ = {n: (container[n]["Version"], qcow2[n]["Version"]) for n in container.keys() & qcow2.keys()
              if container[n]["Version"] != qcow2[n]["Version"]}
    # And the baseline's packages for the items that do not apply in a container (sshd, firewall, time sync).
    from builder.baseline import Baseline
    from builder.spec import load_spec

    spec = load_spec(EXAMPLE)[0]
    vm_only = set(Baseline(spec, context="qcow2").packages) - set(Baseline(spec, context="container").packages)
    explained = pulled_in_by(qcow2, {**BOOT_ROLES, **dict.fromkeys(sorted(vm_only), "a baseline item a container has not")})
    extra = sorted(qcow2.keys() - container.keys())
    print(f"{len(container)} packages in the container, {len(qcow2)} in the qcow2, {len(differ)} shared with another version")
    for name in extra:
        print(f"  qcow2 only: {name} {qcow2[name]['Version']}: {explained.get(name, 'NOT EXPLAINED')}")
    assert not differ, f"shared packages with other versions (container, qcow2): {differ}"
    assert not container.keys() - qcow2.keys(), f"in the container only: {sorted(container.keys() - qcow2.keys())}"
    assert not [n for n in extra if n not in explained], [n for n in extra if n not in explained]


GIB = 1 << 30


def ext_fs_bytes(dumpe2fs_header: str) -> int:
    """An ext2/3/4 file system's own size: its block count times its block size (statfs, what df shows, leaves
    out its metadata, which grows with it)."""
    fields = dict(line.split(":", 1) for line in dumpe2fs_header.splitlines() if ":" in line)
    return int(fields["Block count"]) * int(fields["Block size"])


def test_the_root_grows_to_a_disk_2_gib_larger_on_first_boot(debian12_qcow2, tmp_path):
    """As on a flavor with a larger disk: the image boots from an overlay 2 GiB larger than it (the image itself is
    never written), and its root file system is at least 1.9 GiB larger than in the image."""
    reason = why_not_qemu()
    if reason:
        skip_or_fail(reason)
    from builder.baseline import Baseline
    from builder.baseline.items import growroot
    from builder.qcow2.live import booted
    from builder.qcow2.offline import mounted_root
    from builder.spec import load_spec

    with mounted_root(debian12_qcow2) as root:
        source = subprocess.run(["findmnt", "-no", "SOURCE", str(root)], capture_output=True, text=True, check=True)
        header = subprocess.run(["dumpe2fs", "-h", source.stdout.strip()], capture_output=True, text=True, check=True)
    in_image = ext_fs_bytes(header.stdout)
    baseline = Baseline(load_spec(EXAMPLE)[0])
    with booted(baseline, debian12_qcow2, timeout=1800, console=tmp_path / "console.log", grow_by=2 * GIB) as guest:
        disk = int(guest.shell("lsblk -bdno SIZE /dev/sda").out)
        booted_fs = ext_fs_bytes(guest.shell("dumpe2fs -h \"$(findmnt -no SOURCE /)\"").out)
        unit = guest.shell("systemctl is-active builder-growroot.service").out.strip()
        journal = guest.shell("journalctl -b -u builder-growroot.service --no-pager").out
        check = list(growroot.booted(baseline, guest))
    print(f"root file system: {in_image / GIB:.2f} GiB in the image, {booted_fs / GIB:.2f} GiB booted on a "
          f"{disk / GIB:.2f} GiB disk")
    assert unit == "active", journal
    assert booted_fs - in_image >= 1.9 * GIB, journal
    assert [r.status.value for r in check] == ["pass"], check
