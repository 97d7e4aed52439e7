"""Leave out of the tree what a base image does not need, keeping the package database true to the disk.

Debian (dpkg): the exclusion patterns are written as dpkg path-exclude/path-include
rules in /etc/dpkg/dpkg.cfg.d/ (so a later `apt-get install` in an image built on this
one never installs those files), the matching files already in the bootstrapped tree are
removed, and every path dpkg lists for a package that is no longer on disk is dropped
from that package's .list and .md5sums. `dpkg --verify` then finds nothing missing.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
from pathlib import Path

from .. import rpmdb
from ..baseline.model import locale_charset
from ..bootstrap.definition import ImageDefinition
from ..bootstrap.dnf import install_langs
from ..errors import BuilderError

DPKG_EXCLUDES = "/etc/dpkg/dpkg.cfg.d/90-builder-container"
RPM_MACROS = "/etc/rpm/macros.builder-container"


def uses_rpm(definition: ImageDefinition) -> bool:
    """The tree keeps an rpm database: its family has one for the release (builder.families: rpmdb; the definition's
    bootstrap.dbpath is the family's)."""
    return bool(definition.bootstrap.dbpath)


def install_rules(definition: ImageDefinition, locale: str, root: Path) -> tuple[str, str]:
    """(path, content) of the file that keeps later package installs in the image as lean as the strip left it."""
    if uses_rpm(definition):
        return RPM_MACROS, ("# Written by builder: no docs and only the image's languages in later installs.\n"
                            f"%_excludedocs 1\n%_install_langs {install_langs(locale)}\n")
    return DPKG_EXCLUDES, dpkg_excludes(definition, locale, root)


def kept(definition: ImageDefinition, locale: str, root: Path) -> tuple[str, ...]:
    """Every path-include rule: the definition's, the spec's language, the sources of the spec's locale."""
    return (*definition.include, *language_includes(locale), *locale_source_includes(root, locale))


def language_includes(locale: str) -> tuple[str, ...]:
    """path-include rules that keep the message catalogs of the spec's own language."""
    lang = locale.split(".")[0].split("@")[0]
    if lang in ("C", "POSIX"):
        return ()
    short = lang.split("_")[0]
    return tuple(dict.fromkeys([f"/usr/share/locale/{short}/*", f"/usr/share/locale/{lang}/*"]))


LOCALE_SOURCES = "/usr/share/i18n/locales"
CHARMAPS = "/usr/share/i18n/charmaps"
_LOCALE_REFERENCE = re.compile(r'^[ \t]*(?:copy|include)[ \t]+"([A-Za-z0-9_@.+-]+)"', re.M)


def locale_source_includes(root: Path, locale: str) -> tuple[str, ...]:
    """path-include rules for the localedef sources of the spec's locale: its source, what that copies or includes
    (transitively), and its charmap.

    locales' postinst runs locale-gen on every upgrade, and locale-gen rebuilds the whole archive from these
    sources: were they left out with the rest of /usr/share/i18n, an upgrade of glibc in an image built on this
    one would silently leave it without the spec's locale. Other locales need their sources back (see the rules file).
    """
    name = re.sub(r"\.[^@]*", "", locale)  # en_US.UTF-8 -> en_US; xx_YY.UTF-8@mod -> xx_YY@mod
    if name in ("C", "POSIX"):
        return ()
    sources = root / LOCALE_SOURCES.lstrip("/")
    seen: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen or not (sources / current).is_file():
            continue
        seen.append(current)
        pending += _LOCALE_REFERENCE.findall((sources / current).read_text(encoding="latin-1"))
    return (*(f"{LOCALE_SOURCES}/{source}" for source in sorted(seen)), f"{CHARMAPS}/{locale_charset(locale)}.gz")


def dpkg_excludes(definition: ImageDefinition, locale: str, root: Path) -> str:
    lines = ["# Written by builder: files a container base image leaves out (dpkg never installs them).",
             "# To have some back in an image built on this one, delete their path-exclude line and reinstall",
             "# the package that owns them (apt-get install --reinstall PACKAGE)."]
    lines += [f"path-exclude={pattern}" for pattern in definition.exclude]
    lines += [f"path-include={pattern}" for pattern in kept(definition, locale, root)]
    return "\n".join(lines) + "\n"


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def strip_tree(root: Path, definition: ImageDefinition, locale: str) -> list[str]:
    """Remove excluded and leftover files; returns the removed paths (tree paths, sorted)."""
    includes = kept(definition, locale, root)
    owned = rpm_owned(root, definition.bootstrap.dbpath) if uses_rpm(definition) else set()
    removed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        here = "/" + Path(dirpath).relative_to(root).as_posix().lstrip(".")
        if here.split("/")[1] in ("proc", "sys", "dev"):
            continue
        for name in sorted(filenames + dirnames):
            full, path = os.path.join(dirpath, name), here.rstrip("/") + "/" + name
            if not _matches(path, definition.exclude) or _matches(path, includes) or path in owned:
                continue
            if os.path.islink(full) or not os.path.isdir(full):
                os.unlink(full)
                removed.append(path)
            elif not os.listdir(full):  # a directory goes once its contents have (topdown=False)
                os.rmdir(full)
                removed.append(path)
    if uses_rpm(definition):
        # The database closed (sqlite: in one file; Berkeley DB: no environment regions), and no lock of the
        # bootstrap's rpm left beside it (they belong to no package).
        removed += [f"{definition.bootstrap.dbpath}/{name}"
                    for name in rpmdb.settle(root / definition.bootstrap.dbpath.lstrip("/"))]
        lock = f"{definition.bootstrap.dbpath}/.rpm.lock"
        if (root / lock.lstrip("/")).is_file():
            (root / lock.lstrip("/")).unlink()
            removed.append(lock)
    for pattern in definition.remove:
        for path in sorted(_glob(root, pattern)):
            target = root / path.lstrip("/")
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
            removed.append(path)
    _forget_missing(root)
    return sorted(removed)


def rpm_query(root: Path, dbpath: str, fmt: str) -> list[str]:
    """The lines of `rpm -qa --qf FMT` on the tree's database (a private copy: the tree is not touched)."""
    proc = rpmdb.query(root / dbpath.lstrip("/"), ["-qa", "--qf", fmt])
    if proc.returncode or "error:" in proc.stderr:
        raise BuilderError(f"rpm -qa on the tree's database {dbpath} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout.splitlines()


def rpm_owned(root: Path, dbpath: str) -> set[str]:
    """Every path the tree's packages own (installed or not: a %doc left out is still theirs)."""
    return {line for line in rpm_query(root, dbpath, "[%{FILENAMES}\n]") if line.startswith("/")}


def _glob(root: Path, pattern: str) -> list[str]:
    """Tree paths matching an absolute pattern, without following the tree's symlinks out of it."""
    parts = [p for p in pattern.split("/") if p]
    found = ["/"]
    for part in parts:
        nxt = []
        for base in found:
            host = root / base.lstrip("/")
            if host.is_symlink() or not host.is_dir():
                continue
            for name in sorted(os.listdir(host)):
                if fnmatch.fnmatchcase(name, part):
                    nxt.append(base.rstrip("/") + "/" + name)
        found = nxt
    return found


def _forget_missing(root: Path) -> None:
    """Drop from dpkg's file lists every path that is no longer on disk."""
    info = root / "var/lib/dpkg/info"
    for listing in sorted(info.glob("*.list")):
        lines = listing.read_text(errors="surrogateescape").splitlines()
        kept = [line for line in lines if line in ("/", "/.") or os.path.lexists(_host(root, line))]
        if kept != lines:
            _rewrite(listing, kept)
            gone = set(lines) - set(kept)
            sums = listing.with_suffix(".md5sums")
            if sums.exists():
                old = sums.read_text(errors="surrogateescape").splitlines()
                new = [line for line in old if "/" + line.split("  ", 1)[-1] not in gone]
                if new != old:
                    _rewrite(sums, new)


def _host(root: Path, path: str) -> str:
    """The host path of a dpkg path, resolving the tree's own directory symlinks (/lib -> usr/lib) inside it."""
    parts = [p for p in path.split("/") if p]
    current = root
    for index, part in enumerate(parts):
        nxt = current / part
        if index < len(parts) - 1 and nxt.is_symlink():
            target = os.readlink(nxt)
            nxt = (root / target.lstrip("/")) if target.startswith("/") else (current / target)
        current = nxt
    return str(current)


def _rewrite(path: Path, lines: list[str]) -> None:
    st = path.stat()
    path.write_text("".join(line + "\n" for line in lines), errors="surrogateescape")
    os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# ---------------------------------------------------------------- what takes the space


def package_sizes(root: Path, definition: ImageDefinition | None = None) -> list[tuple[str, int]]:
    """(package, bytes of its files on disk), biggest first; a hard-linked file counts once (dpkg; rpm's own sizes)."""
    if definition is not None and uses_rpm(definition):
        rows = [line.split("\t") for line in rpm_query(root, definition.bootstrap.dbpath, "%{NAME}\t%{SIZE}\n")]
        return sorted(((name, int(size)) for name, size in rows), key=lambda item: (-item[1], item[0]))
    seen: set[tuple[int, int]] = set()
    sizes: list[tuple[str, int]] = []
    for listing in sorted((root / "var/lib/dpkg/info").glob("*.list")):
        total = 0
        for line in listing.read_text(errors="surrogateescape").splitlines():
            try:
                st = os.lstat(_host(root, line))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
        sizes.append((listing.stem.split(":")[0], total))
    return sorted(sizes, key=lambda item: (-item[1], item[0]))


def directory_sizes(root: Path, depth: int = 3) -> list[tuple[str, int]]:
    """(directory at most `depth` deep, bytes below it), biggest first."""
    sizes: dict[str, int] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).parts
        key = "/" + "/".join(rel[:depth])
        for name in filenames:
            with_stat = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(with_stat.st_mode):
                sizes[key] = sizes.get(key, 0) + with_stat.st_size
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
