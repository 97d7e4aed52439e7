"""The ISO artifacts, read back with xorriso: the OEMDRV volume and the remastered installer ISO."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support.install_spec import install_spec, run
from support.installer_iso import VOLID, make_installer_iso, why_not_installer_iso
from support.qemu import kernel_command_line, need_qemu
from support.requirements import skip_or_fail

KS_ARG = f"inst.ks=hd:LABEL={VOLID}:/ks.cfg"


def need_xorriso() -> None:
    if shutil.which("xorriso") is None:
        skip_or_fail("xorriso is not installed")


def volume_id(iso: Path) -> str:
    out = subprocess.run(["xorriso", "-no_rc", "-indev", str(iso), "-pvd_info"], capture_output=True, text=True, check=True)
    (line,) = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Volume Id")]
    return line.split(":", 1)[1].strip()


def extract(iso: Path, into: Path, *paths: str) -> None:
    args = [a for p in paths for a in ("-extract", p, str(into / p.lstrip("/")))]
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", str(iso), *args], capture_output=True, check=True)


def listing(iso: Path) -> set[str]:
    out = subprocess.run(["xorriso", "-no_rc", "-indev", str(iso), "-find", "/", "-type", "f"], capture_output=True, text=True, check=True)
    return {line.strip("'") for line in out.stdout.splitlines()}


def build_iso(tmp_path: Path, out: Path, *extra: str) -> Path:
    result = run("build", install_spec(tmp_path), "--only", "kickstart", "--only", "iso", "--out", out, *extra)
    assert result.returncode == 0, result.stderr
    return out / "pxe-nodes"


@pytest.fixture(scope="module")
def installer_iso(tmp_path_factory) -> Path:
    reason = why_not_installer_iso()
    if reason:
        skip_or_fail(reason)
    return make_installer_iso(tmp_path_factory.mktemp("installer"))


@pytest.mark.slow
def test_oemdrv_volume_has_the_label_and_the_kickstart_at_its_root(tmp_path):
    need_xorriso()
    directory = build_iso(tmp_path, tmp_path / "out")
    iso = directory / "oemdrv.iso"
    assert volume_id(iso) == "OEMDRV"
    assert listing(iso) == {"/ks.cfg"}
    extract(iso, tmp_path / "x", "/ks.cfg")
    assert (tmp_path / "x/ks.cfg").read_bytes() == (directory / "ks.cfg").read_bytes()
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["artifacts"]["iso"]["path"] == "oemdrv.iso"
    again = build_iso(tmp_path, tmp_path / "again")
    assert (again / "oemdrv.iso").read_bytes() == iso.read_bytes(), "the same spec gave different bytes"


@pytest.mark.slow
def test_remastered_iso_keeps_its_volume_id_and_boots_every_entry_with_the_kickstart(tmp_path, installer_iso):
    directory = build_iso(tmp_path, tmp_path / "out", "--boot-iso", installer_iso)
    iso = directory / "boot-ks.iso"
    assert volume_id(iso) == VOLID
    assert listing(iso) == listing(installer_iso) | {"/ks.cfg"}
    x = tmp_path / "x"
    extract(iso, x, "/ks.cfg", "/isolinux/isolinux.cfg", "/EFI/BOOT/grub.cfg", "/images/efiboot.img")
    assert (x / "ks.cfg").read_bytes() == (directory / "ks.cfg").read_bytes()
    inside = subprocess.run(["mtype", "-i", str(x / "images/efiboot.img"), "::/EFI/BOOT/grub.cfg"],
                            capture_output=True, text=True, check=True).stdout
    for name, text, keyword, count in [("isolinux.cfg", (x / "isolinux/isolinux.cfg").read_text(), "append", 2),
                                       ("grub.cfg", (x / "EFI/BOOT/grub.cfg").read_text(), "linux", 1),
                                       ("efiboot.img grub.cfg", inside, "linux", 1)]:
        entries = [line.split() for line in text.splitlines() if line.split()[:1] == [keyword]]
        assert len(entries) == count, name
        for args in entries:
            assert args.count(KS_ARG) == 1 and "net.ifnames=0" in args and "biosdevname=0" in args, name
            assert args.count("console=ttyS0") == 1 and f"inst.stage2=hd:LABEL={VOLID}" in args, name
    report = subprocess.run(["xorriso", "-no_rc", "-indev", str(iso), "-report_el_torito", "plain"],
                            capture_output=True, text=True, check=True).stdout
    assert "/isolinux/isolinux.bin" in report and "/images/efiboot.img" in report and "UEFI" in report


@pytest.mark.slow
def test_a_failed_remaster_leaves_nothing_behind(tmp_path):
    need_xorriso()
    not_an_installer = build_iso(tmp_path, tmp_path / "first") / "oemdrv.iso"
    out = tmp_path / "out"
    result = run("build", install_spec(tmp_path), "--only", "iso", "--out", out, "--boot-iso", not_an_installer)
    assert result.returncode == 1
    assert "no isolinux/isolinux.cfg or GRUB config found" in result.stderr
    assert not out.exists(), "a failed build left (empty) output behind"


@pytest.mark.slow
def test_only_iso_after_a_spec_change_leaves_no_stale_kickstart(tmp_path):
    need_xorriso()
    directory = build_iso(tmp_path, tmp_path / "out")
    spec = install_spec(tmp_path)
    spec.write_text(spec.read_text().replace("version: 1\n", "version: 1\ntimezone: Asia/Tokyo\n", 1))
    result = run("build", spec, "--only", "iso", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((directory / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"iso"}
    assert {p.name for p in directory.iterdir()} == {"oemdrv.iso", "manifest.json"}, "a file of the old spec was left"
    extract(directory / "oemdrv.iso", tmp_path / "x", "/ks.cfg")
    assert "Asia/Tokyo" in (tmp_path / "x/ks.cfg").read_text()


@pytest.mark.slow
def test_remastered_iso_boots_with_the_kickstart_on_the_command_line(tmp_path, installer_iso):
    need_qemu()
    iso = build_iso(tmp_path, tmp_path / "out", "--boot-iso", installer_iso) / "boot-ks.iso"
    args = kernel_command_line(tmp_path, "-nic", "none", "-cdrom", str(iso), "-boot", "d").split()
    assert KS_ARG in args and "net.ifnames=0" in args and "console=ttyS0" in args
