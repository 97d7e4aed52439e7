"""The Debian bootstrapper: debootstrap from the spec's repository for the suite."""
from __future__ import annotations

import email.utils
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .. import host
from ..errors import BuilderError


@dataclass(frozen=True)
class Debootstrap:
    variant: str
    suite: str
    mirror: str
    packages: tuple[str, ...]
    tools: ClassVar[tuple[str, ...]] = ("debootstrap",)

    @property
    def label(self) -> str:
        return f"{self.suite}-{self.variant}"

    @property
    def origin(self) -> str:
        return f"debootstrap {self.variant} {self.suite}"

    def inputs(self) -> list:
        return ["debootstrap", self.variant, self.suite, self.mirror, sorted(self.packages)]

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        include = ["--include=" + ",".join(sorted(self.packages))] if self.packages else []
        return [["debootstrap", f"--variant={self.variant}", *include, self.suite, str(root), self.mirror]]

    def repositories(self) -> list[str]:
        return [self.mirror]

    def leave_out(self) -> tuple[str, ...]:
        # debootstrap's own log holds timings: leave it out, like apt's downloaded archives.
        return ("./debootstrap",)

    def bootstrap(self, root: Path, work: Path, log) -> int:
        _debootstrap(self, root, log)
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        return mirror_date(root, self.suite)


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
    [argv] = base.commands(root)
    seen: set[str] = set()
    tail: list[str] = []
    with host.started(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True) as proc:
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


def mirror_date(root: Path, suite: str) -> int:
    """The `Date:` of the suite's Release file that debootstrap fetched (left in the tree's apt lists)."""
    lists = root / "var/lib/apt/lists"
    for path in sorted(lists.glob(f"*_dists_{suite}_InRelease")) + sorted(lists.glob(f"*_dists_{suite}_Release")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Date:"):
                return int(email.utils.parsedate_to_datetime(line.split(":", 1)[1].strip()).timestamp())
    raise BuilderError(f"no Release file of {suite} with a Date: field in {lists}",
                       hint="debootstrap leaves the suite's Release file there; is the mirror a Debian archive?")


