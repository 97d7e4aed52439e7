"""The kernel-args item: the kernel command line the baseline asks for (`network.classic_names`, `selinux`), set by
the bootloader (the kickstart's `bootloader --append`, DIB_BOOTLOADER_DEFAULT_CMDLINE in the qcow2), not the script."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...spec import CLASSIC_NAMES_ARGS, SELinux
from ..results import Check, Result, failed, not_applicable, passed
from ..rootfs import RootFS, parse_env
from .unit import Unit, in_container, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "kernel-args"


def kernel_args(b: BaselineView) -> tuple[str, ...]:
    args: list[str] = []
    if b.spec.network.classic_names:
        args += CLASSIC_NAMES_ARGS
    if b.selinux is SELinux.DISABLED and b.info.major >= 9:
        args.append("selinux=0")
    return tuple(args)


def check(c: Check) -> Iterator[Result]:
    args = kernel_args(c.baseline)
    if not args:
        yield not_applicable(NAME, "the baseline adds no kernel arguments")
        return
    sources = _kernel_cmdlines(c.fs)
    if not sources:
        yield not_applicable(NAME, "no bootloader configuration in this root filesystem")
        return
    for arg in args:
        where = [name for name, cmdlines in sources.items() if all(arg in line.split() for line in cmdlines)]
        yield (passed(NAME, f"{arg} in {where[0]}") if where
               else failed(NAME, f"{arg} is not in {' nor '.join(sources)}"))


def _kernel_cmdlines(fs: RootFS) -> dict[str, list[str]]:
    """Each place a kernel command line is kept -> the command line(s) it holds."""
    sources: dict[str, list[str]] = {}
    grub = fs.read_text("/etc/default/grub")
    if grub is not None:
        # The default entry boots with both; diskimage-builder writes its arguments to _DEFAULT.
        env = parse_env(grub)
        sources["GRUB_CMDLINE_LINUX(_DEFAULT) in /etc/default/grub"] = [
            f"{env.get('GRUB_CMDLINE_LINUX', '')} {env.get('GRUB_CMDLINE_LINUX_DEFAULT', '')}"]
    entries = fs.glob("/boot/loader/entries/*.conf")
    if entries:
        # EL 8 entries say `options $kernelopts`; the value lives in grubenv.
        kernelopts = parse_env(fs.read_text("/boot/grub2/grubenv")).get("kernelopts", "")
        lines = []
        for entry in entries:
            options = [line.split(None, 1)[1] if len(line.split()) > 1 else ""
                       for line in (fs.read_text(entry) or "").splitlines() if line.split()[:1] == ["options"]]
            lines.append(" ".join(options).replace("$kernelopts", kernelopts))
        sources["every /boot/loader/entries/*.conf"] = lines
    cmdline = fs.read_text("/etc/kernel/cmdline")
    if cmdline is not None:
        sources["/etc/kernel/cmdline"] = [cmdline]
    return sources


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    cmdline = guest.shell("cat /proc/cmdline").out.split()
    for arg in kernel_args(b):
        yield (passed(NAME, f"{arg} on the running kernel's command line") if arg in cmdline
               else failed(NAME, f"{arg} is not on /proc/cmdline"))


UNIT = register(Unit(
    NAME, "`network.classic_names`, `selinux`",
    no_step="the bootloader's job: the kickstart's bootloader --append, DIB_BOOTLOADER_DEFAULT_CMDLINE in the qcow2",
    writes="(bootloader's job)",
    check=check,
    checked="`/etc/default/grub`, BLS entries or `/etc/kernel/cmdline`; booted: `/proc/cmdline`",
    booted=booted, kickstart="`bootloader --append=\"net.ifnames=0 biosdevname=0 [selinux=0]\"`",
    not_applicable=in_container("a container boots no kernel of its own"),
))
