"""A Debian 12 root filesystem made by debootstrap, cached as a tarball so reruns take seconds.

Nothing is ever mounted in the tree (the baseline script needs no /proc), so
shutil.rmtree can remove it; remove_tree refuses to if anything is mounted
under it, rather than delete through a mount into the host.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from builder.baseline import Baseline
from builder.spec import load_spec

from .mirror import debian_mirror

SUITE = "bookworm"
MIRROR = debian_mirror()  # from this host's APT sources
# What a booted node has besides the baseline's packages. Without libpam-systemd,
# firewalld and polkitd fail to configure.
SYSTEM_PACKAGES = ("systemd", "systemd-sysv", "dbus", "libpam-systemd", "iproute2", "ca-certificates")
# The tools an EL baseline script calls (and the test checks its result with), in Debian's packages:
# one tree for every EL example (tests/test_rootfs_el.py). netbase: firewall-offline-cmd reads /etc/protocols.
EL_TOOL_PACKAGES = ("rpm", "dnf", "firewalld", "policycoreutils", "policycoreutils-python-utils",
                    "selinux-policy-default", "network-manager", "chrony", "openssh-server", "sudo", "netbase",
                    "tzdata")


def why_not_debootstrap() -> str | None:
    """Why this host cannot build the tree, or None."""
    if os.geteuid() != 0:
        return "needs root: debootstrap and chroot"
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed (apt-get install debootstrap)"
    return None


def rootfs_packages(spec_path: Path) -> list[str]:
    spec, _, _ = load_spec(spec_path)
    return sorted(set(Baseline(spec).packages) | set(SYSTEM_PACKAGES))


def el_tools_packages() -> list[str]:
    return sorted(set(EL_TOOL_PACKAGES) | set(SYSTEM_PACKAGES))


def cache_dir() -> Path:
    return Path(os.environ.get("BUILDER_TEST_CACHE") or Path.home() / ".cache" / "builder-tests")


def cached_tarball(packages: list[str], suite: str = SUITE, mirror: str = MIRROR) -> Path:
    key = hashlib.sha256(json.dumps([suite, mirror, sorted(packages)]).encode()).hexdigest()[:16]
    return cache_dir() / f"debian-{suite}-minbase-{key}.tar.gz"


def make_rootfs(root: Path, packages: list[str], suite: str = SUITE, mirror: str = MIRROR) -> None:
    """Fill the new directory `root`: from the cache if it holds this tree, else by debootstrap, then cache it."""
    tarball = cached_tarball(packages, suite, mirror)
    root.mkdir()
    if tarball.exists():
        _run(["tar", "--numeric-owner", "-xzf", str(tarball), "-C", str(root)], "extracting " + str(tarball))
        return
    _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(packages), suite, str(root), mirror],
         "debootstrap", log=root / "debootstrap" / "debootstrap.log")
    for deb in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):  # apt-get clean: a fifth of the tree
        deb.unlink()
    tarball.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name, so an interrupted run never leaves a truncated cache entry.
    fd, partial = tempfile.mkstemp(prefix=".partial-", dir=tarball.parent)
    os.close(fd)
    try:
        _run(["tar", "--numeric-owner", "-C", str(root), "-czf", partial, "."], "caching the tree")
        os.replace(partial, tarball)
    finally:
        Path(partial).unlink(missing_ok=True)


def make_current_rootfs(root: Path, spec_path: Path) -> None:
    """Fill the new directory `root` with the spec's packages for a booted node (rootfs_packages), by builder's own
    bootstrap of the spec's repositories (builder.bootstrap: debootstrap, then apt update, dist-upgrade and install
    from all of them), cached in builder's base-tree cache, which follows the mirror."""
    from dataclasses import replace

    from builder.bootstrap import BaseTree, base_tree_for, fill

    spec, _, _ = load_spec(spec_path)
    bootstrapper = replace(base_tree_for(spec).bootstrapper, packages=tuple(rootfs_packages(spec_path)))
    fill(BaseTree(bootstrapper), root, log=lambda _: None)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, from /proc/self/mountinfo (octal escapes decoded)."""
    top = str(Path(path).resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point == top or point.startswith(top + "/"):
            points.append(point)
    return points


def remove_tree(path: Path) -> None:
    mounted = mounts_under(path)
    assert not mounted, f"not removing {path}: mounted under it: {', '.join(mounted)}"
    shutil.rmtree(path, ignore_errors=False)


def _run(argv: list[str], what: str, log: Path | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        if log is not None and log.exists():
            tail += f"\n--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{tail}")
