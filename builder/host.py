"""One way to talk to the build host: run a command, require tools, report progress.

Progress and diagnostics go to stderr; results (what a command was asked for) go to stdout,
and nothing here writes to stdout. A missing tool is named with the package that provides it
on the build host's own family, so the hint is a command the user can paste.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from functools import cache
from pathlib import Path

from .errors import BuilderError


class HostFamily(StrEnum):
    DEBIAN = "debian"   # Debian 12, Ubuntu (tested: Debian 12)
    EL = "el"           # EL 9 with python3.11 (untested here)


# tool -> the package that provides it, per build-host family. One table: every host check reads it.
TOOL_PACKAGES: dict[str, dict[HostFamily, str]] = {
    "debootstrap": {HostFamily.DEBIAN: "debootstrap", HostFamily.EL: "debootstrap"},
    "dnf": {HostFamily.DEBIAN: "dnf", HostFamily.EL: "dnf"},
    "rpm": {HostFamily.DEBIAN: "rpm", HostFamily.EL: "rpm"},
    "chroot": {HostFamily.DEBIAN: "coreutils", HostFamily.EL: "coreutils"},
    "tar": {HostFamily.DEBIAN: "tar", HostFamily.EL: "tar"},
    "zstd": {HostFamily.DEBIAN: "zstd", HostFamily.EL: "zstd"},
    "mount": {HostFamily.DEBIAN: "mount", HostFamily.EL: "util-linux"},
    "umount": {HostFamily.DEBIAN: "mount", HostFamily.EL: "util-linux"},
    "losetup": {HostFamily.DEBIAN: "mount", HostFamily.EL: "util-linux"},
    "partx": {HostFamily.DEBIAN: "util-linux", HostFamily.EL: "util-linux"},
    "kpartx": {HostFamily.DEBIAN: "kpartx", HostFamily.EL: "kpartx"},
    "sgdisk": {HostFamily.DEBIAN: "gdisk", HostFamily.EL: "gdisk"},
    "qemu-img": {HostFamily.DEBIAN: "qemu-utils", HostFamily.EL: "qemu-img"},
    "qemu-system-x86_64": {HostFamily.DEBIAN: "qemu-system-x86", HostFamily.EL: "qemu-kvm"},
    "xorriso": {HostFamily.DEBIAN: "xorriso", HostFamily.EL: "xorriso"},
    "mformat": {HostFamily.DEBIAN: "mtools", HostFamily.EL: "mtools"},
    "mcopy": {HostFamily.DEBIAN: "mtools", HostFamily.EL: "mtools"},
    "ssh": {HostFamily.DEBIAN: "openssh-client", HostFamily.EL: "openssh-clients"},
    "ssh-keygen": {HostFamily.DEBIAN: "openssh-client", HostFamily.EL: "openssh-clients"},
    "podman": {HostFamily.DEBIAN: "podman", HostFamily.EL: "podman"},
    "skopeo": {HostFamily.DEBIAN: "skopeo", HostFamily.EL: "skopeo"},
    "createrepo_c": {HostFamily.DEBIAN: "createrepo-c", HostFamily.EL: "createrepo_c"},
}

INSTALL_COMMAND = {HostFamily.DEBIAN: "apt-get install", HostFamily.EL: "dnf install"}


@cache
def host_family(os_release: Path = Path("/etc/os-release")) -> HostFamily:
    """The build host's family, from os-release's ID and ID_LIKE (Debian when unknown: the tested host)."""
    try:
        fields = dict(line.split("=", 1) for line in os_release.read_text().splitlines() if "=" in line)
    except OSError:
        return HostFamily.DEBIAN
    ids = {fields.get("ID", "").strip('"'), *fields.get("ID_LIKE", "").strip('"').split()}
    if ids & {"rhel", "fedora", "centos", "rocky", "almalinux"}:
        return HostFamily.EL
    return HostFamily.DEBIAN


def package_for(tool: str, family: HostFamily | None = None) -> str:
    return TOOL_PACKAGES.get(tool, {}).get(family or host_family(), tool)


def missing_tools(tools: Iterable[str]) -> list[str]:
    return [tool for tool in dict.fromkeys(tools) if shutil.which(tool) is None]


def install_hint(tools: Iterable[str], family: HostFamily | None = None) -> str:
    family = family or host_family()
    packages = dict.fromkeys(package_for(tool, family) for tool in tools)
    return f"{INSTALL_COMMAND[family]} {' '.join(packages)}"


def require_tools(tools: Iterable[str], purpose: str, hint: str | None = None) -> None:
    """Fail with every missing tool and the packages that provide them on this host."""
    missing = missing_tools(tools)
    if missing:
        text = install_hint(missing)
        raise BuilderError(f"{purpose} needs {', '.join(missing)}, not found on this host",
                           hint=f"{text}{'; ' + hint if hint else ''}")


def require_root(purpose: str, hint: str | None = None) -> None:
    if os.geteuid() != 0:
        raise BuilderError(f"{purpose} needs root", hint=hint)


def progress(message: str) -> None:
    """A step that takes a while says what it is doing (stderr: stdout carries results only)."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str | os.PathLike], what: str, *, env: Mapping[str, str] | None = None, input: str | None = None,
        timeout: float | None = 3600, cwd: Path | None = None, log_file: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command with its output captured; on failure a BuilderError with `what`, the command and its last lines.

    `log_file` is a log the command writes itself (debootstrap's): its tail is added to the error.
    """
    args = [str(a) for a in argv]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, env=env, input=input, timeout=timeout, cwd=cwd,
                              check=False)
    except FileNotFoundError:
        raise BuilderError(f"{what}: {args[0]} is not installed", hint=install_hint([args[0]])) from None
    except subprocess.TimeoutExpired:
        raise BuilderError(f"{what}: {shlex.join(args)} took longer than {timeout:.0f} s") from None
    if check and proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        if log_file is not None and log_file.exists():
            tail += f"\n--- {log_file.name}:\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        raise BuilderError(f"{what} failed (exit {proc.returncode}): {shlex.join(args)}\n{tail}".rstrip())
    return proc


def source_date_epoch(default: int) -> int:
    """The build date of reproducible outputs: SOURCE_DATE_EPOCH from the environment, else `default`,
    which each builder derives from its inputs (never from the clock or a local cache's age)."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return default
    if not value.isdigit():
        raise BuilderError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds since 1970")
    return int(value)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    root = os.path.realpath(directory)
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = _unescape(line.split()[4])
            if point == root or point.startswith(root + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))
