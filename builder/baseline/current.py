"""Whether a tree's packages are the newest its spec's repositories offer (`builder verify`).

The repositories are read as the build read them (builder.repodata: a Debian suite's Packages
indices, an EL repository's primary metadata), the installed versions from the tree's dpkg status
or rpm database, and the two ordered as dpkg and rpm order them (builder.versions). A package no
repository offers (installed from elsewhere) is not judged. Repositories that cannot be read make the
check "not checked" (n/a, with the reason), never a pass.
"""
from __future__ import annotations

import re
import shutil

from .. import rpmdb
from ..errors import BuilderError
from ..families import PackageFormat, RepoFormat
from ..repodata import debian_offered, el_offered, keep_newest
from ..versions import debian_compare, rpm_compare
from .items.packages import NAME as PACKAGES
from .results import Check, Result, failed, not_applicable, passed
from .rootfs import RootfsError, dpkg_versions, rpm_database

ITEM = f"{PACKAGES} (current)"
SHOWN = 12   # stale packages named in the result; the rest counted


def offered_versions(spec) -> dict[str, str]:
    """The newest version of each package the spec's repositories offer, across all of them."""
    info = spec.target.info
    if info.facts.repo_files.format is RepoFormat.DNF:
        variables = tuple(sorted({"releasever": str(info.major), **info.dnf_variables}.items()))
        indices = [el_offered(repo.baseurl, variables) for repo in spec.repos]
    else:
        indices = [debian_offered(repo.baseurl, suite, tuple(repo.components)) for repo in spec.repos for suite in repo.suites]
    offered: dict[str, str] = {}
    compare = _compare(spec)
    for index in indices:
        for name, version in index.items():
            keep_newest(offered, name, version, compare)
    return offered


def _compare(spec):
    return rpm_compare if spec.target.info.facts.package_format is PackageFormat.RPM else debian_compare


def installed_versions(c: Check) -> dict[str, str]:
    if c.baseline.facts.package_format is PackageFormat.DPKG:
        status = c.fs.read_text("/var/lib/dpkg/status")
        if status is None:
            raise RootfsError("/var/lib/dpkg/status is missing")
        return dpkg_versions(status)
    rpm = shutil.which("rpm")
    if rpm is None:
        raise RootfsError("rpm is not available on this host")
    try:
        proc = rpmdb.query(rpm_database(c.fs), ["-qa", "--qf", "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n"], rpm=rpm)
    except rpmdb.TimedOut:
        raise RootfsError("rpm -qa did not answer within 300 s") from None
    if proc.returncode:
        raise RootfsError(f"rpm -qa failed: {(proc.stderr.strip().splitlines() or ['?'])[0]}")
    return {name: evr for name, evr in (line.split() for line in proc.stdout.splitlines() if re.fullmatch(r"\S+ \S+", line))
            if name != "gpg-pubkey"}


def check_current(c: Check) -> list[Result]:
    if not c.spec.repos:
        return [not_applicable(ITEM, "the spec names no repositories to compare with")]
    try:
        installed = installed_versions(c)
    except RootfsError as exc:
        return [failed(ITEM, str(exc))]
    try:
        offered = offered_versions(c.spec)
    except BuilderError as exc:
        return [not_applicable(ITEM, f"not checked: the spec's repositories could not be read ({exc})")]
    compare = _compare(c.spec)
    judged = [name for name in installed if name in offered]
    stale = sorted(name for name in judged if compare(installed[name], offered[name]) < 0)
    if not stale:
        return [passed(ITEM, f"all {len(judged)} installed packages the spec's {len(c.spec.repos)} repositories offer "
                             f"are the newest they offer ({len(installed) - len(judged)} others not offered there)")]
    named = ", ".join(f"{name} {installed[name]} ({offered[name]} offered)" for name in stale[:SHOWN])
    more = f" and {len(stale) - SHOWN} more" if len(stale) > SHOWN else ""
    return [failed(ITEM, f"{len(stale)} of {len(judged)} installed packages are older than the spec's repositories "
                         f"offer: {named}{more} (rebuild: a build takes the repositories' current state)")]
