"""The layer plan: which layer each path of the built tree goes to, and the layers written from it.

Every path is one LayerContent, decided from the tree as the package install left it
(`snapshot`, taken before the baseline runs) and dpkg's own records:

- created or changed since the snapshot (content, mode, owner, inode): configuration, except
  the paths the definition keeps with the package state (big files the baseline regenerates
  from settings that seldom change, like the locale archive);
- else owned by a package (dpkg's .list files, the rpm database's file lists): distribution
  when the package is the distribution's, packages otherwise (the lower of its owners). On
  Debian the distribution's packages are those whose Priority is one of the definition's; on
  EL those of the bootstrap's first dnf transaction (the definition's base package set and
  what it pulled in; the spec's packages come in a second one: their INSTALLTID tells);
- else: package-state (dpkg status, debconf, the rpm database, ld.so.cache, alternatives).

dpkg's per-package records (/var/lib/dpkg/info/PKG.*) go with their package, so the
strip's rewrite of .list/.md5sums never moves them into the configuration layer.

A layer holds its own paths and their parent directories. Below the layer holding the
configuration, a directory is written as the snapshot had it, so a baseline that adds
a file to /etc changes no lower layer; the configuration layer carries the directory
as it ends up. Paths never repeat across layers (directories aside), so no whiteout is
ever needed and applying the layers in order gives exactly the one-layer tree.
"""
from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..spec import Compression, LayerContent
from .layer import Layer, tree_entries, write_layer
from .strip import rpm_query

DPKG_INFO = "var/lib/dpkg/info"
DPKG_STATUS = "var/lib/dpkg/status"

Snapshot = dict[str, os.stat_result]
Plan = tuple[tuple[LayerContent, ...], ...]


@dataclass(frozen=True)
class PlannedLayer:
    contents: tuple[LayerContent, ...]
    layer: Layer
    entries: int

    @property
    def name(self) -> str:
        return "+".join(self.contents)


def snapshot(root: Path) -> Snapshot:
    """The tree's paths and their lstat, as the package install left them."""
    return {rel: os.lstat(root / rel) for rel in tree_entries(root)}


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    fields = ("st_mode", "st_uid", "st_gid", "st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
    return all(getattr(before, name) == getattr(after, name) for name in fields)


def package_priorities(root: Path) -> dict[str, str]:
    """Installed package name -> its Priority, from dpkg's status file."""
    priorities: dict[str, str] = {}
    text = (root / DPKG_STATUS).read_text(errors="surrogateescape")
    for paragraph in text.split("\n\n"):
        fields = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and fields.get("Status", "").endswith(" installed"):
            priorities[fields["Package"]] = fields.get("Priority", "optional")
    return priorities


def _dir_resolver(root: Path) -> Callable[[str], str]:
    """dpkg directory path -> the tree path it really is, following the tree's own symlinks (/lib -> usr/lib)."""
    cache: dict[str, str] = {"": ""}

    def resolve(path: str, depth: int = 0) -> str:
        path = path.strip("/")
        if path in cache:
            return cache[path]
        parent, _, name = path.rpartition("/")
        base = resolve(parent, depth)
        rel = f"{base}/{name}" if base else name
        full = root / rel
        if depth < 40 and full.is_symlink():
            target = os.readlink(full)
            joined = target if target.startswith("/") else posixpath.join("/", base, target)
            rel = resolve(posixpath.normpath(joined), depth + 1)
        cache[path] = rel
        return rel

    return resolve


def owners(root: Path) -> dict[str, set[str]]:
    """Tree path -> the packages whose dpkg file lists name it."""
    resolve = _dir_resolver(root)
    owned: dict[str, set[str]] = {}
    for listing in sorted((root / DPKG_INFO).glob("*.list")):
        package = listing.stem.split(":")[0]
        for line in listing.read_text(errors="surrogateescape").splitlines():
            parent, _, name = line.rstrip("/").rpartition("/")
            if not name or name == ".":
                continue
            base = resolve(parent)
            owned.setdefault(f"{base}/{name}" if base else name, set()).add(package)
    return owned


@dataclass(frozen=True)
class Rules:
    """The definition's say in the plan: whose files are the distribution's, what stays with the package state,
    and where the rpm database is (empty: a dpkg tree)."""

    distribution_priorities: tuple[str, ...]
    package_state: tuple[str, ...] = ()
    rpm_dbpath: str = ""


def rpm_packages(root: Path, dbpath: str) -> tuple[dict[str, set[str]], set[str]]:
    """(tree path -> owning packages, the distribution's packages) from the tree's rpm database."""
    resolve = _dir_resolver(root)
    owned: dict[str, set[str]] = {}
    for line in rpm_query(root, dbpath, "[%{FILENAMES}\t%{=NAME}\n]"):
        path, _, package = line.partition("\t")
        parent, _, name = path.rpartition("/")
        if name:
            base = resolve(parent)
            owned.setdefault(f"{base}/{name}" if base else name, set()).add(package)
    transactions = [line.split("\t") for line in rpm_query(root, dbpath, "%{NAME}\t%{INSTALLTID}\n")]
    transactions = [(name, int(tid)) for name, tid in transactions if name != "gpg-pubkey"]
    first = min((tid for _, tid in transactions), default=0)
    return owned, {name for name, tid in transactions if tid == first}


def classify(root: Path, before: Snapshot, rules: Rules) -> dict[str, LayerContent]:
    """Every tree path -> the content it belongs to (see the module's docstring)."""
    rank = {content: index for index, content in enumerate(LayerContent)}
    if rules.rpm_dbpath:
        owned, distribution = rpm_packages(root, rules.rpm_dbpath)
        listed: set[str] = set()
    else:
        priorities = package_priorities(root)
        distribution = {name for name, priority in priorities.items() if priority in rules.distribution_priorities}
        owned = owners(root)
        listed = {listing.name.rsplit(".", 1)[0].split(":")[0] for listing in (root / DPKG_INFO).glob("*.list")}

    def of_package(package: str) -> LayerContent:
        return LayerContent.DISTRIBUTION if package in distribution else LayerContent.PACKAGES

    classes: dict[str, LayerContent] = {}
    for rel in tree_entries(root):
        parent, _, name = rel.rpartition("/")
        record = name.rsplit(".", 1)[0].split(":")[0] if parent == DPKG_INFO else None
        if record in listed:
            classes[rel] = of_package(record)
        elif rel not in before or not _same(before[rel], os.lstat(root / rel)):
            state = any(fnmatch.fnmatchcase("/" + rel, pattern) for pattern in rules.package_state)
            classes[rel] = LayerContent.PACKAGE_STATE if state else LayerContent.CONFIGURATION
        elif rel in owned:
            classes[rel] = min((of_package(p) for p in owned[rel]), key=rank.__getitem__)
        else:
            classes[rel] = LayerContent.PACKAGE_STATE
    return classes


def layer_entries(classes: dict[str, LayerContent], contents: tuple[LayerContent, ...]) -> list[str]:
    """The paths of `contents` and their parent directories, in tree order (`classes` is in tree order)."""
    needed: set[str] = set()
    for rel, content in classes.items():
        if content in contents:
            needed.add(rel)
            parent = rel.rpartition("/")[0]
            while parent and parent not in needed:
                needed.add(parent)
                parent = parent.rpartition("/")[0]
    return [rel for rel in classes if rel in needed]


def write_layers(root: Path, before: Snapshot, plan: Plan, rules: Rules, directory: Path, epoch: int,
                 compression: Compression) -> list[PlannedLayer]:
    """One deterministic layer blob per entry of `plan`, lowest first, in `directory`."""
    classes = classify(root, before, rules)
    written = []
    for index, contents in enumerate(plan):
        entries = layer_entries(classes, contents)
        stats = None if LayerContent.CONFIGURATION in contents else before
        blob = write_layer(root, directory / f"layer-{index}", epoch, compression, entries, stats)
        written.append(PlannedLayer(contents, blob, len(entries)))
    return written
