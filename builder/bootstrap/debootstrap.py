"""The Debian bootstrapper: debootstrap from the spec's repository for the suite, then every package brought to
the newest version the spec's repositories offer (all of them: the suite's updates and security ones too).

debootstrap installs from one repository, the suite's, and nothing upgrades from the others; so the tree is
then upgraded, and the packages the images need installed, in a chroot by apt itself, reading the spec's own
sources (the very deb822 files the baseline's repos item writes, with their keys) from a directory of ours
under /tmp, which the tree keeps no trace of: `apt-get update`, `apt-get dist-upgrade` and `apt-get install`,
without recommends (minbase installs none), so a package may come from any of the spec's repositories. A last
simulated dist-upgrade must find nothing to do, or the bootstrap fails: an image never leaves with a package
older than its repositories offer.
"""
from __future__ import annotations

import email.utils
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .. import host
from ..errors import BuilderError
from ..families import debian
from ..repodata import debian_state
from .tree import CHROOT_PATH, chroot_mounts

# Where the upgrade's apt reads the spec's sources and keys, inside the tree; removed afterwards.
APT_DIR = "/tmp/builder-apt"
# apt reads the spec's sources there, then the family's fixed options.
APT_OPTIONS = (f"-o=Dir::Etc::SourceList={APT_DIR}/sources.list", f"-o=Dir::Etc::SourceParts={APT_DIR}/sources.list.d",
               *(f"-o={name}={value}" for name, value in debian.FAMILY.bootstrapper.options))
# Keeps maintainer scripts from starting services in the tree while it is upgraded (invoke-rc.d asks it).
POLICY_RC_D = "/usr/sbin/policy-rc.d"


@dataclass(frozen=True)
class AptSource:
    """One of the spec's Debian repositories, as the upgrade and the mirror-state check read it."""

    baseurl: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


@dataclass(frozen=True)
class Debootstrap:
    variant: str
    suite: str
    mirror: str
    packages: tuple[str, ...]
    sources: tuple[AptSource, ...] = ()
    apt_files: tuple[tuple[str, str], ...] = ()   # (path in the tree, content): the spec's sources and embedded keys
    tools: ClassVar[tuple[str, ...]] = debian.FAMILY.bootstrapper.host_tools

    @property
    def label(self) -> str:
        return f"{self.suite}-{self.variant}"

    @property
    def origin(self) -> str:
        return f"debootstrap {self.variant} {self.suite}"

    def inputs(self) -> list:
        return ["debootstrap", self.variant, self.suite, self.mirror, sorted(self.packages),
                [[s.baseurl, list(s.suites), list(s.components)] for s in self.sources], sorted(self.apt_files)]

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        if not self.sources:  # debootstrap alone: the suite's repository only
            include = ["--include=" + ",".join(sorted(self.packages))] if self.packages else []
            return [["debootstrap", f"--variant={self.variant}", *include, self.suite, str(root), self.mirror]]
        apt = ["chroot", str(root), "apt-get", "-q", *APT_OPTIONS]
        install = [[*apt, "-y", "install", "--", *sorted(self.packages)]] if self.packages else []
        return [["debootstrap", f"--variant={self.variant}", self.suite, str(root), self.mirror],
                [*apt, "update"], [*apt, "-y", "dist-upgrade"], *install]

    def repositories(self) -> list[str]:
        return list(dict.fromkeys([self.mirror, *(s.baseurl for s in self.sources)]))

    def mirror_state(self) -> dict[str, dict]:
        """The state of every suite the tree is made from (its InRelease), as the cache records it."""
        states = [debian_state(s.baseurl, suite, s.components) for s in self.sources for suite in s.suites]
        if not self.sources:
            states.append(debian_state(self.mirror, self.suite, ("main",)))
        return {state.index: state.as_record() for state in states}

    def leave_out(self) -> tuple[str, ...]:
        # debootstrap's own log holds timings: leave it out, like apt's downloaded archives.
        return ("./debootstrap",)

    def bootstrap(self, root: Path, work: Path, log) -> int:
        _debootstrap(self, root, log)
        if self.sources:
            upgrade(self, root, log)
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        return mirror_date(root)


# debootstrap says "I: Retrieving adduser 3.134" once per package: report each phase once, with no package names.
_PHASE = re.compile(r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing|Checking|Resolving|Found|"
                    r"Base system|Chosen|Keyring)\b")


def mirror_for(spec, suite: str) -> str:
    """The spec's repository for the suite (the internal mirror): there is no default to fall back on."""
    for repo in spec.repos:
        if suite in repo.suites:
            return repo.baseurl
    raise BuilderError(f"{spec.name}: no repository in the spec serves {suite}, the suite the base tree is bootstrapped from",
                       hint=f"add to repos: {{name: debian, baseurl: http://YOUR-MIRROR/debian, suites: [{suite}]}}")


def _debootstrap(base: Debootstrap, root: Path, log) -> None:
    argv = base.commands(root)[0]
    seen: set[str] = set()
    tail: list[str] = []
    with host.started(argv, "debootstrap") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-20:]
            phase = _PHASE.match(line)
            if phase and phase.group(1) not in seen:
                seen.add(phase.group(1))
                words = line.removeprefix("I: ").split()
                # "Extracting adduser..." names the first of many packages: say what the phase does instead.
                per_package = len(words) <= 3 and words[0] in ("Retrieving", "Validating", "Extracting", "Unpacking",
                                                                "Configuring")
                log(f"debootstrap: {words[0]} packages..." if per_package and "Release" not in line
                    and "Packages" not in line else f"debootstrap: {' '.join(words)}")
    if proc.returncode:
        logfile = root / "debootstrap" / "debootstrap.log"
        if logfile.exists():
            tail += ["--- debootstrap.log:", *logfile.read_text(errors="replace").splitlines()[-20:]]
        raise BuilderError(f"debootstrap failed (exit {proc.returncode}): {' '.join(argv)}\n" + "\n".join(tail))


def upgrade(base: Debootstrap, root: Path, log) -> None:
    """Every package of the tree brought to the newest version the spec's repositories offer, and the packages
    installed, from any of them."""
    _, update, upgrade, *install = base.commands(root)
    apt_dir = root / APT_DIR.lstrip("/")
    policy = root / POLICY_RC_D.lstrip("/")
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive"}
    (apt_dir / "sources.list.d").mkdir(parents=True)
    (apt_dir / "sources.list").write_text("")
    for path, content in base.apt_files:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    policy.write_text("#!/bin/sh\n# builder: no service starts while the tree is upgraded\nexit 101\n")
    policy.chmod(0o755)
    try:
        with chroot_mounts(root):
            log(f"apt: reading the spec's repositories ({len(base.sources)} sources)")
            host.run(update, "apt-get update in the tree", env=env)
            log("apt: upgrading the tree to the newest versions they offer (dist-upgrade)")
            done = host.run(upgrade, "apt-get dist-upgrade in the tree", env=env)
            if summary := next((line for line in done.stdout.splitlines() if " upgraded, " in line), None):
                log(f"apt: {summary.strip()}")
            for argv in install:
                log(f"apt: installing {len(base.packages)} packages from the spec's repositories")
                host.run(argv, "apt-get install in the tree", env=env)
            left = host.run([*upgrade[:-2], "-s", "dist-upgrade"], "apt-get -s dist-upgrade in the tree", env=env)
            pending = [line.split()[1] for line in left.stdout.splitlines() if line.startswith("Inst ")]
            if pending:
                raise BuilderError(f"the tree still has packages older than its repositories offer after the upgrade: "
                                   f"{', '.join(pending)}", hint="a dependency of theirs is missing from the spec's repositories")
    finally:
        policy.unlink(missing_ok=True)
        shutil.rmtree(apt_dir, ignore_errors=True)


def mirror_date(root: Path) -> int:
    """The newest `Date:` of the Release files the tree was made from (debootstrap's and apt's, in its apt lists)."""
    lists = root / "var/lib/apt/lists"
    dates = []
    for path in sorted(lists.glob("*_InRelease")) + sorted(lists.glob("*_Release")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Date:"):
                dates.append(int(email.utils.parsedate_to_datetime(line.split(":", 1)[1].strip()).timestamp()))
                break
    if not dates:
        raise BuilderError(f"no Release file with a Date: field in {lists}",
                           hint="debootstrap leaves the suite's Release file there; is the mirror a Debian archive?")
    return max(dates)


