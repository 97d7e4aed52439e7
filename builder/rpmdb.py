"""Reading a tree's rpm database from the host, without changing the tree.

rpm is the one reader (the database has no stable format to parse). Even a read-only `rpm -q`
touches sqlite's -shm file, so every query runs on a private copy of the database directory.
The tree's database path is always named: rpm --root otherwise looks for the host's own
%_dbpath inside the tree (~/.rpmdb with Debian's rpm) and creates an empty database there.

A tree's database is sqlite (rpmdb.sqlite: EL 9 and 10) or Berkeley DB (a Packages file and
one file per index: EL 8, whose rpm writes nothing else). The build host's rpm (4.17 and later)
reads Berkeley DB read-only only (its bdb_ro backend): it finds it by itself, with a warning
on every run, so a query names it (`_db_backend bdb_ro`).
"""
from __future__ import annotations

import contextlib
import fnmatch
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import BuilderError
from .host import Completed, TimedOut, run

__all__ = ["BDB_FILE", "SQLITE_FILES", "TimedOut", "backend", "export", "query", "settle"]

SQLITE_FILES = ("rpmdb.sqlite", "rpmdb.sqlite-wal", "rpmdb.sqlite-shm")
BDB_FILE = "Packages"   # Berkeley DB's table of the headers (its indexes beside it: Name, Basenames, ...)
# What Berkeley DB and rpm leave beside the tables while a database is open, part of no package: the environment's
# shared-memory regions (rpm makes them again on its next run) and the locks.
BDB_RUNTIME = ("__db.*", ".dbenv.lock")


def backend(database: Path) -> str | None:
    """"sqlite" or "bdb": the format of the database in the directory `database` (sqlite when both are there, as
    rpm 4.16+ takes it), None when there is none."""
    if (database / SQLITE_FILES[0]).is_file():
        return "sqlite"
    if (database / BDB_FILE).is_file():
        return "bdb"
    return None


def _backend_args(database: Path) -> list[str]:
    """What tells the host's rpm the format of `database`: Berkeley DB is read-only (bdb_ro) there."""
    return ["--define", "_db_backend bdb_ro"] if backend(database) == "bdb" else []


def _copy_into(database: Path, copy: Path) -> None:
    """The database's files (not its runtime regions and locks) copied into the directory `copy`."""
    for entry in database.iterdir():
        if entry.is_file() and not entry.is_symlink() and not _runtime(entry.name):
            shutil.copy2(entry, copy)


@contextlib.contextmanager
def _copy(database: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="builder-rpmdb.") as copy:
        _copy_into(database, Path(copy))
        yield Path(copy)


def query(database: Path, args: Sequence[str], rpm: str = "rpm", timeout: float = 300) -> Completed[str]:
    """`rpm --dbpath COPY ARGS` on a copy of the database directory `database` (a host path); its exit status is the
    caller's to judge. TimedOut when rpm does not answer within `timeout` seconds."""
    with _copy(database) as copy:
        return run([rpm, "--dbpath", copy, *_backend_args(database), *args], "rpm --dbpath", timeout=timeout, check=False)


def export_command(copy: Path) -> list[str]:
    """The host's rpm writing every header of the database `copy` to its standard output (rpmdb's export format)."""
    return ["rpmdb", "--dbpath", str(copy), *_backend_args(copy), "--exportdb"]


def export(database: Path, to: Path, copy: Path, timeout: float = 600) -> None:
    """Every header of the database in `database` (a host path), exported by the host's rpm into the file `to`, from a
    copy in the new directory `copy` (the tree is not touched; the copy is removed afterwards)."""
    copy.mkdir()
    try:
        _copy_into(database, copy)
        proc = run(export_command(copy), "rpmdb --exportdb", timeout=timeout, check=False, output_file=to)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    if proc.returncode or "error:" in proc.stderr:
        raise BuilderError(f"rpmdb --exportdb of the tree's database {database} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}")


def _runtime(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in BDB_RUNTIME)


def settle(database: Path) -> list[str]:
    """Leave the database in `database` as a closed one: sqlite's write-ahead log folded into rpmdb.sqlite and the
    -wal/-shm files dropped (closing the last connection checkpoints and removes them); Berkeley DB's environment
    regions and lock removed. Returns the names removed."""
    removed = []
    for entry in sorted(database.iterdir()) if database.is_dir() else ():
        if _runtime(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink()
            removed.append(entry.name)
    path = database / "rpmdb.sqlite"
    if path.is_file() and not path.is_symlink():
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
    return removed
