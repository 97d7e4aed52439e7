"""The bootstrapped base tree (debootstrap), cached by what makes it, and the chroot the baseline runs in.

The cache entry is a zstd tarball named by the hash of (tool, variant, suite, mirror,
packages), with a JSON record of its own sha256 and of the date of the mirror state it was
bootstrapped from (the suite's Release `Date:`); it is written under a temporary name and
renamed, so a reader never sees a partial entry, and checked before use. A fresh bootstrap
continues from the cached tarball too, so the first build and every later one start from the
same bytes.
"""
from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import host
from ..container.definition import Bootstrap
from ..errors import BuilderError
from ..output import file_digest

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


BOOTSTRAP_TOOLS = ("debootstrap", "chroot", "mount", "umount", "tar", "zstd")


def why_not_bootstrap() -> str | None:
    if os.geteuid() != 0:
        return "building a container root filesystem needs root (debootstrap, chroot, mount)"
    if missing := host.missing_tools(BOOTSTRAP_TOOLS):
        return f"{', '.join(missing)} not installed ({host.install_hint(missing)})"
    return None


def fill(base: BaseTree, root: Path, log=host.progress) -> int:
    """Fill the empty directory `root` with the base tree; returns the date of the mirror state it came from
    (epoch seconds: the default SOURCE_DATE_EPOCH, the same on every machine that bootstraps from that state)."""
    if why := why_not_bootstrap():
        raise BuilderError(why, hint="run the build as root on a Debian host with debootstrap and zstd")
    record = _cached_record(base)
    if record is None:
        log(f"bootstrapping {base.bootstrap.suite} from {base.mirror} ({len(base.packages)} packages; cached afterwards)")
        scratch = root.with_name(root.name + ".bootstrap")
        try:
            _debootstrap(base, scratch, log)
            record = _store(base, scratch, mirror_date(scratch, base.bootstrap.suite))
        finally:
            _remove_scratch(scratch)
    else:
        log(f"base tree from the cache: {base.tarball.name}")
    root.mkdir()
    host.run(["tar", "--numeric-owner", "--zstd", "-xpf", base.tarball, "-C", root], f"extracting {base.tarball}")
    return record["mirror_date"]


def _remove_scratch(tree: Path) -> None:
    """Remove a debootstrap target; a failed debootstrap can leave /proc or /sys mounted in it: never delete through those."""
    for point in host.mounts_under(tree):
        host.run(["umount", "-l", point], "unmounting a leftover mount", check=False)
    if left := host.mounts_under(tree):
        raise BuilderError(f"still mounted under {tree}: {', '.join(left)}; not removing it")
    shutil.rmtree(tree, ignore_errors=True)


# debootstrap says "I: Retrieving adduser 3.134" once per package: report each phase once, with no package names.
_PHASE = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing|Checking|Resolving|Found|"
                    r"Base system|Chosen|Keyring)\b")


def _debootstrap(base: BaseTree, root: Path, log) -> None:
    argv = base.command(root)
    seen: set[str] = set()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        phase = _PHASE.match(line)
        if phase and phase.group(1) not in seen:
            seen.add(phase.group(1))
            words = line.removeprefix("I: ").split()
            # "Extracting adduser..." names the first of many packages: say what the phase does instead.
            per_package = len(words) <= 3 and words[0] in ("Retrieving", "Validating", "Extracting", "Unpacking", "Configuring")
            log(f"debootstrap: {words[0]} packages..." if per_package and "Release" not in line and "Packages" not in line
                else f"debootstrap: {' '.join(words)}")
    if proc.wait():
        logfile = root / "debootstrap" / "debootstrap.log"
        if logfile.exists():
            tail += ["--- debootstrap.log:", *logfile.read_text(errors="replace").splitlines()[-20:]]
        raise BuilderError(f"debootstrap failed (exit {proc.returncode}): {' '.join(argv)}\n" + "\n".join(tail))


def mirror_date(root: Path, suite: str) -> int:
    """The `Date:` of the suite's Release file that debootstrap fetched (left in the tree's apt lists)."""
    lists = root / "var/lib/apt/lists"
    for path in sorted(lists.glob(f"*_dists_{suite}_InRelease")) + sorted(lists.glob(f"*_dists_{suite}_Release")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Date:"):
                return int(email.utils.parsedate_to_datetime(line.split(":", 1)[1].strip()).timestamp())
    raise BuilderError(f"no Release file of {suite} with a Date: field in {lists}",
                       hint="debootstrap leaves the suite's Release file there; is the mirror a Debian archive?")


def _cached_record(base: BaseTree) -> dict | None:
    if not (base.tarball.exists() and base.record.exists()):
        return None
    try:
        record = json.loads(base.record.read_text())
    except ValueError:
        return None
    if (record.get("sha256") != file_digest(base.tarball) or record.get("command") != base.command(Path("ROOT"))
            or not isinstance(record.get("mirror_date"), int)):
        return None  # damaged, from an older builder, or not what this key names: bootstrap again
    return record


def _store(base: BaseTree, root: Path, date: int) -> dict:
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=".partial-", suffix=".tar.zst", dir=directory)
    os.close(fd)
    try:
        # debootstrap's own log holds timings: leave it out, like apt's downloaded archives.
        host.run(["tar", "--numeric-owner", "--zstd", "--exclude=./debootstrap", "-C", root, "-cf", partial, "."],
                 "caching the base tree")
        record = {"command": base.command(Path("ROOT")), "sha256": file_digest(Path(partial)), "mirror_date": date}
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
    host.run(["mount", "-t", "proc", "proc", proc], "mounting /proc in the tree")
    try:
        yield
    finally:
        host.run(["umount", proc], "unmounting /proc", check=False)
        if os.path.ismount(proc):
            host.run(["umount", "-l", proc], "unmounting /proc lazily", check=False)


def apply_script(root: Path, script: str, source_date_epoch: int, log=host.progress) -> None:
    """Run the baseline script in the tree, with nothing from the host's environment."""
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C", "SOURCE_DATE_EPOCH": str(source_date_epoch),
           "DEBIAN_FRONTEND": "noninteractive"}
    with chroot_mounts(root):
        proc = host.run(["chroot", root, "/bin/bash", "-s"], "the baseline script", input=script, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("==> "):
            log(line)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise BuilderError(f"the baseline script failed in the container tree (exit {proc.returncode}):\n{tail}")
