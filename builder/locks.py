"""Locks that hold between the threads of one build and between builder processes: an flock on a lock file.

flock belongs to an open file description, so two threads that each open the lock file exclude each
other as two processes do, and the kernel drops the lock when its holder dies: a killed build never
leaves a lock that blocks the next one. Lock files stay where they are (empty but for the holder's
pid): removing one that another process waits on would let a third lock a new file of the same name.

What is locked, and where:
- a base-tree cache entry: `<entry>.lock` beside the entry (builder.bootstrap.tree), while it is bootstrapped;
- loading into a Docker engine: `locks/` in builder's cache, by the engine's address (builder.container.engine);
- an output directory OUT/<name>/: the directory itself (builder.build), so no lock file is left in OUT or
  in the cache for every directory ever built into.
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
        _wait_for_lock(fd, path, waiting_for, log)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def directory_held(directory: Path, waiting_for: str, log: Callable[[str], None] = progress) -> Iterator[None]:
    """An exclusive lock on `directory` itself (made if need be) for the block. The holder may remove the directory
    (a failed build leaves no empty one): a waiter that then holds the lock of the removed directory locks the new one."""
    while True:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _wait_for_lock(fd, directory, waiting_for, log)
            if _same_file(fd, directory):
                yield
                return
        finally:
            os.close(fd)


def _wait_for_lock(fd: int, path: Path, waiting_for: str, log: Callable[[str], None]) -> None:
    if _try_lock(fd):
        return
    holder = "" if path.is_dir() else _holder(fd)
    log(f"waiting for {waiting_for} (lock {path}{f', held by pid {holder}' if holder else ''})")
    while not _try_lock(fd):
        raise_if_interrupted()
        time.sleep(POLL_SECONDS)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


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
