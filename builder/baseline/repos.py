"""The repos item: the system's package repositories are exactly the spec's, each once, each with its key.

One place decides the repository ids, the key of each repository (`repo_key`: the one function
every builder asks, the installed system's files and a bootstrap alike), the files the repos step
writes, how it disables every other definition, and how a tree's definitions are read back for
the check.

- EL: `/etc/yum.repos.d/builder-NAME.repo` defines repo id builder-NAME (a prefix of ours, so no
  spec name can clash with an id of the distribution's repo files); an embedded key is written to
  /etc/pki/rpm-gpg/RPM-GPG-KEY-builder-NAME. Every other repo file (and dnf.conf, but its [main])
  gets `enabled=0` in each of its sections, in place: the *-repos packages mark their files %config(noreplace), so an update keeps
  the edit (a removed file would come back, enabled).
- Debian: `/etc/apt/sources.list.d/builder-NAME.sources` (deb822), Signed-By the embedded key
  (/etc/apt/keyrings/builder-NAME.asc), a keyring the spec names, or the Debian archive keyring.
  /etc/apt/sources.list becomes a comment (debootstrap's copy would define the suite a second
  time: "configured multiple times") and every other sources file is renamed NAME.disabled, which
  apt ignores silently.

Which format a family writes and reads, and where, is the family's (builder.families: `repo_files`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from shlex import quote
from typing import TYPE_CHECKING

from ..families import RepoFiles, RepoFormat, facts
from ..spec import KeyFile, Repo
from ..targets import Family
from .shell import put_generated

if TYPE_CHECKING:
    from .rootfs import RootFS

REPO_ID_PREFIX = "builder-"
DISABLED_SUFFIX = ".disabled"


def sources_list_note(files: RepoFiles) -> str:
    """What APT's sources.list becomes: a comment saying where the sources are."""
    return ("# Managed by builder: this system's APT sources are the spec's repos, in\n"
            f"# {files.directory}/{REPO_ID_PREFIX}*{files.suffix} (one definition per suite).\n")


def repo_id(repo: Repo) -> str:
    """The repository's id on the system (EL repo id, and the name of its file on both families)."""
    return REPO_ID_PREFIX + repo.name


@dataclass(frozen=True)
class RepoKey:
    """The key a repository's packages are checked with: named by URL, or embedded from a key file."""

    url: str | None
    """The key's URL as the spec gives it (http(s) on the mirror, or file:// on the system); None when embedded."""
    armor: str | None
    """An embedded key's text (ASCII-armored public keys), written to `path`; None for a URL."""
    path: str | None
    """Where the system keeps the embedded key; None for a URL."""

    def url_under(self, root: str = "/") -> str:
        """The key as a gpgkey URL for a process that sees the system's tree at `root` (`/` on the system itself;
        a bootstrap's root or key directory otherwise). A file:// key is a file of that tree too."""
        location = self.path or (self.url.removeprefix("file://") if self.url and self.url.startswith("file://") else None)
        if location is None:
            return self.url or ""
        return "file://" + str(PurePosixPath(root) / location.lstrip("/"))

    @property
    def system_path(self) -> str | None:
        """The key's file on the system (an embedded key, or a file:// key), or None for a key fetched by URL."""
        if self.path:
            return self.path
        return self.url.removeprefix("file://") if self.url and self.url.startswith("file://") else None


def repo_key(repo: Repo, family: Family) -> RepoKey | None:
    """THE key of `repo` on a `family` system: what its repo file names and what a bootstrap checks against.

    The spec's key file (embedded, written by the repos step), else its key URL; with gpgcheck on and no key, the
    family's default keyring (Debian's archive keyring); None when nothing checks the packages (EL gpgcheck off, no
    key)."""
    files = facts(family).repo_files
    key = repo.gpgkey
    if isinstance(key, KeyFile):
        return RepoKey(url=None, armor=key.armor, path=files.key_path(repo_id(repo)))
    if key is not None:
        return RepoKey(url=key, armor=None, path=None)
    if files.default_keyring and repo.gpgcheck:
        return RepoKey(url=f"file://{files.default_keyring}", armor=None, path=None)
    return None


def repo_file(repo: Repo, family: Family, key_dir: str | None = None) -> tuple[str, str]:
    """(path, content) of the system's definition of one spec repo. `key_dir`: where an embedded key is found
    instead of its system path (a bootstrap's apt, which reads the spec's sources before the baseline wrote them)."""
    files = facts(family).repo_files
    key = repo_key(repo, family)
    if key is not None and key.path and key_dir is not None:
        key = RepoKey(url=None, armor=key.armor, path=f"{key_dir}/{PurePosixPath(key.path).name}")
    path = f"{files.directory}/{repo_id(repo)}{files.suffix}"
    if files.format is RepoFormat.DNF:
        lines = [f"[{repo_id(repo)}]", f"name={repo.name}", f"baseurl={repo.baseurl}", "enabled=1",
                 f"gpgcheck={int(repo.gpgcheck)}"]
        if key is not None:
            lines.append(f"gpgkey={key.url_under()}")
        return path, "\n".join(lines) + "\n"
    lines = ["Types: deb", f"URIs: {repo.baseurl}", f"Suites: {' '.join(repo.suites)}",
             f"Components: {' '.join(repo.components)}"]
    if not repo.gpgcheck:
        lines.append("Trusted: yes")
    elif key is not None and key.system_path:
        lines.append(f"Signed-By: {key.system_path}")
    return path, "\n".join(lines) + "\n"


def key_files(repos: list[Repo] | tuple[Repo, ...], family: Family) -> tuple[tuple[str, str], ...]:
    """(path, armor) of every embedded key the repos step writes."""
    keys = [repo_key(repo, family) for repo in repos]
    return tuple((key.path, key.armor) for key in keys if key is not None and key.path and key.armor is not None)


def owned(files: RepoFiles) -> tuple[str, ...]:
    """The paths the repos step writes or edits on a family: every definition it reads, our keys."""
    our_keys = f"{files.key_dir}/{files.key_name.partition('{id}')[0]}{REPO_ID_PREFIX}"
    return (*(f"{d}/" for d in (files.directory, *files.other_dirs)), files.main_file, our_keys)


# ---------------------------------------------------------------- disabling every other definition

# Rewrites a dnf repo file on stdout with enabled=0 in every section (but [MAIN], dnf.conf's own): an enabled=
# line is replaced, a section without one (enabled by default) gets one at its end.
DNF_DISABLE_AWK = r"""
function close_section() { if (open && !seen) print "enabled=0" }
/^[ \t]*\[[^]]*\][ \t]*$/ { close_section(); open = ($0 !~ /^[ \t]*\[main\]/ || !MAIN); seen = 0; print; next }
open && /^[ \t]*enabled[ \t]*=/ { if (!seen) print "enabled=0"; seen = 1; next }
{ print }
END { close_section() }
""".strip("\n")


def disable_others(ours: list[str], family: Family) -> list[str]:
    """Shell lines that disable every repository definition but `ours` (idempotent)."""
    files = facts(family).repo_files
    keep = " | ".join(quote(path) for path in ours) or "''"
    conf = files.main_file
    if files.format is RepoFormat.DNF:
        globs = " ".join(f"{directory}/*{files.suffix}" for directory in (files.directory, *files.other_dirs))
        return [
            f"for f in {globs}; do",
            f"    case $f in {keep}) continue ;; esac",
            '    [ -f "$f" ] || continue',
            f'    awk {quote(DNF_DISABLE_AWK)} "$f" | builder_put "$f" 0644 root root',
            "done",
            # dnf.conf may define repos too: every section of it but [main].
            f"if [ -f {conf} ]; then",
            f"    awk -v MAIN=1 {quote(DNF_DISABLE_AWK)} {conf} | builder_put {conf} 0644 root root",
            "fi",
        ]
    return [
        put_generated(conf, sources_list_note(files)),
        f"for f in {files.directory}/*.list {files.directory}/*{files.suffix}; do",
        f"    case $f in {keep}) continue ;; esac",
        '    [ -e "$f" ] || [ -L "$f" ] || continue',
        f'    mv -f -- "$f" "$f{DISABLED_SUFFIX}"',
        f"    printf '    disabled %s (renamed {DISABLED_SUFFIX})\\n' \"$f\"",
        "done",
    ]


# ---------------------------------------------------------------- reading a tree's definitions


@dataclass(frozen=True)
class Definition:
    """One repository definition found in a tree (EL: a repo section; Debian: one suite and component of an entry)."""

    id: str
    """EL: the repo id; Debian: "TYPE URI SUITE [COMPONENT]"."""
    file: str
    enabled: bool
    options: dict[str, str]


_TRUE, _FALSE = ("1", "yes", "true", "on"), ("0", "no", "false", "off")


def _ini_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """dnf's ini format: [id] sections of key=value lines; an indented line continues the value before it."""
    sections: list[tuple[str, dict[str, str]]] = []
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([^]]*)\]", stripped)
        if header:
            sections.append((header.group(1).strip(), {}))
            last = None
        elif sections and line[:1] in (" ", "\t") and last:
            sections[-1][1][last] += " " + stripped
        elif sections and "=" in stripped:
            key, _, value = stripped.partition("=")
            last = key.strip().lower()
            sections[-1][1][last] = value.strip()
    return sections


def definitions(fs: RootFS, files: RepoFiles) -> list[Definition]:
    """Every repository definition the family's package manager reads from the tree."""
    return _dnf_definitions(fs, files) if files.format is RepoFormat.DNF else _apt_definitions(fs, files)


def _dnf_definitions(fs: RootFS, files: RepoFiles) -> list[Definition]:
    """Every repo section dnf would read: dnf.conf's (but [main]), then each *.repo of its reposdir."""
    found: list[Definition] = []
    main: dict[str, str] = {}
    conf = fs.read_text(files.main_file)
    for name, options in _ini_sections(conf or ""):
        if name == "main":
            main = options
        else:
            found.append(_definition(name, files.main_file, options))
    directories = (re.split(r"[\s,]+", main["reposdir"].strip()) if main.get("reposdir", "").strip()
                   else (files.directory, *files.other_dirs))
    for directory in directories:
        for path in fs.glob(f"{directory.rstrip('/')}/*{files.suffix}"):
            for name, options in _ini_sections(fs.read_text(path) or ""):
                found.append(_definition(name, path, options))
    return found


def _definition(name: str, file: str, options: dict[str, str]) -> Definition:
    return Definition(name, file, options.get("enabled", "1").strip().lower() not in _FALSE, options)


def _apt_definitions(fs: RootFS, files: RepoFiles) -> list[Definition]:
    """Every (type, URI, suite, component) APT reads: sources.list and sources.list.d's *.list (one-line format)
    and *.sources (deb822)."""
    found: list[Definition] = []
    paths = [files.main_file] + fs.glob(f"{files.directory}/*.list") + fs.glob(f"{files.directory}/*{files.suffix}")
    for path in paths:
        text = fs.read_text(path)
        if text is None:
            continue
        entries = _deb822_entries(text) if path.endswith(".sources") else _one_line_entries(text)
        for types, uris, suites, components, options in entries:
            enabled = options.get("enabled", "yes").lower() not in _FALSE
            for kind in types:
                for uri in uris:
                    for suite in suites:
                        for component in components or [""]:
                            found.append(Definition(apt_target(kind, uri, suite, component), path, enabled, options))
    return found


def apt_target(kind: str, uri: str, suite: str, component: str) -> str:
    return " ".join(word for word in (kind, uri.rstrip("/"), suite, component) if word)


Entry = tuple[list[str], list[str], list[str], list[str], dict[str, str]]


def _one_line_entries(text: str) -> list[Entry]:
    entries: list[Entry] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        options: dict[str, str] = {}
        bracket = re.search(r"\[([^]]*)\]", line)
        if bracket:
            for word in bracket.group(1).split():
                key, _, value = word.partition("=")
                options[key.lower()] = value
            line = line[:bracket.start()] + line[bracket.end():]
        words = line.split()
        if len(words) >= 3 and words[0] in ("deb", "deb-src"):
            entries.append(([words[0]], [words[1]], [words[2]], words[3:], options))
    return entries


def _deb822_entries(text: str) -> list[Entry]:
    entries: list[Entry] = []
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        last = None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                last = key.strip().lower()
                fields[last] = value.strip()
        if fields.get("types") and fields.get("uris") and fields.get("suites"):
            options = {k: v for k, v in fields.items() if k not in ("types", "uris", "suites", "components")}
            entries.append((fields["types"].split(), fields["uris"].split(), fields["suites"].split(),
                            fields.get("components", "").split(), options))
    return entries
