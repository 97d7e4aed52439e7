"""The bootstrapped base tree (debootstrap), cached by what makes it, and the chroot the baseline runs in.

The cache entry is a zstd tarball named by the hash of (tool, variant, suite, mirror,
packages), with a JSON record of its own sha256 and creation time; it is written under a
temporary name and renamed, so a reader never sees a partial entry, and checked before use.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuilderError
from ..output import file_digest
from .definition import Bootstrap

CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cache_dir() -> Path:
    return Path(os.environ.get("BUILDER_CACHE") or Path.home() / ".cache" / "builder") / "bases"


@dataclass(frozen=True)
class BaseTree:
    """One bootstrapped tree: how it is made and where it is cached."""

    bootstrap: Bootstrap
    mirror: str
    packages: tuple[str, ...]

    @property
    def key(self) -> str:
        what = [self.bootstrap.tool, self.bootstrap.variant, self.bootstrap.suite, self.mirror, sorted(self.packages)]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:24]

    @property
    def tarball(self) -> Path:
        return cache_dir() / f"{self.bootstrap.suite}-{self.bootstrap.variant}-{self.key}.tar.zst"

    @property
    def record(self) -> Path:
        return self.tarball.with_suffix(".json")

    def command(self, root: Path) -> list[str]:
        b = self.bootstrap
        include = ["--include=" + ",".join(sorted(self.packages))] if self.packages else []
        return [b.tool, f"--variant={b.variant}", *include, b.suite, str(root), self.mirror]


def why_not_bootstrap() -> str | None:
    if os.geteuid() != 0:
        return "building a container root filesystem needs root (debootstrap, chroot, mount)"
    for tool in ("debootstrap", "chroot", "mount", "umount", "tar", "zstd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install debootstrap zstd)"
    return None


def fill(base: BaseTree, root: Path, log=print) -> int:
    """Fill the empty directory `root` with the base tree; returns the tree's creation time (epoch seconds)."""
    if why := why_not_bootstrap():
        raise BuilderError(why, hint="run the build as root on a Debian host with debootstrap and zstd")
    record = _cached_record(base)
    if record is None:
        log(f"bootstrapping {base.bootstrap.suite} from {base.mirror} ({len(base.packages)} packages; cached afterwards)")
        _run(base.command(root), "debootstrap", log_file=root / "debootstrap" / "debootstrap.log")
        record = _store(base, root)
        return record["created"]
    log(f"base tree from the cache: {base.tarball.name}")
    root.mkdir()
    _run(["tar", "--numeric-owner", "--zstd", "-xpf", str(base.tarball), "-C", str(root)], f"extracting {base.tarball}")
    return record["created"]


def _cached_record(base: BaseTree) -> dict | None:
    if not (base.tarball.exists() and base.record.exists()):
        return None
    try:
        record = json.loads(base.record.read_text())
    except ValueError:
        return None
    if record.get("sha256") != file_digest(base.tarball) or record.get("command") != base.command(Path("ROOT")):
        return None  # damaged or not what this key names: bootstrap again
    return record


def _store(base: BaseTree, root: Path) -> dict:
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".partial-", suffix=".tar.zst", dir=directory)
    os.close(fd)
    try:
        _run(["tar", "--numeric-owner", "--zstd", "-C", str(root), "-cf", partial, "."], "caching the base tree")
        record = {"command": base.command(Path("ROOT")), "sha256": file_digest(Path(partial)), "created": int(time.time())}
        os.replace(partial, base.tarball)
        fd, partial = tempfile.mkstemp(prefix=".partial-", suffix=".json", dir=directory)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        os.replace(partial, base.record)
    finally:
        Path(partial).unlink(missing_ok=True)
    return record


@contextlib.contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """/proc in the tree while the baseline runs (locale-gen, useradd and maintainer scripts read it); always unmounted."""
    proc = root / "proc"
    proc.mkdir(exist_ok=True)
    _run(["mount", "-t", "proc", "proc", str(proc)], "mounting /proc in the tree")
    try:
        yield
    finally:
        subprocess.run(["umount", str(proc)], check=False, capture_output=True)
        if os.path.ismount(proc):
            subprocess.run(["umount", "-l", str(proc)], check=False, capture_output=True)


def apply_script(root: Path, script: str, source_date_epoch: int, log=print) -> None:
    """Run the baseline script in the tree, with nothing from the host's environment."""
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C", "SOURCE_DATE_EPOCH": str(source_date_epoch),
           "DEBIAN_FRONTEND": "noninteractive"}
    with chroot_mounts(root):
        proc = subprocess.run(["chroot", str(root), "/bin/bash", "-s"], input=script, env=env, capture_output=True,
                              text=True, timeout=3600, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("==> "):
            log(line)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise BuilderError(f"the baseline script failed in the container tree (exit {proc.returncode}):\n{tail}")


def _run(argv: list[str], what: str, log_file: Path | None = None) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    except FileNotFoundError:
        raise BuilderError(f"{what}: {argv[0]} is not installed") from None
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        if log_file is not None and log_file.exists():
            tail += f"\n--- {log_file.name}:\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        raise BuilderError(f"{what} failed (exit {proc.returncode}): {shlex.join(argv)}\n{tail}")
