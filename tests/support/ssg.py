"""Score a root tree with the SCAP Security Guide, offline: `oscap-chroot TREE xccdf eval`.

Debian 12's data stream ships only in the `ssg-debian` package of a newer suite (trixie), from
the same mirror this host's APT sources name: it is fetched with `apt-get download` under an APT
configuration of its own (its own sources list, lists, cache and empty parts directory: the host's
APT state is neither read nor changed), unpacked with `dpkg-deb -x` and cached in the test cache.
The scanner's dpkg probe initialises APT from the host's configuration before it switches to the
tree; it runs with APT_CONFIG naming an empty parts directory, so no host setting can break it
(one did here: "dpkginfo_init has failed", and every package-dependent rule turned n/a).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .debootstrap import cache_dir
from .mirror import debian_mirror

PACKAGE = "ssg-debian"
SUITE = "trixie"  # the first suite whose ssg-debian carries the Debian 12 data stream
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
DATASTREAM = Path("usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml")

# The profiles we compare on: short name -> XCCDF profile id in ssg-debian12-ds.xml.
PROFILES: Mapping[str, str] = MappingProxyType({
    "standard": "xccdf_org.ssgproject.content_profile_standard",
    "anssi_bp28_minimal": "xccdf_org.ssgproject.content_profile_anssi_bp28_minimal",
    "anssi_bp28_intermediary": "xccdf_org.ssgproject.content_profile_anssi_bp28_intermediary",
})
RULE_PREFIX = "xccdf_org.ssgproject.content_rule_"
XCCDF = {"x": "http://checklists.nist.gov/xccdf/1.2"}


def why_not_oscap() -> str | None:
    missing = [t for t in ("oscap", "oscap-chroot", "apt-get", "dpkg-deb") if shutil.which(t) is None]
    if missing:
        return f"missing on this host: {', '.join(missing)} (apt-get install openscap-scanner openscap-utils)"
    if not KEYRING.exists():
        return f"{KEYRING} is missing (apt-get install debian-archive-keyring)"
    return None


@dataclass(frozen=True)
class Content:
    datastream: Path
    version: str
    """The ssg-debian package version the data stream came from."""


def content() -> Content:
    """The SSG data stream for Debian 12: fetched and unpacked the first time, from the test cache afterwards."""
    mirror = debian_mirror()
    key = hashlib.sha256(f"{PACKAGE} {SUITE} {mirror}".encode()).hexdigest()[:16]
    root = cache_dir() / f"{PACKAGE}-{key}"
    if not (root / DATASTREAM).exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        with open(root.parent / f".{root.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (root / DATASTREAM).exists():
                _fetch(mirror, root)
    return Content(root / DATASTREAM, (root / "VERSION").read_text().strip())


def _fetch(mirror: str, root: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=".ssg-fetch.", dir=root.parent) as tmp:
        work = Path(tmp)
        conf = _apt_config(work, sources=f"deb [signed-by={KEYRING}] {mirror} {SUITE} main\n")
        env = {**os.environ, "APT_CONFIG": str(conf)}
        _run(["apt-get", "-q", "update"], env, "apt-get update (trixie, private lists)")
        (work / "debs").mkdir()
        _run(["apt-get", "-q", "download", PACKAGE], env, f"apt-get download {PACKAGE}", cwd=work / "debs")
        deb = next((work / "debs").glob(f"{PACKAGE}_*.deb"))
        unpacked = work / "root"
        _run(["dpkg-deb", "-x", str(deb), str(unpacked)], env, f"dpkg-deb -x {deb.name}")
        version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        (unpacked / "VERSION").write_text(version + "\n")
        if not (unpacked / DATASTREAM).exists():
            raise RuntimeError(f"{deb.name} has no {DATASTREAM}")
        os.replace(unpacked, root)


def _apt_config(work: Path, sources: str = "") -> Path:
    """An APT configuration that reads and writes only under `work` (no host parts, sources or state)."""
    for name in ("parts", "preferences.d", "lists/partial", "cache/archives/partial"):
        (work / name).mkdir(parents=True, exist_ok=True)
    (work / "sources.list").write_text(sources)
    (work / "status").touch()
    conf = work / "apt.conf"
    conf.write_text("".join(f'{key} "{value}";\n' for key, value in (
        ("Dir::Etc::parts", work / "parts"),
        ("Dir::Etc::sourcelist", work / "sources.list"),
        ("Dir::Etc::sourceparts", work / "parts"),
        ("Dir::Etc::preferences", work / "preferences"),
        ("Dir::Etc::preferencesparts", work / "preferences.d"),
        ("Dir::State::lists", work / "lists"),
        ("Dir::State::status", work / "status"),
        ("Dir::Cache", work / "cache"),
        ("Acquire::Languages", "none"),
        ("APT::Sandbox::User", "root"),  # _apt could not write into our private directories
    )))
    return conf


def _probe_apt_config(work: Path) -> Path:
    """The scanner's APT configuration: no host parts, and nothing else (the probe points Dir at the tree)."""
    parts = work / "parts"
    parts.mkdir()
    conf = work / "apt.conf"
    conf.write_text(f'Dir::Etc::parts "{parts}";\n')
    return conf


@dataclass(frozen=True)
class Score:
    profile: str
    score: float
    results: Mapping[str, str]
    """Rule (without the content prefix) -> result (pass, fail, notapplicable, ...), selected rules only."""

    def rules(self, result: str) -> set[str]:
        return {rule for rule, have in self.results.items() if have == result}


def evaluate(tree: Path, profile: str, datastream: Path, work: Path) -> Score:
    """Score `tree` (read only) on one profile; the XCCDF results are kept in `work`."""
    results = work / f"{profile}.results.xml"
    with tempfile.TemporaryDirectory(prefix="ssg-apt.") as probe_apt:
        env = {**os.environ, "APT_CONFIG": str(_probe_apt_config(Path(probe_apt)))}
        proc = subprocess.run(["oscap-chroot", str(tree), "xccdf", "eval", "--profile", PROFILES[profile],
                               "--results", str(results), str(datastream)],
                              capture_output=True, text=True, env=env, timeout=3600, check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("E:")]
    # 2: some rule failed (the normal case); anything else, or an error line, is a scanner problem.
    if proc.returncode not in (0, 2) or errors or not results.exists():
        raise RuntimeError(f"oscap-chroot {tree} ({profile}) exit {proc.returncode}: "
                           + "\n".join(errors or proc.stderr.splitlines()[-20:]))
    (work / f"{profile}.stdout.txt").write_text(proc.stdout)
    return parse_results(profile, results)


def parse_results(profile: str, path: Path) -> Score:
    test = ET.parse(path).getroot().find(".//x:TestResult", XCCDF)
    if test is None:
        raise RuntimeError(f"{path}: no TestResult")
    score = next(s for s in test.findall("x:score", XCCDF) if s.get("system") == "urn:xccdf:scoring:default")
    results = {}
    for rule in test.findall("x:rule-result", XCCDF):
        result = rule.findtext("x:result", namespaces=XCCDF)
        if result != "notselected":
            results[rule.get("idref").removeprefix(RULE_PREFIX)] = result
    return Score(profile, float(score.text), MappingProxyType(results))


@dataclass(frozen=True)
class Comparison:
    ours: Score
    stock: Score

    @property
    def at_least_stock(self) -> bool:
        return self.ours.score >= self.stock.score

    @property
    def worse(self) -> list[str]:
        """Rules that fail in ours and pass (or do not apply) in stock."""
        return sorted(r for r in self.ours.rules("fail") if self.stock.results.get(r) in ("pass", "notapplicable"))

    @property
    def better(self) -> list[str]:
        return sorted(r for r in self.stock.rules("fail") if self.ours.results.get(r) in ("pass", "notapplicable"))

    @property
    def failing(self) -> list[str]:
        return sorted(self.ours.rules("fail"))


def compare_trees(ours: Path, stock: Path, work: Path, profiles=tuple(PROFILES)) -> dict[str, Comparison]:
    ds = content().datastream
    out = {}
    for profile in profiles:
        (work / "ours").mkdir(parents=True, exist_ok=True)
        (work / "stock").mkdir(parents=True, exist_ok=True)
        out[profile] = Comparison(evaluate(ours, profile, ds, work / "ours"), evaluate(stock, profile, ds, work / "stock"))
    return out


def report(comparisons: Mapping[str, Comparison]) -> Iterator[str]:
    """Lines: the score per profile, then per profile the rules that fail in ours (marked when stock passes them)."""
    yield f"{'profile':<26} {'ours':>6} {'stock':>6}"
    for profile, c in comparisons.items():
        yield f"{profile:<26} {c.ours.score:6.1f} {c.stock.score:6.1f}" + ("" if c.at_least_stock else "   BELOW STOCK")
    for profile, c in comparisons.items():
        worse = set(c.worse)
        yield ""
        yield f"{profile}: {len(c.failing)} rules fail in ours ({len(worse)} of them pass or do not apply in stock: *)"
        for rule in c.failing:
            yield f"  {'*' if rule in worse else ' '} {rule}"
        if c.better:
            yield f"  fail in stock, pass in ours: {', '.join(c.better)}"


def _run(argv: list[str], env: Mapping[str, str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(env), cwd=cwd, timeout=1800, check=False)
    if proc.returncode:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(proc.stderr.splitlines()[-20:]))
