"""The repos item: the system's repositories are the spec's `repos`, each with its key; every other definition disabled.

The repository files and keys themselves are rendered by baseline/repos.py (shared with the image bootstrap)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...families import FAMILIES, RepoFormat
from .. import repos
from ..results import Check, Result, not_applicable, same_file, verdict
from ..rootfs import RootfsError
from ..shell import put_generated
from .unit import Step, Unit, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "repos"


def repo_file(b: BaselineView, repo) -> tuple[str, str]:
    """(path, content) of the system's repository file for one spec repo (see baseline/repos.py)."""
    return repos.repo_file(repo, b.family)


def repo_files(b: BaselineView) -> tuple[tuple[str, str], ...]:
    """(path, content) of every file the repos step writes: the embedded keys, then the repository files."""
    return repos.key_files(b.spec.repos, b.family) + tuple(repo_file(b, r) for r in b.spec.repos)


def step(b: BaselineView) -> list[str]:
    if not b.spec.repos:
        return []  # the spec names none: the distribution's stay
    files = repo_files(b)
    ours = [path for path, _ in files if path.endswith(b.facts.repo_files.suffix)]
    return [put_generated(path, content) for path, content in files] + repos.disable_others(ours, b.family)


def check(c: Check) -> Iterator[Result]:
    if not c.spec.repos:
        yield not_applicable(NAME, "no repositories in the spec: the distribution's are kept")
        return
    files = c.baseline.facts.repo_files
    for path, content in repo_files(c.baseline):
        yield same_file(c, NAME, path, content, show=not path.startswith(files.key_dir))
    dnf = files.format is RepoFormat.DNF
    try:
        problems = _dnf_problems(c) if dnf else _apt_problems(c)
    except RootfsError as exc:
        problems = [str(exc)]
    where = "dnf's repo files" if dnf else "APT's sources"
    yield verdict(NAME, problems, f"the enabled repositories in {where} are the spec's {len(c.spec.repos)}, "
                  "each defined once, each with its key")


def _dnf_problems(c: Check) -> list[str]:
    found = repos.definitions(c.fs, c.baseline.facts.repo_files)
    problems = _defined_twice(found, "repo id")
    enabled = {d.id: d for d in found if d.enabled}
    for definition in enabled.values():
        if not definition.id.startswith(repos.REPO_ID_PREFIX) or definition.id not in {repos.repo_id(r) for r in c.spec.repos}:
            problems.append(f"repo {definition.id} in {definition.file} is enabled and is not one of the spec's repos")
    for repo in c.spec.repos:
        have = enabled.get(repos.repo_id(repo))
        if have is None:
            problems.append(f"repo {repos.repo_id(repo)} (the spec's {repo.name}) is not enabled in any repo file")
            continue
        key = repos.repo_key(repo, c.baseline.family)
        gpgcheck = have.options.get("gpgcheck", "0").lower() in ("1", "yes", "true", "on")
        if gpgcheck != repo.gpgcheck:
            problems.append(f"repo {have.id} in {have.file} has gpgcheck {'on' if gpgcheck else 'off'}, the spec says "
                            f"{'on' if repo.gpgcheck else 'off'}")
        if key is not None and key.url_under() not in have.options.get("gpgkey", "").split():
            problems.append(f"repo {have.id} in {have.file} does not name its key {key.url_under()}")
        problems += _key_missing(c, have.id, key)
    return problems


def _apt_problems(c: Check) -> list[str]:
    found = repos.definitions(c.fs, c.baseline.facts.repo_files)
    problems = _defined_twice([d for d in found if d.enabled], "APT source",
                              ' (every `apt-get update` warns "configured multiple times")')
    expected = {}
    for repo in c.spec.repos:
        for suite in repo.suites:
            for component in repo.components:
                expected[repos.apt_target("deb", repo.baseurl, suite, component)] = repo
    reported: set[tuple[str, str]] = set()
    for definition in found:
        if definition.enabled and definition.id not in expected and (definition.id, definition.file) not in reported:
            reported.add((definition.id, definition.file))
            problems.append(f"{definition.id} in {definition.file} is enabled and is not one of the spec's repos")
    enabled = {d.id: d for d in found if d.enabled}
    for target, repo in expected.items():
        have = enabled.get(target)
        if have is None:
            problems.append(f"{target} (the spec's {repo.name}) is in no enabled APT source")
            continue
        key = repos.repo_key(repo, c.baseline.family)
        signed_by = have.options.get("signed-by", "")
        if key is not None and key.system_path and signed_by != key.system_path:
            problems.append(f"{target} in {have.file} is signed by {signed_by or 'any trusted key'}, expected {key.system_path}")
        if key is not None:
            problems += _key_missing(c, target, key)
    return list(dict.fromkeys(problems))


def _defined_twice(found: list[repos.Definition], what: str, why: str = "") -> list[str]:
    files: dict[str, list[str]] = {}
    for definition in found:
        files.setdefault(definition.id, []).append(definition.file)
    return [f"{what} {name} is defined {len(where)} times: in {' and '.join(where)}{why}"
            for name, where in files.items() if len(where) > 1]


def _key_missing(c: Check, what: str, key: repos.RepoKey | None) -> list[str]:
    path = key.system_path if key is not None else None
    if path is None or c.fs.stat(path) is not None:
        return []
    return [f"{what}: its key {path} is missing"]


UNIT = register(Unit(
    NAME, "`repos`", (Step("repos", step),),
    writes="`/etc/yum.repos.d/builder-NAME.repo` (repo id `builder-NAME`, `gpgcheck`, `gpgkey`) or "
           "`/etc/apt/sources.list.d/builder-NAME.sources` (`Signed-By`), an embedded key as "
           "`/etc/pki/rpm-gpg/RPM-GPG-KEY-builder-NAME` or `/etc/apt/keyrings/builder-NAME.asc`; every other "
           "definition disabled: `enabled=0` in each section of the other repo files (and of `dnf.conf` but `[main]`), `/etc/apt/sources.list` "
           "a comment, other APT sources renamed `*.disabled`",
    check=check,
    checked="file content; the enabled repositories (dnf's repo files and `dnf.conf`; APT's `sources.list`, "
            "`*.list`, `*.sources`) are the spec's, each defined once, each with its key",
    kickstart="`url`, `repo --name=builder-NAME`",
    owns=tuple(path for family in FAMILIES.values() for path in repos.owned(family.repo_files)),
    owned_hint="add the repository to repos instead: the system's repositories are the spec's repos, and the "
               "baseline disables every other",
))
