"""The EL bootstrapper: `dnf --installroot` from the spec's repositories only, checked with the spec's keys.

The host's dnf is told everything and reads nothing of the host's own setup: a dnf.conf and a repo
directory of ours (`--config`, `reposdir`), no plugins, its own metadata cache (`--refresh`), and a HOME
of ours whose .rpmmacros names the rpm database (`%_dbpath`: Debian's rpm would put it in ~/.rpmdb) and
the languages whose %lang files are installed (`%_install_langs`). No docs (`tsflags=nodocs`), no weak
dependencies, gpgcheck with the keys the spec gives; a repository that cannot be reached is an error
(`skip_if_unavailable=False`), never a silently smaller tree.

The metadata is fetched first (`makecache --refresh`): the newest repomd.xml revision is the date of
the mirror state, and rpm records it as every package's install time (SOURCE_DATE_EPOCH, which rpm
honours), so two machines bootstrapping from the same mirror state write the same rpm database. Then
two transactions: the base image definition's package set, then the spec's packages, recorded one
second later, so the container's layer plan can tell the distribution (the first) from the spec's
packages (the second) by their INSTALLTID.

The host's rpm writes sqlite only. A release whose own rpm writes another format (EL 8: Berkeley DB;
builder.families.el: RPMDB_BACKENDS) has its database converted last, as rpm-ostree's cross-build does
(coreos/rpm-ostree rust/src/composepost.rs): the host's rpm exports every header (`rpmdb --exportdb`,
from a copy), the sqlite files go, and the tree's own rpm imports them in a chroot (`rpmdb --importdb`),
writing its own format. The headers are the same bytes (install times and INSTALLTIDs included); only
the tables are written anew. This rather than a bootstrap root of the target's own dnf and rpm (mock,
osbuild): one bootstrap path for every release, none of the target's python and dnf stack run on the
build host, and the import is the one write the host's rpm cannot do right.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .. import host, rpmdb
from ..baseline.repos import repo_key
from ..errors import BuilderError
from ..families import RpmdbBackend, el
from ..repodata import el_state, repomd_date
from . import tree

# dnf's [main] settings (its dnf.conf and --setopt): the family's fixed arguments for its bootstrapper.
DNF_MAIN = dict(el.FAMILY.bootstrapper.options)


@dataclass(frozen=True)
class DnfRepo:
    name: str
    baseurl: str
    gpgcheck: bool
    gpgkeys: tuple[str, ...]      # URLs, as a .repo file's gpgkey= takes them
    embedded_keys: tuple[str, ...] = ()   # armored keys from key files beside the spec, written into the work dir

    def key_file(self, work: Path, index: int) -> Path:
        return work / "keys" / f"{self.name}-{index}.asc"

    def repo_file(self, work: Path) -> str:
        lines = [f"[{self.name}]", f"name={self.name}", f"baseurl={self.baseurl}", "enabled=1",
                 f"gpgcheck={int(self.gpgcheck)}", "repo_gpgcheck=0", "skip_if_unavailable=False"]
        keys = [*self.gpgkeys, *(f"file://{self.key_file(work, i)}" for i in range(len(self.embedded_keys)))]
        if keys:
            lines.append("gpgkey=" + " ".join(keys))
        return "\n".join(lines) + "\n"


def repo_keys(repo) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(key URLs, embedded armored keys) a spec repository's packages are checked with: the installed system's
    key (`baseline.repos.repo_key`, the one place that reads a repository's key), as the bootstrap uses it."""
    key = repo_key(repo, el.FAMILY.id)
    if key is None:
        return (), ()
    return ((), (key.armor,)) if key.armor else ((key.url,) if key.url else (), ())


def dnf_repos(spec) -> tuple[DnfRepo, ...]:
    """The spec's repositories as the bootstrap uses them (the spec's rules already refused gpgcheck without a key)."""
    repos = [DnfRepo(repo.name, repo.baseurl, repo.gpgcheck, *repo_keys(repo)) for repo in spec.repos]
    if not repos:
        raise BuilderError(f"{spec.name}: no repository to bootstrap from (repos is empty)",
                           hint="add the internal mirror's BaseOS and AppStream to repos")
    return tuple(repos)


def install_langs(locale: str) -> str:
    """%_install_langs for a locale: the languages whose %lang files rpm installs (C: none)."""
    lang = locale.split(".")[0].split("@")[0]
    if lang in ("C", "POSIX"):
        return "C"
    return ":".join(dict.fromkeys([locale, lang, lang.split("_")[0]]))


@dataclass(frozen=True)
class DnfInstallroot:
    tools: ClassVar[tuple[str, ...]] = el.FAMILY.bootstrapper.host_tools

    releasever: str
    repos: tuple[DnfRepo, ...]
    base_packages: tuple[str, ...]
    spec_packages: tuple[str, ...]
    dbpath: str
    install_langs: str
    exclude_packages: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()   # dnf variables ($stream), from a varsdir of ours
    # What the release's own rpm writes (the family's); another than sqlite: the database is converted last.
    rpmdb_backend: RpmdbBackend = RpmdbBackend.SQLITE

    @property
    def converts_rpmdb(self) -> bool:
        return self.rpmdb_backend is not RpmdbBackend.SQLITE

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.base_packages + self.spec_packages))

    @property
    def later_packages(self) -> tuple[str, ...]:
        """The spec's packages the base set does not name: the second transaction."""
        return tuple(p for p in self.spec_packages if p not in self.base_packages)

    @property
    def main_settings(self) -> tuple[tuple[str, str], ...]:
        """dnf's [main] settings for this release (the family's, {major} filled in)."""
        return tuple((key, value.format(major=self.releasever)) for key, value in DNF_MAIN.items())

    @property
    def label(self) -> str:
        return f"el{self.releasever}-dnf"

    @property
    def origin(self) -> str:
        return f"dnf --installroot el{self.releasever}"

    def inputs(self) -> list:
        return ["dnf", self.releasever, [[r.name, r.baseurl, r.gpgcheck, list(r.gpgkeys),
                                          [hashlib.sha256(k.encode()).hexdigest() for k in r.embedded_keys]]
                                         for r in self.repos],
                sorted(self.base_packages), sorted(self.later_packages), self.dbpath, self.install_langs,
                sorted(self.exclude_packages), DNF_MAIN, _local_key_digests(self.repos), list(self.variables),
                *([["rpmdb", str(self.rpmdb_backend)]] if self.converts_rpmdb else [])]

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        return [*self.dnf_commands(root, work), *self.conversion_commands(root, work)]

    def dnf_commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        """The metadata fetch, then the base set's transaction and the spec's."""
        common = ["dnf", "-y", f"--config={work}/dnf.conf", f"--installroot={root}", f"--releasever={self.releasever}",
                  "--noplugins", f"--setopt=reposdir={work}/repos.d", f"--setopt=cachedir={work}/cache",
                  f"--setopt=varsdir={work}/vars",
                  *(f"--setopt={key}={value}" for key, value in self.main_settings)]
        if self.exclude_packages:
            common.append("--setopt=excludepkgs=" + ",".join(self.exclude_packages))
        metadata = [*common, "--refresh", "makecache"]
        first = [*common, "install", "--", *sorted(self.base_packages)]
        second = [[*common, "install", "--", *sorted(self.later_packages)]] if self.later_packages else []
        return [metadata, first, *second]

    def conversion_commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        """The rpm database's conversion into the release's own format, in order (none for sqlite): the host's rpm
        exports the headers from a copy of the database (into WORK/rpmdb.export), and, once the sqlite files are
        gone, the tree's own rpm imports them (reading WORK/rpmdb.export)."""
        if not self.converts_rpmdb:
            return []
        export = str(work / "rpmdb.export")  # as convert_rpmdb runs them, with the redirections a plan shows
        return [[*rpmdb.export_command(work / "rpmdb-copy"), ">", export], [*self.import_command(root), "<", export]]

    def import_command(self, root: Path) -> list[str]:
        """The tree's own rpm, in the tree, writing the exported headers into a database of its own format."""
        return ["chroot", str(root), "rpmdb", "--dbpath", self.dbpath, "--importdb"]

    def repositories(self) -> list[str]:
        return [r.baseurl for r in self.repos] + [key for r in self.repos for key in r.gpgkeys]

    def mirror_state(self) -> dict[str, dict]:
        """The state of every repository the tree is made from (its repomd.xml), as the cache records it."""
        states = [el_state(r.baseurl, {"releasever": self.releasever, **dict(self.variables)}) for r in self.repos]
        return {state.index: state.as_record() for state in states}

    def macros(self) -> str:
        return f"%_dbpath {self.dbpath}\n%_install_langs {self.install_langs}\n"

    def leave_out(self) -> tuple[str, ...]:
        return ()

    def bootstrap(self, root: Path, work: Path, log) -> int:
        host.require_cpu(el.FAMILY.cpu_level(int(self.releasever)), f"bootstrapping EL {self.releasever}")
        self.write_config(work)
        metadata, *transactions = self.dnf_commands(root, work)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(work / "home"), "LANG": "C.UTF-8"}
        log(f"dnf: fetching the metadata of {', '.join(r.name for r in self.repos)}")
        self._run(metadata, env, log)
        date = mirror_date(work / "cache")
        for index, argv in enumerate(transactions):
            names = argv[argv.index("--") + 1:]
            log(f"dnf: installing {len(names)} packages{' (the base set)' if index == 0 else ' (the spec)'} "
                f"into {root.name}")
            self._run(argv, {**env, "SOURCE_DATE_EPOCH": str(date + index)}, log)
        # dnf puts its repository persistor under the installroot at the cache's host path: not part of the tree.
        shutil.rmtree(root / work.parent.relative_to("/"), ignore_errors=True)
        if self.converts_rpmdb:
            self.convert_rpmdb(root, work, log)
        return date

    def convert_rpmdb(self, root: Path, work: Path, log) -> None:
        """Rewrite the tree's sqlite rpm database in the release's own format with the tree's own rpm (see the
        module's docstring)."""
        database = root / self.dbpath.lstrip("/")
        if not (root / "usr/bin/rpmdb").exists():
            raise BuilderError(f"the EL {self.releasever} tree has no /usr/bin/rpmdb: its rpm database is written "
                               f"in {self.rpmdb_backend} by the tree's own rpm, and the rpm package was not installed",
                               hint="keep rpm in the base image definition's packages")
        log(f"rpm database: exporting it with the host's rpm, importing it with EL {self.releasever}'s own rpm "
            f"({self.rpmdb_backend})")
        export = work / "rpmdb.export"
        rpmdb.export(database, export, work / "rpmdb-copy")
        for name in (*rpmdb.SQLITE_FILES, ".rpm.lock"):
            (database / name).unlink(missing_ok=True)
        env = {"PATH": tree.CHROOT_PATH, "HOME": "/root", "LANG": "C"}
        with tree.chroot_mounts(root):
            proc = host.run(self.import_command(root), "rpmdb --importdb in the tree", env=env, input_file=export,
                            check=False)
        if proc.returncode or "error:" in proc.stderr:
            raise BuilderError(f"the tree's own rpm could not import its database (exit {proc.returncode}): "
                               f"{proc.stderr.strip()[-500:]}")
        rpmdb.settle(database)
        (database / ".rpm.lock").unlink(missing_ok=True)
        if (written := rpmdb.backend(database)) != self.rpmdb_backend:
            raise BuilderError(f"the EL {self.releasever} tree's own rpm wrote a {written or 'no'} database in "
                               f"{self.dbpath}, not {self.rpmdb_backend} as EL {self.releasever}'s rpm does",
                               hint="the rpm package in the spec's repositories is not the release's own")

    def _run(self, argv: list[str], env: dict[str, str], log) -> None:
        proc = host.run(argv, "dnf --installroot", env=env, check=False)
        output = proc.stdout + proc.stderr
        if proc.returncode:
            raise BuilderError(f"dnf --installroot failed (exit {proc.returncode}): {_failure(output)}\n"
                               + "\n".join(output.splitlines()[-25:]),
                               hint="the packages must be signed with the spec's repos[].gpgkey and present "
                                    "in the spec's repositories")
        for line in output.splitlines():
            if re.search(r"scriptlet failed|Error in \S+ scriptlet", line):
                log(f"dnf: warning: {line.strip()}")

    def write_config(self, work: Path) -> None:
        (work / "repos.d").mkdir(parents=True)
        (work / "home").mkdir()
        (work / "dnf.conf").write_text("[main]\n" + "".join(f"{k}={v}\n" for k, v in self.main_settings))
        for repo in self.repos:
            for index, armor in enumerate(repo.embedded_keys):
                repo.key_file(work, index).parent.mkdir(exist_ok=True)
                repo.key_file(work, index).write_text(armor)
            (work / "repos.d" / f"{repo.name}.repo").write_text(repo.repo_file(work))
        (work / "home" / ".rpmmacros").write_text(self.macros())
        (work / "vars").mkdir()
        for name, value in self.variables:
            (work / "vars" / name).write_text(value + "\n")


def _local_key_digests(repos: tuple[DnfRepo, ...]) -> list[str]:
    """The content of file:// keys is an input too (a URL's content is not read before the bootstrap runs)."""
    from ..output import file_digest

    digests = []
    for key in (k for r in repos for k in r.gpgkeys if k.startswith("file://")):
        path = Path(key.removeprefix("file://"))
        digests.append(file_digest(path) if path.is_file() else f"missing:{path}")
    return digests


def _failure(output: str) -> str:
    """The line that says why dnf failed, when there is one."""
    for pattern in (r"cannot install the best", r"GPG check FAILED", r"is not signed", r"public key .* is not installed", r"Unable to find a match",
                    r"Failed to download metadata", r"Cannot download repomd", r"nothing provides", r"No match for argument",
                    r"Module or Group .* (is not available|does not exist)"):
        for line in output.splitlines():
            if re.search(pattern, line):
                return line.strip()
    return "see below"


def mirror_date(cache: Path) -> int:
    """The newest repomd.xml date of the repositories dnf fetched (repodata.repomd_date)."""
    dates = [repomd_date(ElementTree.parse(repomd).getroot(), str(repomd))
             for repomd in sorted(cache.glob("*/repodata/repomd.xml"))]
    if not dates:
        raise BuilderError(f"no repomd.xml with a revision or timestamp in {cache}",
                           hint="the spec's repositories must be yum/dnf repositories (createrepo_c metadata)")
    return max(dates)
