"""A small installer boot ISO shaped like an EL boot.iso, for the remastering tests.

isolinux (BIOS) and GRUB (EFI/BOOT/grub.cfg, and a copy inside images/efiboot.img)
boot Debian's netboot kernel, which stands in for the EL installer kernel.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NETBOOT = Path("/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64")
ISOLINUX = Path("/usr/lib/ISOLINUX")
LDLINUX = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")
VOLID = "EL-9-x86_64-boot"
TOOLS = ("xorriso", "mkfs.vfat", "mmd", "mcopy")

ISOLINUX_CFG = f"""default linux
prompt 0
timeout 0

label linux
  menu label ^Install
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL={VOLID}

label check
  menu label Test this media and install
  kernel vmlinuz
  append initrd=initrd.img inst.stage2=hd:LABEL={VOLID} rd.live.check quiet
"""

GRUB_CFG = f"""set default="0"
set timeout=60
search --no-floppy --set=root -l '{VOLID}'

menuentry 'Install' --class fedora --class gnu-linux --class gnu --class os {{
	linux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL={VOLID} quiet
	initrd /images/pxeboot/initrd.img
}}
"""


def why_not_installer_iso() -> str | None:
    missing = [t for t in TOOLS if shutil.which(t) is None and shutil.which(t, path="/usr/sbin:/sbin") is None]
    missing += [str(p) for p in (NETBOOT / "linux", NETBOOT / "initrd.gz", ISOLINUX / "isolinux.bin", LDLINUX) if not p.exists()]
    return f"missing for the installer ISO fixture: {', '.join(missing)}" if missing else None


def make_installer_iso(work: Path) -> Path:
    tree = work / "tree"
    (tree / "isolinux").mkdir(parents=True)
    (tree / "images" / "pxeboot").mkdir(parents=True)
    (tree / "EFI" / "BOOT").mkdir(parents=True)
    shutil.copy(ISOLINUX / "isolinux.bin", tree / "isolinux")
    shutil.copy(LDLINUX, tree / "isolinux")
    for directory in (tree / "isolinux", tree / "images" / "pxeboot"):
        shutil.copy(NETBOOT / "linux", directory / "vmlinuz")
        shutil.copy(NETBOOT / "initrd.gz", directory / "initrd.img")
    (tree / "isolinux" / "isolinux.cfg").write_text(ISOLINUX_CFG)
    (tree / "EFI" / "BOOT" / "grub.cfg").write_text(GRUB_CFG)
    efiboot = tree / "images" / "efiboot.img"
    mkfs = shutil.which("mkfs.vfat") or "/usr/sbin/mkfs.vfat"
    subprocess.run([mkfs, "-C", "-n", "ANACONDA", str(efiboot), "2048"], check=True, capture_output=True)
    subprocess.run(["mmd", "-i", str(efiboot), "::/EFI", "::/EFI/BOOT"], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", str(efiboot), str(tree / "EFI" / "BOOT" / "grub.cfg"), "::/EFI/BOOT/grub.cfg"],
                   check=True, capture_output=True)
    iso = work / "boot.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-o", str(iso), "-V", VOLID, "-R", "-J",
                    "-isohybrid-mbr", str(ISOLINUX / "isohdpfx.bin"),
                    "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
                    "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
                    "-eltorito-alt-boot", "-e", "images/efiboot.img", "-no-emul-boot", "-isohybrid-gpt-basdat",
                    str(tree)], check=True, capture_output=True)
    shutil.rmtree(tree)
    return iso
