"""The published PXE tree boots in QEMU (TCG, user networking with restrict=on and its TFTP server).

Debian's netboot kernel stands in for the EL installer kernel: what is tested is that
the boot loader found the machine's entry and handed its command line to the kernel.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.install_spec import MACS, REPO, install_spec, mac_key, run
from support.qemu import (
    COMMAND_LINE,
    FIRMWARE_ON_SERIAL,
    NO_BOOTABLE_DEVICE,
    boot_console,
    install_netboot_kernel,
    kernel_command_line,
    need_qemu,
    screen_text,
)
from support.requirements import skip_or_fail
from support.serve import free_port, machine_states, report_token, serving

SERVER = "http://10.0.2.2:8080"


def published_tree(tmp_path):
    need_qemu()
    root = tmp_path / "tree"
    result = run("publish", install_spec(tmp_path, SERVER), "--to", "pxe", "--root", root, "--with-pxelinux")
    assert result.returncode == 0, result.stderr
    install_netboot_kernel(root)
    return root


def assert_installer_args(args: list[str], machine: int) -> None:
    assert f"inst.ks={SERVER}/ks/{mac_key(MACS[machine])}.cfg" in args
    assert f"inst.repo={REPO}" in args
    assert "net.ifnames=0" in args and "biosdevname=0" in args
    assert "console=ttyS0" in args


@pytest.mark.slow
def test_bios_pxelinux_boots_the_machines_entry(tmp_path):
    root = published_tree(tmp_path)
    line = kernel_command_line(tmp_path, "-boot", "n", "-nic", f"user,restrict=on,tftp={root},bootfile=pxelinux.0,mac={MACS[0]}")
    args = line.split()
    assert_installer_args(args, 0)
    assert "initrd=images/pxeboot/initrd.img" in args
    assert "ip=10.0.0.11::10.0.0.1:255.255.255.0:node01.example.com:eth0:none" in args


@pytest.mark.slow
def test_ipxe_script_chooses_the_entry_by_mac(tmp_path):
    root = published_tree(tmp_path)
    line = kernel_command_line(tmp_path, "-boot", "n", "-nic", f"user,restrict=on,tftp={root},bootfile=boot.ipxe,mac={MACS[1]}")
    args = line.split()
    assert_installer_args(args, 1)
    assert "vlan=eth0.20:eth0" in args and "ip=10.20.0.12:::255.255.255.0:node02.example.com:eth0.20:none" in args


OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
GRUB_EFI_MODULES = Path("/usr/lib/grub/x86_64-efi")


@pytest.mark.slow
def test_uefi_grub_reads_the_machines_own_config(tmp_path):
    """OVMF network-boots a GRUB EFI image whose prefix is the TFTP root, like an EL grubx64.efi in its directory."""
    missing = [str(p) for p in (OVMF_CODE, OVMF_VARS, GRUB_EFI_MODULES / "efinet.mod") if not p.exists()]
    missing += [] if shutil.which("grub-mkimage") else ["grub-mkimage"]
    if missing:
        skip_or_fail(f"missing for the UEFI boot test: {', '.join(missing)}")
    root = published_tree(tmp_path)
    subprocess.run(["grub-mkimage", "-O", "x86_64-efi", "-d", str(GRUB_EFI_MODULES), "-o", str(root / "bootx64.efi"), "-p", "(tftp)",
                    "efinet", "tftp", "net", "linux", "normal", "configfile", "echo"], check=True, capture_output=True)
    variables = tmp_path / "OVMF_VARS.fd"
    shutil.copy(OVMF_VARS, variables)
    line = kernel_command_line(tmp_path, "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                               "-drive", f"if=pflash,format=raw,file={variables}", "-boot", "n",
                               "-nic", f"user,restrict=on,tftp={root},bootfile=bootx64.efi,mac={MACS[1]}")
    args = line.split()
    assert_installer_args(args, 1)  # grub.cfg-01-<mac>, not grub.cfg's first (default) entry
    assert args[0] == "BOOT_IMAGE=/images/pxeboot/vmlinuz"


@pytest.mark.slow
def test_grub_configs_pass_grubs_own_parser(tmp_path):
    if shutil.which("grub-script-check") is None:
        skip_or_fail("grub-script-check (grub-common) is not installed")
    from builder.install.pxe import local_boot_entries
    from builder.install.pxe_state import Report, record_reports
    from builder.spec import load_spec

    root = tmp_path / "tree"
    spec = install_spec(tmp_path, SERVER)
    assert run("publish", spec, "--to", "pxe", "--root", root).returncode == 0
    key = mac_key(MACS[0])
    _, installed = local_boot_entries(load_spec(spec)[0], spec)[key]
    report = Report(key, report_token(root, key), "192.0.2.1")  # a machine's local-boot config too
    assert [o.status for o in record_reports(root, [report], {key: installed}, "2026-12-07T00:00:00+00:00")] == [200]
    configs = sorted(root.glob("grub.cfg*"))
    assert len(configs) == 1 + len(MACS) and b"exit" in (root / f"grub.cfg-01-{mac_key(MACS[0])}").read_bytes()
    for config in configs:
        result = subprocess.run(["grub-script-check", str(config)], capture_output=True, text=True)
        assert result.returncode == 0, f"{config.name}: {result.stdout}{result.stderr}"


def done_command(kickstart: str) -> str:
    """The command the machine's last %post runs to report its install complete."""
    body = re.findall(r"^%post [^\n]*ks-installed\.log[^\n]*\n(.*?)^%end$", kickstart, re.M | re.S)
    (command,) = [line for line in body[-1].splitlines() if not line.startswith("#")]
    return command


@pytest.mark.slow
@pytest.mark.parametrize("bootfile", ["pxelinux.0", "boot.ipxe"])
def test_a_machine_is_installed_once_and_an_unknown_one_never(tmp_path, bootfile):
    """First boot: the machine's install entry; then its %post report to `builder serve`; next boot: the local disk."""
    need_qemu()
    port = free_port()
    server_url = f"http://127.0.0.1:{port}"
    spec = install_spec(tmp_path, server_url)
    root = tmp_path / "tree"
    assert run("publish", spec, "--to", "pxe", "--root", root, "--with-pxelinux").returncode == 0
    install_netboot_kernel(root)
    key = mac_key(MACS[0])
    nic = f"user,restrict=on,tftp={root},bootfile={bootfile},mac="
    until = re.compile(COMMAND_LINE.pattern + b"|" + NO_BOOTABLE_DEVICE)
    with serving(spec, root, tmp_path / "serve.log", port) as server:
        first = boot_console(tmp_path, until, "-boot", "n", "-nic", nic + MACS[0], machine=FIRMWARE_ON_SERIAL)
        assert f"inst.ks={server_url}/ks/{key}.cfg".encode() in first and NO_BOOTABLE_DEVICE not in screen_text(first)
        command = done_command((root / f"ks/{key}.cfg").read_text())
        assert command.endswith(f" -X POST -H 'Authorization: Bearer {report_token(root, key)}' {server_url}/done/{key}")
        report = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
        assert report.returncode == 0, report.stderr
        assert report.stdout == "node01.example.com is installed: its PXE entries now boot the local disk\n"
        assert machine_states(root)[key]["armed"] is False and f"POST /done/{key} -> 200" in server.log.read_text()
        again = boot_console(tmp_path, until, "-boot", "n", "-nic", nic + MACS[0], machine=FIRMWARE_ON_SERIAL)
        again = screen_text(again)
        assert b"node01.example.com is installed" in again and b"from local disk" in again
        assert not COMMAND_LINE.search(again) and NO_BOOTABLE_DEVICE in again
        unknown = boot_console(tmp_path, until, "-boot", "n", "-nic", nic + "52:54:00:99:99:99", machine=FIRMWARE_ON_SERIAL)
        unknown = screen_text(unknown)
        assert b"Not a listed machine" in unknown and b"from local disk" in unknown
        assert not COMMAND_LINE.search(unknown) and NO_BOOTABLE_DEVICE in unknown


def test_screen_text_joins_what_the_firmware_wrapped():
    """A console captured in CI: SeaBIOS wrapped the message at column 80 and moved the cursor inside a word."""
    raw = (b"node01.example.com is installed: booting the local disk (re-arm with: builder pu\x1b[25;80H\r\n"
           b"\rblish SPEC --to pxe --root DIR --rearm 52:54:00:12:34:56)\r\n\rBooting from\x1b[25;12H\x1b[25;13H local disk...\r\n")
    text = screen_text(raw)
    assert b"(re-arm with: builder publish SPEC --to pxe" in text and b"Booting from local disk..." in text
    assert b"from local disk" not in raw  # what the assertion on the raw console missed
