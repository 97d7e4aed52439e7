"""The ISO artifacts: an OEMDRV volume, and the user's installer ISO with the kickstart embedded.

OEMDRV: Anaconda reads ks.cfg from the root of any volume labelled OEMDRV by itself.
Remastering follows lorax's mkksiso: keep the volume id, add /ks.cfg, append
`inst.ks=hd:LABEL=<volid>:/ks.cfg` to every boot entry (isolinux, GRUB, and the
GRUB config inside images/efiboot.img), and let xorriso replay the boot setup.
"""
from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .. import host
from ..errors import BuilderError, UsageError
from ..host import require_tools, source_date_epoch
from ..manifest import ArtifactRecord, record_for
from ..spec import CLASSIC_NAMES_ARGS, Spec
from .kickstart import kickstart_for

if TYPE_CHECKING:
    from ..bootstrap.plan import Plan

OEMDRV = "oemdrv.iso"
REMASTERED = "boot-ks.iso"
# Fixed dates make the same spec give the same bytes; SOURCE_DATE_EPOCH overrides.
DEFAULT_EPOCH = 315532800  # 1980-01-01
ISOLINUX_CFG = "isolinux/isolinux.cfg"
GRUB_CFGS = ("EFI/BOOT/grub.cfg", "EFI/BOOT/BOOT.conf", "boot/grub2/grub.cfg", "boot/grub/grub.cfg")
EFIBOOT = "images/efiboot.img"
# The udev label whitelist (a-zA-Z0-9#+.:=@_-): anything else is \xNN-escaped in /dev/disk/by-label.
UDEV_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#+.:=@_-")


def plan_iso(plan: Plan, directory: Path, options) -> list[str]:
    kickstart_for(plan)  # a dry run fails where the build would
    lines = [f"iso: would write {directory / OEMDRV} (xorriso, label OEMDRV, /ks.cfg)"]
    if options.boot_iso:
        lines.append(f"iso: would write {directory / REMASTERED} from {options.boot_iso} "
                     f"(entries get {' '.join(boot_args(plan.spec, 'VOLID'))})")
    return lines


def build_iso(plan: Plan, directory: Path, options) -> list[ArtifactRecord]:
    kickstart = kickstart_for(plan).encode()
    require_tools(["xorriso"], "the ISO artifacts", hint="or build --only kickstart")
    if options.boot_iso and not Path(options.boot_iso).is_file():
        raise UsageError(f"--boot-iso {options.boot_iso}: no such installer ISO")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".iso-") as scratch:
        work = Path(scratch)
        ks = work / "ks.cfg"
        ks.write_bytes(kickstart)
        os.utime(ks, (epoch(), epoch()))
        with host.step(f"iso: writing {OEMDRV}"):
            built = [(OEMDRV, make_oemdrv(ks, work / OEMDRV))]
        if options.boot_iso:
            with host.step(f"iso: remastering {options.boot_iso} as {REMASTERED}"):
                built.append((REMASTERED, remaster(Path(options.boot_iso), ks, work / REMASTERED, plan.spec)))
        for name, path in built:
            os.replace(path, directory / name)
    records = [record_for("iso", directory, directory / OEMDRV)]
    if options.boot_iso:
        records.append(record_for("iso-remastered", directory, directory / REMASTERED))
    return records


def epoch() -> int:
    """Every date on the ISOs: an ISO holds no input with a date of its own, so a fixed one (SOURCE_DATE_EPOCH overrides)."""
    return source_date_epoch(DEFAULT_EPOCH)


def run(*args: str | Path) -> str:
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "SOURCE_DATE_EPOCH": str(epoch())}
    proc = host.run(args, f"iso: {Path(str(args[0])).name}", env=env)
    return proc.stdout + proc.stderr


def make_oemdrv(ks: Path, out: Path) -> Path:
    run("xorriso", "-no_rc", "-outdev", out, "-volid", "OEMDRV", "-joliet", "on", "-map", ks, "/ks.cfg", "-commit")
    return out


def boot_args(spec: Spec, volid: str) -> list[str]:
    args = [f"inst.ks=hd:LABEL={udev_escape(volid)}:/ks.cfg"]
    if spec.network.classic_names:
        args += CLASSIC_NAMES_ARGS
    if spec.install:
        args += spec.install.kernel_args
    return args


def udev_escape(label: str) -> str:
    return "".join(ch if ch in UDEV_SAFE else f"\\x{ord(ch):02x}" for ch in label)


def iso_volid(iso: Path) -> str:
    for line in run("xorriso", "-no_rc", "-indev", iso, "-pvd_info").splitlines():
        if line.startswith("Volume Id") and ":" in line:
            volid = line.split(":", 1)[1].strip()
            if volid:
                return volid
    raise BuilderError(f"{iso}: has no volume id, so the installer could not find its kickstart by label")


def iso_files(iso: Path) -> set[str]:
    out = run("xorriso", "-no_rc", "-indev", iso, "-pkt_output", "on", "-find", "/", "-type", "f")
    return {shlex.split(line[4:])[-1].lstrip("/") for line in out.splitlines() if line.startswith("R:1:")}


def append_to_entries(text: str, keywords: tuple[str, ...], args: list[str]) -> tuple[str, int]:
    """Append `args` to every line whose first word is one of `keywords`; returns (text, lines changed)."""
    lines, changed = [], 0
    for line in text.splitlines():
        words = line.split()
        if words and words[0].lower() in keywords:
            line = line.rstrip() + " " + " ".join(args)
            changed += 1
        lines.append(line)
    return "\n".join(lines) + "\n", changed


def edit_config(path: Path, name: str, args: list[str]) -> int:
    keywords = ("append",) if name == ISOLINUX_CFG else ("linux", "linuxefi", "linux16")
    text, changed = append_to_entries(path.read_text(), keywords, args)
    path.write_text(text)
    return changed


def remaster(boot_iso: Path, ks: Path, out: Path, spec: Spec) -> Path:
    volid = iso_volid(boot_iso)
    files = iso_files(boot_iso)
    configs = [name for name in (ISOLINUX_CFG, *GRUB_CFGS) if name in files]
    if not configs:
        raise BuilderError(f"{boot_iso}: no isolinux/isolinux.cfg or GRUB config found: is this an installer boot ISO?")
    args = boot_args(spec, volid)
    work = out.parent / "remaster"
    extract = [a for name in [*configs, *([EFIBOOT] if EFIBOOT in files else [])] for a in ("-extract", f"/{name}", work / name)]
    run("xorriso", "-no_rc", "-osirrox", "on", "-indev", boot_iso, *extract)
    updates: list[str | Path] = []
    changed = 0
    for name in configs:
        (work / name).chmod(0o644)  # osirrox keeps the ISO's read-only modes
        changed += edit_config(work / name, name, args)
        os.utime(work / name, (epoch(), epoch()))
        updates += ["-update", work / name, f"/{name}"]
    if changed == 0:
        raise BuilderError(f"{boot_iso}: its boot configs have no kernel lines to add inst.ks= to")
    if EFIBOOT in files:
        (work / EFIBOOT).chmod(0o644)
        edit_efiboot(work / EFIBOOT, work / "efiboot", args)
        os.utime(work / EFIBOOT, (epoch(), epoch()))
        updates += ["-update", work / EFIBOOT, f"/{EFIBOOT}"]
    run("xorriso", "-no_rc", "-indev", boot_iso, "-outdev", out, "-boot_image", "any", "replay",
        *updates, "-map", ks, "/ks.cfg", "-commit")
    return out


def edit_efiboot(image: Path, work: Path, args: list[str]) -> None:
    """The GRUB config inside the EFI boot image (what a UEFI machine booting the ISO reads)."""
    require_tools(["mcopy"], "editing the boot ISO's EFI image")
    work.mkdir()
    listing = run("mdir", "-i", image, "-b", "-/", "::/")
    for inside in GRUB_CFGS:
        if f"::/{inside}" not in listing:
            continue
        local = work / inside.replace("/", "_")
        run("mcopy", "-n", "-i", image, f"::/{inside}", local)
        if edit_config(local, inside, args):
            os.utime(local, (epoch(), epoch()))
            run("mcopy", "-m", "-o", "-i", image, local, f"::/{inside}")
