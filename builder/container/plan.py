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

A plan layer that holds only package files (distribution, packages) is split by source package
(`package_groups`) when the plan allows more than one layer for it: a layer per big source
package, the small ones packed by update history, ordered by expected update rate per byte (lowest first).
Docker re-fetches every layer above the first one a node lacks (its download manager looks
layers up by chain ID), so the order decides what a security update costs a Docker node;
podman and containerd reuse any layer they hold, wherever it sits. A source package's update
history is the number of stable updates its changelog records (Debian: entries for the
bootstrap's suite, like bookworm or bookworm-security; EL: entries of a z-stream release,
like 1.2-3.el9_4), read as the packages installed it, before the docs are stripped.

The epoch (SOURCE_DATE_EPOCH: the mirror state's date) moves with every update of the mirror, and
what the build made is dated by it. So that a package layer changes only when its packages do,
what the build made among the package files (dpkg's records) and every directory it made are
dated 1970-01-01 (layer.UNDATED) instead; files keep the dates their packages gave them. The rule
depends on the path alone, not on the plan, so every plan makes the same tree.

A layer holds its own paths and their parent directories. Below the layer holding the
configuration, a directory is written as the snapshot had it, so a baseline that adds
a file to /etc changes no lower layer; the configuration layer carries the directory
as it ends up. Paths never repeat across layers (directories aside), so no whiteout is
ever needed and applying the layers in order gives exactly the one-layer tree.
"""
from __future__ import annotations

import fnmatch
import gzip
import os
import posixpath
import re
import stat
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..baseline.rootfs import dpkg_installed
from ..host import raise_if_interrupted
from ..spec import Compression, LayerContent
from .layer import Layer, tree_entries, write_layer
from .strip import rpm_query

DPKG_INFO = "var/lib/dpkg/info"
DPKG_STATUS = "var/lib/dpkg/status"

Snapshot = dict[str, os.stat_result]
Plan = tuple[tuple[LayerContent, ...], ...]
PACKAGE_CONTENTS = frozenset({LayerContent.DISTRIBUTION, LayerContent.PACKAGES})
# Small source packages are packed by how often they were updated: (the fewest updates of a tier, its name).
HISTORY_TIERS = ((0, "never updated"), (1, "updated once"), (2, "updated 2-3 times"), (4, "updated 4+ times"))
CHANGELOG_BYTES = 4 << 20     # the most of one decompressed changelog read
# A source package's expected update rate is its stable updates so far plus this: one never updated is updated
# still, less often (in the examples' tree, 7 of 95 never-updated sources against 14 of 31 updated ones took a
# fix in one security round). A packed layer changes when any member does: its rate is the members' sum.
NEVER_UPDATED_RATE = 0.5


@dataclass(frozen=True)
class PlannedLayer:
    contents: tuple[LayerContent, ...]
    layer: Layer
    entries: int
    group: str = ""     # a split package layer: the source package, or the small ones' tier

    @property
    def name(self) -> str:
        return "+".join(self.contents) + (f" ({self.group})" if self.group else "")


def snapshot(root: Path) -> Snapshot:
    """The tree's paths and their lstat, as the package install left them."""
    return {rel: os.lstat(root / rel) for rel in tree_entries(root)}


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    fields = ("st_mode", "st_uid", "st_gid", "st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
    return all(getattr(before, name) == getattr(after, name) for name in fields)


def dpkg_packages(root: Path) -> dict[str, dict[str, str]]:
    """Installed package name -> its dpkg status fields (lower-case names)."""
    return {fields["package"]: fields for fields in dpkg_installed((root / DPKG_STATUS).read_text(errors="surrogateescape"))}


def package_priorities(root: Path) -> dict[str, str]:
    """Installed package name -> its Priority, from dpkg's status file."""
    return {name: fields.get("priority", "optional") for name, fields in dpkg_packages(root).items()}


def _source_name(fields: dict[str, str]) -> str:
    """dpkg's Source field without its version ("openssl (3.0.11-1)"), or the package's own name."""
    return (fields.get("source") or fields["package"]).split()[0]


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
    stable_update: str = ""     # regex: a changelog entry of a stable update (see update_history)
    package_layers: int = 1     # the most layers a plan layer of package files is split into


def rpm_packages(root: Path, dbpath: str) -> tuple[dict[str, set[str]], set[str], dict[str, str]]:
    """(tree path -> owning packages, the distribution's packages, package -> its source package) from the tree's
    rpm database."""
    resolve = _dir_resolver(root)
    owned: dict[str, set[str]] = {}
    for line in rpm_query(root, dbpath, "[%{FILENAMES}\t%{=NAME}\n]"):
        path, _, package = line.partition("\t")
        parent, _, name = path.rpartition("/")
        if name:
            base = resolve(parent)
            owned.setdefault(f"{base}/{name}" if base else name, set()).add(package)
    rows = [line.split("\t") for line in rpm_query(root, dbpath, "%{NAME}\t%{INSTALLTID}\t%{SOURCERPM}\n")]
    records = [(name, int(tid), source) for name, tid, source in rows if name != "gpg-pubkey"]
    first = min((tid for _, tid, _ in records), default=0)
    sources = {name: rpm_source_name(source) or name for name, _, source in records}
    return owned, {name for name, tid, _ in records if tid == first}, sources


def rpm_source_name(sourcerpm: str) -> str:
    """The name of a source rpm file ("openssl-3.0.7-27.el9.src.rpm" -> "openssl"); "" for "(none)"."""
    if not sourcerpm.endswith(".rpm"):
        return ""
    return sourcerpm.rsplit("-", 2)[0]


@dataclass(frozen=True)
class Classified:
    """Every tree path's content (in tree order), and for package files the source package they came from."""

    contents: dict[str, LayerContent]
    sources: dict[str, str]


def classify(root: Path, before: Snapshot, rules: Rules) -> Classified:
    """Every tree path -> the content it belongs to (see the module's docstring), and the source package of each
    package file (of the owner that decided its content; the first by name when several did)."""
    rank = {content: index for index, content in enumerate(LayerContent)}
    if rules.rpm_dbpath:
        owned, distribution, source_of = rpm_packages(root, rules.rpm_dbpath)
        listed: set[str] = set()
    else:
        packages = dpkg_packages(root)
        distribution = {name for name, fields in packages.items()
                        if fields.get("priority", "optional") in rules.distribution_priorities}
        source_of = {name: _source_name(fields) for name, fields in packages.items()}
        owned = owners(root)
        listed = {listing.name.rsplit(".", 1)[0].split(":")[0] for listing in (root / DPKG_INFO).glob("*.list")}

    def of_package(package: str) -> LayerContent:
        return LayerContent.DISTRIBUTION if package in distribution else LayerContent.PACKAGES

    classes: dict[str, LayerContent] = {}
    sources: dict[str, str] = {}
    for rel in tree_entries(root):
        parent, _, name = rel.rpartition("/")
        record = name.rsplit(".", 1)[0].split(":")[0] if parent == DPKG_INFO else None
        if record in listed:
            classes[rel] = of_package(record)
            sources[rel] = source_of.get(record, record)
        elif rel not in before or not _same(before[rel], os.lstat(root / rel)):
            state = any(fnmatch.fnmatchcase("/" + rel, pattern) for pattern in rules.package_state)
            classes[rel] = LayerContent.PACKAGE_STATE if state else LayerContent.CONFIGURATION
        elif rel in owned:
            package = min(sorted(owned[rel]), key=lambda p: rank[of_package(p)])
            classes[rel] = of_package(package)
            sources[rel] = source_of.get(package, package)
        else:
            classes[rel] = LayerContent.PACKAGE_STATE
    return Classified(classes, sources)


def update_history(root: Path, rules: Rules) -> dict[str, int]:
    """Source package -> how many stable updates its changelog records (`rules.stable_update` matches one): the
    most any of its binary packages' changelogs says. Read from the tree as the packages installed it (a
    changelog the install left out counts 0)."""
    if not rules.stable_update:
        return {}
    marker = re.compile(rules.stable_update)
    history: dict[str, int] = {}
    if rules.rpm_dbpath:
        # One line per changelog entry: "Name <mail> - VERSION-RELEASE" names the build it describes.
        counts: dict[tuple[str, str], int] = {}
        for line in rpm_query(root, rules.rpm_dbpath, "[%{=NAME}\t%{=SOURCERPM}\t%{CHANGELOGNAME}\n]"):
            package, source, name = (line.split("\t", 2) + ["", ""])[:3]
            if marker.search(name):
                key = (rpm_source_name(source) or package, package)
                counts[key] = counts.get(key, 0) + 1
        for (source, _), count in counts.items():
            history[source] = max(history.get(source, 0), count)
        return history
    heading = re.compile(rb"^\S+ \([^)]*\) ([^;]*);", re.MULTILINE)
    for name, fields in dpkg_packages(root).items():
        source = _source_name(fields)
        for changelog in (f"usr/share/doc/{name}/changelog.Debian.gz", f"usr/share/doc/{name}/changelog.gz"):
            text = _read_gzip(root / changelog)
            if text is not None:
                count = sum(1 for m in heading.finditer(text) if any(marker.match(d) for d in m.group(1).decode(errors="replace").split()))
                history[source] = max(history.get(source, 0), count)
                break
    return history


def _read_gzip(path: Path) -> bytes | None:
    """A gzip file's text, at most CHANGELOG_BYTES of it; None when there is none (or it is not a regular file)."""
    try:
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as raw, gzip.GzipFile(fileobj=raw) as text:
            return text.read(CHANGELOG_BYTES)
    except (OSError, EOFError, zlib.error):
        return None


@dataclass(frozen=True)
class Group:
    """One layer of a split package layer: its name, the (content, source) pairs it holds, its place in the order."""

    name: str
    members: frozenset[tuple[LayerContent, str]]
    order: tuple


def _tier(updates: int) -> int:
    return max(index for index, (lowest, _) in enumerate(HISTORY_TIERS) if updates >= lowest)


def package_groups(classified: Classified, contents: tuple[LayerContent, ...], root: Path, history: dict[str, int],
                   most: int) -> list[Group]:
    """The layers a plan layer of package files is split into, lowest first, at most `most` of them.

    A pair (content, source package) is one unit: its files move together when the package is updated. The
    biggest units get a layer each; the rest are packed by update-history tier (HISTORY_TIERS), so a small
    library that is seldom updated does not share a layer with one updated every month.

    The order is for Docker, which fetches again every layer above the first one it lacks (podman and containerd
    fetch what they lack, in any order): lowest first by expected update rate per byte (the rate: stable updates
    so far + NEVER_UPDATED_RATE; a packed layer's is its members' sum), then bigger, then name. Swapping two
    neighbours i below j changes the expected bytes fetched again by p_j*s_i - p_i*s_j (p: chance of an update,
    s: size), so the order that fetches least sorts by p/s: big layers that seldom change at the bottom. Only the
    tree decides the groups and their order, so the same tree gives the same layers."""
    sizes: dict[tuple[LayerContent, str], int] = {}
    for rel, content in classified.contents.items():
        if content in contents:
            unit = (content, classified.sources.get(rel, ""))
            st = os.lstat(root / rel)
            sizes[unit] = sizes.get(unit, 0) + (st.st_size if stat.S_ISREG(st.st_mode) else 0)
    ranked = sorted(sizes, key=lambda unit: (-sizes[unit], unit))
    own = len(ranked)
    while own and own + len({_tier(history.get(s, 0)) for _, s in ranked[own:]}) > most:
        own -= 1
    def per_byte(units) -> float:
        rate = sum(history.get(source, 0) + NEVER_UPDATED_RATE for _, source in units)
        return rate / max(sum(sizes[unit] for unit in units), 1)

    groups = [Group(f"{content}: {source}", frozenset({(content, source)}),
                    (per_byte([(content, source)]), -sizes[(content, source)], str(content), source))
              for content, source in ranked[:own]]
    packed: dict[int, set[tuple[LayerContent, str]]] = {}
    for content, source in ranked[own:]:
        packed.setdefault(_tier(history.get(source, 0)), set()).add((content, source))
    for tier, members in packed.items():
        label = HISTORY_TIERS[tier][1]
        groups.append(Group(f"{len(members)} source package{'s' if len(members) != 1 else ''} packed, {label}", frozenset(members),
                            (per_byte(members), -sum(sizes[m] for m in members), "", label)))
    return sorted(groups, key=lambda group: group.order)


def layer_entries(classes: dict[str, LayerContent], contents: tuple[LayerContent, ...],
                  keep: Callable[[str], bool] | None = None) -> list[str]:
    """The paths of `contents` (those `keep` accepts, when given) and their parent directories, in tree order
    (`classes` is in tree order)."""
    needed: set[str] = set()
    for rel, content in classes.items():
        if content in contents and (keep is None or keep(rel)):
            needed.add(rel)
            parent = rel.rpartition("/")[0]
            while parent and parent not in needed:
                needed.add(parent)
                parent = parent.rpartition("/")[0]
    return [rel for rel in classes if rel in needed]


def splits(contents: tuple[LayerContent, ...], rules: Rules) -> bool:
    """Whether a plan layer is split by source package: it holds package files only, and the plan allows it."""
    return rules.package_layers > 1 and set(contents) <= PACKAGE_CONTENTS


def write_layers(root: Path, before: Snapshot, plan: Plan, rules: Rules, directory: Path, epoch: int,
                 compression: Compression, history: dict[str, int] | None = None) -> list[PlannedLayer]:
    """One deterministic layer blob per entry of `plan` (or per group of a split one), lowest first, in `directory`;
    `history`: update_history of the tree as installed."""
    classified = classify(root, before, rules)
    classes = classified.contents
    written: list[PlannedLayer] = []

    def undated(rel: str, st: os.stat_result) -> bool:
        """Package files and directories: what the build made of them is not dated by the epoch (module docstring)."""
        return classes[rel] in PACKAGE_CONTENTS or stat.S_ISDIR(st.st_mode)

    for contents in plan:
        stats = None if LayerContent.CONFIGURATION in contents else before
        parts: list[tuple[str, frozenset[tuple[LayerContent, str]] | None]]
        if not splits(contents, rules):
            parts = [("", None)]
        else:
            parts = [(group.name, group.members) for group in
                     package_groups(classified, contents, root, history or {}, rules.package_layers)]
        for name, members in parts:
            raise_if_interrupted()  # one layer takes seconds; an interrupted build should not write the other forty
            keep = None if members is None else (lambda rel, m=members: (classes[rel], classified.sources.get(rel, "")) in m)
            entries = layer_entries(classes, contents, keep)
            blob = write_layer(root, directory / f"layer-{len(written)}", epoch, compression, entries, stats, undated)
            written.append(PlannedLayer(contents, blob, len(entries), name))
    return written
