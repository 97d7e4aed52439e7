"""A Berkeley-DB-writing rpm for the EL 8 stand-in repository: Debian 11's rpm 4.16, fetched from the mirror this host's
APT sources name.

EL 8's rpm (4.14) writes only Berkeley DB; the host's rpm (Debian 12's 4.18) writes only sqlite and reads Berkeley DB
read-only. Debian 11 (`bullseye`, on the same mirror as the host's suites) ships rpm 4.16, whose default backend is
Berkeley DB (its macros: `%_db_backend bdb`), so a tree whose own rpm is that one proves the conversion the EL 8
bootstrap does (export with the host's rpm, import with the tree's) and everything downstream that reads the result.

`fetch(directory)` downloads the debs with `apt-get download` under an APT configuration of its own (APT_CONFIG: its
own sources list naming only bullseye, its own state and cache, an empty parts directory, so nothing of the host's
APT setup is read or changed) and unpacks them with `dpkg-deb -x`. The mirror is taken from the host's sources at
run time (support.mirror), never written anywhere but that private sources list.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .mirror import EXAMPLE_MIRROR, MIRRORS, debian_mirror

SUITE = "bullseye"
# The rpm binaries and what `ldd` finds missing on the host with only these: librpm/librpmio 9 are Debian 12's sonames
# too (their files are replaced in the stand-in), rpm-common holds the macros and rpmrc, liblua5.2 is not on Debian 12.
PACKAGES = ("rpm", "rpm-common", "librpm9", "librpmio9", "liblua5.2-0")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def why_not() -> str | None:
    """Why this host cannot fetch the stand-in (no mirror in its APT sources, no keyring), or None."""
    if not KEYRING.is_file():
        return f"{KEYRING} is missing (apt-get install debian-archive-keyring)"
    if f"{EXAMPLE_MIRROR}/debian" not in MIRRORS:
        return f"this host's APT sources name no Debian mirror to fetch {SUITE} from"
    return None


def apt_config(directory: Path, mirror: str) -> Path:
    """An APT configuration that reads nothing of the host's: its sources list (bullseye only), state, cache and parts."""
    for sub in ("lists/partial", "archives/partial", "parts", "preferences.d"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / "status").touch()
    (directory / "sources.list").write_text(f"deb [signed-by={KEYRING}] {mirror} {SUITE} main\n")
    config = directory / "apt.conf"
    config.write_text("".join(f'{key} "{value}";\n' for key, value in (
        ("Dir::Etc::SourceList", directory / "sources.list"), ("Dir::Etc::SourceParts", directory / "parts"),
        ("Dir::Etc::Parts", directory / "parts"), ("Dir::Etc::Preferences", directory / "preferences"),
        ("Dir::Etc::PreferencesParts", directory / "preferences.d"), ("Dir::State::Lists", directory / "lists"),
        ("Dir::State::status", directory / "status"), ("Dir::Cache", directory),
        ("Dir::Cache::Archives", directory / "archives"), ("APT::Architecture", "amd64"),
        ("Acquire::Languages", "none"), ("APT::Sandbox::User", "root"))))
    return config


def fetch(directory: Path) -> Path:
    """Debian 11's rpm, unpacked into `directory`/tree (usr/bin/rpm, usr/bin/rpmdb, usr/lib/rpm/, its libraries in
    usr/lib/x86_64-linux-gnu); returns that tree."""
    env = {**os.environ, "APT_CONFIG": str(apt_config(directory / "apt", debian_mirror()))}
    debs = directory / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for argv, cwd in ((["apt-get", "update"], directory), (["apt-get", "download", *PACKAGES], debs)):
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    tree = directory / "tree"
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    return tree
