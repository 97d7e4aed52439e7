"""The published PXE tree boots in QEMU (TCG, user networking with restrict=on and its TFTP server).

Debian's netboot kernel stands in for the EL installer kernel: what is tested is that
the boot loader found the machine's entry and handed its command line to the kernel.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support.install_spec import MACS, REPO, install_spec, mac_key, run
from support.qemu import install_netboot_kernel, kernel_command_line, need_qemu
from support.requirements import skip_or_fail

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
    root = tmp_path / "tree"
    assert run("publish", install_spec(tmp_path, SERVER), "--to", "pxe", "--root", root).returncode == 0
    configs = sorted(root.glob("grub.cfg*"))
    assert len(configs) == 1 + len(MACS)
    for config in configs:
        result = subprocess.run(["grub-script-check", str(config)], capture_output=True, text=True)
        assert result.returncode == 0, f"{config.name}: {result.stdout}{result.stderr}"
