"""Read-only access to a root filesystem tree, and parsers for the files the checks read.

Paths are resolved the way the booted system would see them: symlinks are
followed by hand, an absolute target counts from the tree's root, and a path
that climbs above the root is refused. A broken or hostile tree can therefore
never make a check read the build host's own files.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from .. import rpmdb
from ..families import rpmdb_paths

MAX_SYMLINKS = 40  # the kernel's own limit (ELOOP)
MAX_INCLUDE_DEPTH = 16  # sshd's own limit


class RootfsError(Exception):
    """A path in the tree that cannot be read safely; the message names it."""


class UnsafePath(RootfsError):
    pass


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


class RootFS:
    """A directory read as a root filesystem (nothing is ever written)."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def resolve(self, path: str, follow: bool = True) -> Path:
        """The host path of `path` inside the tree; the last component is followed only if `follow`."""
        todo = list(reversed(_parts(path)))
        done: list[str] = []
        links = 0
        while todo:
            part = todo.pop()
            if part == "..":
                if not done:
                    raise UnsafePath(f"{path}: leads outside the root filesystem")
                done.pop()
                continue
            host = self.root.joinpath(*done, part)
            if (follow or todo) and host.is_symlink():
                links += 1
                if links > MAX_SYMLINKS:
                    raise UnsafePath(f"{path}: too many levels of symbolic links")
                target = os.readlink(host)
                if target.startswith("/"):
                    done = []
                todo.extend(reversed(_parts(target)))
                continue
            done.append(part)
        return self.root.joinpath(*done)

    def lstat(self, path: str) -> os.stat_result | None:
        return _stat_or_none(self.resolve(path, follow=False))

    def stat(self, path: str) -> os.stat_result | None:
        # resolve() already followed every link, so lstat sees the final file.
        return _stat_or_none(self.resolve(path))

    def exists(self, path: str) -> bool:
        return self.lstat(path) is not None

    def readlink(self, path: str) -> str | None:
        """The raw target of a symlink, or None if `path` is not one."""
        host = self.resolve(path, follow=False)
        return os.readlink(host) if host.is_symlink() else None

    def read_bytes(self, path: str) -> bytes | None:
        """Contents of a regular file; None if it does not exist."""
        host = self.resolve(path)
        try:
            # O_NONBLOCK: a FIFO planted in the tree must not hang the checks.
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise RootfsError(f"{path}: cannot be read ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise RootfsError(f"{path}: not a regular file")
            return file.read()

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names of a directory; [] if it does not exist."""
        try:
            return sorted(os.listdir(self.resolve(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def glob(self, pattern: str) -> list[str]:
        """Paths matching an absolute shell pattern, sorted like glob(3)."""
        paths = ["/"]
        for part in _parts(pattern):
            found = []
            for base in paths:
                if not re.search(r"[*?\[]", part):
                    found.append(os.path.join(base, part))
                    continue
                for name in self.listdir(base):
                    if (not name.startswith(".") or part.startswith(".")) and fnmatch.fnmatchcase(name, part):
                        found.append(os.path.join(base, name))
            paths = found
        return sorted(p for p in paths if self.exists(p))


def _stat_or_none(host: Path) -> os.stat_result | None:
    try:
        return os.lstat(host)
    except (FileNotFoundError, NotADirectoryError):
        return None


# ---------------------------------------------------------------- account databases


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _colon_rows(text: str | None, fields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        row = line.split(":")
        if len(row) >= fields and row[0] and not line.startswith(("#", "+", "-")):
            rows.append(row)
    return rows


def parse_passwd(text: str | None) -> dict[str, PasswdEntry]:
    users = {}
    for row in _colon_rows(text, 7):
        if row[2].isdigit() and row[3].isdigit():
            users.setdefault(row[0], PasswdEntry(row[0], int(row[2]), int(row[3]), row[5], row[6]))
    return users


def parse_group(text: str | None) -> dict[str, GroupEntry]:
    groups = {}
    for row in _colon_rows(text, 4):
        if row[2].isdigit():
            members = tuple(m for m in row[3].split(",") if m)
            groups.setdefault(row[0], GroupEntry(row[0], int(row[2]), members))
    return groups


def parse_shadow(text: str | None) -> dict[str, str]:
    """user -> password field (a hash, or a lock marker)."""
    shadow: dict[str, str] = {}
    for row in _colon_rows(text, 2):
        shadow.setdefault(row[0], row[1])
    return shadow


# ---------------------------------------------------------------- config formats


_ASSIGNMENT = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def parse_env(text: str | None) -> dict[str, str]:
    """KEY=VALUE files read by a shell or systemd (locale, grub, selinux); the last assignment wins."""
    values = {}
    for line in (text or "").splitlines():
        match = _ASSIGNMENT.fullmatch(line)
        if match:
            values[match[1]] = " ".join(_words(match[2]))
    return values


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # unbalanced quotes: take it as it is written
        return text.split()


def dpkg_installed(text: str | None) -> list[dict[str, str]]:
    """The fields (lower-case names) of each package dpkg's status file lists as installed."""
    installed = []
    for stanza in re.split(r"\n[ \t]*\n", text or ""):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if fields.get("package") and fields.get("status", "").split()[1:] == ["ok", "installed"]:
            installed.append(fields)
    return installed


def parse_dpkg_status(text: str | None) -> set[str]:
    """Names installed according to dpkg, including the virtual names they provide."""
    names: set[str] = set()
    for fields in dpkg_installed(text):
        names.add(fields["package"])
        names.update(p.split()[0] for p in fields.get("provides", "").split(",") if p.strip())
    return names


def dpkg_versions(text: str) -> dict[str, str]:
    """The version of each package dpkg lists as installed."""
    return {fields["package"]: fields["version"] for fields in dpkg_installed(text) if fields.get("version")}


@dataclass(frozen=True)
class SshdValue:
    value: str
    source: str


def sshd_global_settings(fs: RootFS, path: str = "/etc/ssh/sshd_config") -> dict[str, list[SshdValue]]:
    """Every global value of each (lower-cased) keyword, in the order sshd reads them.

    sshd keeps the FIRST value of most keywords; Port and ListenAddress add up.
    A Match block ends the global settings of the file it is in.
    """
    settings: dict[str, list[SshdValue]] = {}
    _read_sshd_file(fs, path, settings, depth=0)
    return settings


def sshd_file_settings(fs: RootFS, path: str = "/etc/ssh/sshd_config") -> dict[str, list[SshdValue]]:
    """The global values of one file alone, its Includes not followed: what a scanner that reads only it sees."""
    settings: dict[str, list[SshdValue]] = {}
    _read_sshd_file(fs, path, settings, depth=0, follow=False)
    return settings


def _read_sshd_file(fs: RootFS, path: str, settings: dict[str, list[SshdValue]], depth: int, follow: bool = True) -> None:
    if depth > MAX_INCLUDE_DEPTH:
        raise RootfsError(f"{path}: Include nested more than {MAX_INCLUDE_DEPTH} deep")
    text = fs.read_text(path)
    if text is None:
        if depth == 0:
            raise RootfsError(f"{path} is missing")
        return
    for line in text.splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)", line)
        if not match or line.lstrip().startswith("#"):
            continue
        keyword, args = match[1].lower(), _words(match[2])
        if keyword == "match":
            return
        if keyword == "include":
            for pattern in args if follow else ():
                absolute = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
                for included in fs.glob(absolute):
                    _read_sshd_file(fs, included, settings, depth + 1)
        elif args:
            settings.setdefault(keyword, []).append(SshdValue(args[0], path))


# Where EL keeps its rpm database: the family's places per release (builder.families: rpmdb), newest
# first; sqlite from EL 9 on, Berkeley DB ("Packages") on EL 8. Named
# explicitly because rpm --root otherwise looks for the host's own %_dbpath inside the tree
# (~/.rpmdb with Debian's rpm) and creates an empty database there.
RPM_DBPATHS = rpmdb_paths()
RPM_DB_FILES = (rpmdb.SQLITE_FILES[0], rpmdb.BDB_FILE)


def _rpm_dbpath(fs: RootFS) -> str:
    for path in RPM_DBPATHS:
        if any(fs.stat(f"{path}/{name}") is not None for name in RPM_DB_FILES):
            return "/" + fs.resolve(path).relative_to(fs.root).as_posix()
    raise RootfsError(f"no rpm database in {' or '.join(RPM_DBPATHS)}")


def rpm_database(fs: RootFS) -> Path:
    """The tree's rpm database directory, as a host path."""
    return fs.resolve(_rpm_dbpath(fs))
