"""Reading a tree's rpm database from the host, without changing the tree.

rpm is the one reader (the database has no stable format to parse). Even a read-only `rpm -q`
touches sqlite's -shm file, so every query runs on a private copy of the database directory.
The tree's database path is always named: rpm --root otherwise looks for the host's own
%_dbpath inside the tree (~/.rpmdb with Debian's rpm) and creates an empty database there.
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .host import Completed, TimedOut, run

__all__ = ["TimedOut", "query", "settle"]


def query(database: Path, args: Sequence[str], rpm: str = "rpm", timeout: float = 300) -> Completed[str]:
    """`rpm --dbpath COPY ARGS` on a copy of the database directory `database` (a host path); its exit status is the
    caller's to judge. TimedOut when rpm does not answer within `timeout` seconds."""
    with tempfile.TemporaryDirectory(prefix="builder-rpmdb.") as copy:
        for entry in database.iterdir():
            if entry.is_file() and not entry.is_symlink():
                shutil.copy2(entry, copy)
        return run([rpm, "--dbpath", copy, *args], "rpm --dbpath", timeout=timeout, check=False)


def settle(database: Path) -> None:
    """Fold sqlite's write-ahead log into rpmdb.sqlite and drop the -wal/-shm files (closing the last connection
    checkpoints and removes them), so the tree carries one database file."""
    path = database / "rpmdb.sqlite"
    if path.is_file() and not path.is_symlink():
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
