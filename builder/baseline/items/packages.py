"""The packages item: the baseline's packages (the spec's `packages`, the classic toolset and each item's own) installed.

`install_packages` is also the pre-pull installer's package step (script.py)."""
from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ... import rpmdb
from ...families import PackageFormat
from ...packages import toolset
from ..results import Check, Result, failed, not_applicable, passed
from ..rootfs import RootFS, RootfsError, parse_dpkg_status, rpm_database
from .unit import Step, Unit, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "packages"


def step(b: BaselineView) -> list[str]:
    return install_packages(b, b.packages)


def install_packages(b: BaselineView, wanted) -> list[str]:
    names = " ".join(quote(n) for n in wanted)
    if not names:
        return []
    if b.facts.package_format is PackageFormat.RPM:
        return [
            "missing=()",
            f"for p in {names}; do rpm -q --quiet -- \"$p\" || missing+=(\"$p\"); done",
            'if [ ${#missing[@]} -gt 0 ]; then dnf -y install -- "${missing[@]}"; fi',
        ]
    return [
        "missing=()",
        f"for p in {names}; do",
        "    [ \"$(dpkg-query -W -f='${Status}' -- \"$p\" 2>/dev/null)\" = 'install ok installed' ] || missing+=(\"$p\")",
        "done",
        'if [ ${#missing[@]} -gt 0 ]; then',
        '    DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends -- "${missing[@]}"',
        "fi",
    ]


def check(c: Check) -> Iterator[Result]:
    wanted = c.baseline.packages
    if c.baseline.facts.package_format is PackageFormat.DPKG:
        status = c.fs.read_text("/var/lib/dpkg/status")
        if status is None:
            yield failed(NAME, "/var/lib/dpkg/status is missing")
            return
        installed = parse_dpkg_status(status)
        missing = [name for name in wanted if name not in installed]
    else:
        rpm = shutil.which("rpm")
        if rpm is None:
            yield not_applicable(NAME, "rpm is not available on this host")
            return
        missing = _rpm_missing(rpm, c.fs, wanted)
    if missing:
        yield failed(NAME, f"not installed: {', '.join(missing)}")
    else:
        yield passed(NAME, f"all {len(wanted)} baseline packages are installed")


def _rpm_missing(rpm: str, fs: RootFS, names: Iterable[str]) -> list[str]:
    source = rpm_database(fs)
    try:
        proc = rpmdb.query(source, ["-q", "--qf", "%{NAME}\\n", "--", *names], rpm=rpm)
    except rpmdb.TimedOut:
        raise RootfsError("rpm -q did not answer within 300 s") from None
    missing = re.findall(r"^package (\S+) is not installed$", proc.stdout + proc.stderr, re.MULTILINE)
    if proc.returncode and not missing:
        raise RootfsError(f"rpm -q on {source} failed: {(proc.stderr.strip().splitlines() or ['?'])[0]}")
    return missing


def the_toolset(b: BaselineView) -> list[str]:
    """The classic ops toolset under the target's names, when the spec asks for it (packages.toolset)."""
    return toolset(b.info) if b.spec.packages.toolset else []


UNIT = register(Unit(
    NAME, "`packages`", (Step("packages", step),),
    writes="installs what is missing (no-op after `%packages`); the spec's `@group`s and `@^environment` are "
           "installed by `%packages` and by the image bootstrap's `dnf install`, from the mirror's comps data",
    check=check, checked="rpm db / dpkg status (packages; groups are not checked)",
    kickstart="`%packages` `@^minimal-environment` (or the spec's `@^environment`), the spec's `@group`s, list, `-excluded`",
    packages=the_toolset, package_order=40,
))
