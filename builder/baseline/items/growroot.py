"""The growroot item (qcow2 only): the root grows to the disk it boots on, as in the official cloud images. The
builder-growroot DIB element installs the family's growpart and a unit that grows the root partition and its file
system early in every boot, with or without cloud-init (`qcow2.cloud_init` may be none).

Booted, `builder verify --qcow2` gives the guest a disk larger than the image (qcow2/live.py), so the check sees the
growth, not only an image that was already as large as its disk."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..results import Check, Result, failed, passed
from .unit import Unit, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "growroot"
SERVICE = "builder-growroot.service"     # the builder-growroot element's unit, enabled in sysinit.target

# What the partition may leave unused at the disk's end and the file system of its partition (alignment, a GPT's
# backup table, ext4's last block group): far less than any growth worth checking.
SLACK = 16 << 20
GIB = 1 << 30

# In the guest: the root file system's type and device, the partition's start and size and its disk's size
# (in 512-byte sectors, as sysfs counts them).
ROOT_GEOMETRY = r"""
source=$(readlink -f "$(findmnt -no SOURCE /)")
sys=/sys/class/block/${source##*/}
echo "fstype=$(findmnt -no FSTYPE /)"
echo "source=$source"
echo "start=$(cat "$sys/start")"
echo "sectors=$(cat "$sys/size")"
echo "disk_sectors=$(cat "$sys/../size")"
"""

# The file system's own size (blocks it spans, not what statfs reports after its metadata), per type.
EXT_SIZE = "dumpe2fs -h {source} 2>/dev/null | sed -n 's/^Block count: *//p; s/^Block size: *//p'"
FS_SIZE = {
    "ext2": EXT_SIZE, "ext3": EXT_SIZE, "ext4": EXT_SIZE,
    "xfs": "xfs_info / | sed -n 's/^data *= *bsize=\\([0-9]*\\) *blocks=\\([0-9]*\\).*/\\2 \\1/p'",
}


def check(c: Check) -> Iterator[Result]:
    root = c.fs.root
    yield (passed(NAME, "growpart is installed") if (root / "usr" / "bin" / "growpart").exists()
           else failed(NAME, "no /usr/bin/growpart: the family's growpart package is missing"))
    unit = root / "etc" / "systemd" / "system" / "sysinit.target.wants" / SERVICE
    yield (passed(NAME, f"{SERVICE} grows the root partition and file system at boot") if unit.is_symlink()
           else failed(NAME, f"{SERVICE} is not enabled (sysinit.target.wants)"))


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    geometry = dict(line.split("=", 1) for line in guest.shell(ROOT_GEOMETRY).out.splitlines() if "=" in line)
    try:
        fstype, source = geometry["fstype"], geometry["source"]
        start, sectors, disk = (int(geometry[key]) * 512 for key in ("start", "sectors", "disk_sectors"))
    except (KeyError, ValueError):
        yield failed(NAME, f"cannot read the root partition's geometry in the guest: {geometry}")
        return
    size_command = FS_SIZE.get(fstype)
    numbers = guest.shell(size_command.format(source=source)).out.split() if size_command else []
    if len(numbers) != 2 or not all(n.isdigit() for n in numbers):
        yield failed(NAME, f"cannot tell the size of the {fstype} root file system on {source}")
        return
    fs = int(numbers[0]) * int(numbers[1])
    where = (f"{source}: {fstype} file system of {fs / GIB:.2f} GiB, partition of {sectors / GIB:.2f} GiB ending "
             f"{(disk - start - sectors) >> 20} MiB before the end of its {disk / GIB:.2f} GiB disk")
    if disk - (start + sectors) > SLACK or sectors - fs > SLACK:
        state = guest.shell(f"systemctl is-active {SERVICE}").out.strip()
        yield failed(NAME, f"the root does not fill its disk: {where} ({SERVICE}: {state or 'unknown'})")
    else:
        yield passed(NAME, f"the root file system fills its disk: {where}")


UNIT = register(Unit(
    NAME, "(qcow2 only)",
    no_step="the builder-growroot DIB element installs growpart and its unit, not the script",
    writes="(builder-growroot: the family's growpart, a unit that grows the root partition and file system at boot)",
    check=check, checked="growpart, the unit enabled; booted on a larger disk: the root file system fills it",
    booted=booted, contexts=("qcow2",),
))
