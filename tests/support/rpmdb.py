"""A real rpm database for a fake EL root: empty noarch packages built by rpmbuild, recorded by rpm --justdb.

Nothing is cached: one rpmbuild run makes every package (as subpackages of a
spec that builds none itself) and the database takes a second or so.
Debian's rpm keeps its own database in ~/.rpmdb; every call here names the
database EL 9 uses instead (sqlite in /var/lib/rpm), and rpmbuild gets a
throwaway one, so the host's home is never touched.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from .rpmrepo import Pkg, build_packages, run

DBPATH = "/var/lib/rpm"
EL9_DB = ("--define", f"_dbpath {DBPATH}", "--define", "_db_backend sqlite")


def why_not_rpm() -> str | None:
    """Why this host cannot make the database, or None."""
    for tool in ("rpm", "rpmbuild"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install rpm)"
    return None


def build_rpms(names: Iterable[str], topdir: Path) -> list[Path]:
    """Build an empty noarch package for each name under `topdir`; the paths of the .rpm files."""
    return build_packages([Pkg(name) for name in names], topdir)


def make_rpmdb(root: Path, rpms: Iterable[Path]) -> None:
    """Create the rpm database of the tree at `root` and record `rpms` as installed in it (no files are written)."""
    root.mkdir(parents=True, exist_ok=True)
    _rpm(root, "--initdb")
    _rpm(root, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch", "--ignoreos", *map(str, rpms))


def erase(root: Path, *names: str) -> None:
    """Remove `names` from the database of the tree at `root`."""
    _rpm(root, "-e", "--justdb", "--nodeps", "--", *names)


def copy_rpmdb(source_root: Path, root: Path) -> None:
    shutil.copytree(source_root / DBPATH.lstrip("/"), root / DBPATH.lstrip("/"))


def _rpm(root: Path, *args: str) -> None:
    run(["rpm", "--root", str(root), *EL9_DB, *args], "rpm " + " ".join(args[:1]))
