"""Host files a spec makes builder read: the spec itself and the key files beside it.

Only regular files are read (a device such as /dev/zero, a FIFO, a socket or a directory is refused without a
read; a FIFO is opened non-blocking, so it cannot hold the load waiting for a writer), and at most `limit` + 1
bytes are read: the limit counts what the file gives, not what stat says (a /proc file says 0). A file the spec
names must lie beside it: a relative path without `..`, inside the spec's directory once symlinks are resolved.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath


class Refused(Exception):
    """Why a file is not read; the message names no content."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def read_regular(path: Path, limit: int, follow: bool = True) -> bytes:
    """The bytes of the regular file `path`, refused when it holds more than `limit` bytes (OSError when it cannot be
    opened). `follow=False` refuses a symlink as the last component (for a path whose links are already resolved)."""
    _regular(os.stat(path, follow_symlinks=follow).st_mode)  # before the open: opening a device can do things
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW))
    try:
        _regular(os.fstat(fd).st_mode)  # what was opened, should the path have changed since
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise Refused(f"is larger than {_size(limit)}", hint=f"builder reads at most {_size(limit)} from it")
    return b"".join(chunks)


def beside(directory: Path, relative: str) -> Path:
    """`relative` resolved against `directory`, refused unless it lies inside that directory (symlinks resolved)."""
    parts = PurePosixPath(relative).parts
    if not relative or relative.startswith("/"):
        raise Refused("is not relative to the spec file", hint="give a path relative to the spec file's directory")
    if ".." in parts:
        raise Refused("has a .. in its path: files a spec names lie in the spec file's directory or below it",
                      hint="put the file beside the spec and name it from the spec file's directory, without ..")
    base = directory.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise Refused("is a symlink that leads out of the spec file's directory",
                      hint="copy the file into the spec file's directory instead of linking to it")
    return path


def _regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise Refused(f"is {_kind(mode)}, not a regular file", hint="give the path of a plain file")


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISLNK, "a symlink"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"
