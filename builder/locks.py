"""Locks that hold between the threads of one build and between builder processes: an flock on a lock file.

flock belongs to an open file description, so two threads that each open the lock file exclude each
other as two processes do, and the kernel drops the lock when its holder dies: a killed build never
leaves a lock that blocks the next one. Lock files stay where they are (empty but for the holder's
pid): removing one that another process waits on would let a third lock a new file of the same name.

What is locked, and where its lock file lies:
- a base-tree cache entry: beside the entry (builder.bootstrap.tree), while it is bootstrapped;
- an output directory OUT/<name>/: `locks/` in builder's cache, by the directory's real path (builder.build);
- loading into a Docker engine: `locks/` in builder's cache, by the engine's address (builder.container.engine).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .host import progress, raise_if_interrupted

POLL_SECONDS = 0.25   # how often a waiter tries again (and notices an interrupt)


def cache_root() -> Path:
    """builder's own cache: $BUILDER_CACHE, else ~/.cache/builder."""
    return Path(os.environ.get("BUILDER_CACHE") or Path.home() / ".cache" / "builder")


def lock_file(what: str, key: str) -> Path:
    """The lock file of `what` (a kind of resource) named by `key` (a path or an address), in builder's cache."""
    return cache_root() / "locks" / f"{what}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"


@contextlib.contextmanager
def held(path: Path, waiting_for: str, log: Callable[[str], None] = progress) -> Iterator[None]:
    """An exclusive lock on `path` (created if need be) for the block; says so when it has to wait for `waiting_for`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not _try_lock(fd):
            log(f"waiting for {waiting_for} (lock {path}, held by pid {_holder(fd) or '?'})")
            while not _try_lock(fd):
                raise_if_interrupted()
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _holder(fd: int) -> str:
    return os.pread(fd, 32, 0).decode(errors="replace").strip()
