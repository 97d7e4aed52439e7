"""Running a tree's own tools under chroot, and snapshots of a tree to prove that a second run changes nothing."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

# The whole environment of a chroot command (env -i): nothing leaks in from the host.
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C"}


def in_chroot(root: Path, *argv: str, stdin: str | None = None,
              env: Mapping[str, str] = CHROOT_ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("chroot") or "/usr/sbin/chroot", str(root), *argv], input=stdin, env=dict(env),
                          capture_output=True, text=True, timeout=600, check=False)


def snapshot(root: Path, excluded: Iterable[str]) -> dict[str, tuple]:
    """Every path's type, mode, owner, size, content hash or link target, mtime and inode; `excluded`
    (paths relative to the root) are left out with everything under them."""
    excluded = set(excluded)
    entries: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if (here / d).relative_to(root).as_posix() not in excluded]
        for path in [here] + [here / name for name in dirnames + filenames]:
            relative = path.relative_to(root).as_posix()
            if relative in excluded:
                continue
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(path)
            else:
                extra = ""
            entries["/" + relative] = (
                stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, st.st_size, extra,
                st.st_mtime_ns, st.st_ino)
    return entries


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """One line per path that differs between two snapshots, sorted."""
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    return [f"{path}: {before.get(path)} -> {after.get(path)}" for path in changed]
