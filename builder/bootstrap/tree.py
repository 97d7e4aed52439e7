"""The bootstrapped base tree, cached by what makes it, and the chroot the baseline runs in.

A bootstrapper (debootstrap for Debian, dnf --installroot for EL: see BOOTSTRAPPERS in
builder.bootstrap) knows how to make a tree from the spec's repositories and which inputs
decide it. The cache entry is a zstd tarball named by the hash of those inputs, with a JSON
record of its own sha256 and of the date of the mirror state it was bootstrapped from (a
Debian suite's Release `Date:`, the newest EL repomd.xml revision); it is written under a
temporary name and renamed, so a reader never sees a partial entry, and checked before use.
A fresh bootstrap continues from the cached tarball too, so the first build and every later
one start from the same bytes.

The cache follows the mirror. The record also holds the state of every repository the tree was made
from (builder.repodata: a Debian suite's InRelease, an EL repomd.xml; a few small requests). Each build
asks the repositories for their state again, once per process, and when any changed since the entry
was made, the tree is bootstrapped again and the entry replaced: a rebuild after the mirror took new
errata carries them, with the new state's date as SOURCE_DATE_EPOCH; with no change on the mirror the
entry is used as it is, so the image digest stays. Bootstrapping again rather than upgrading the cached
tree in place keeps a tree a function of its inputs and the mirror state alone, the same on every
machine whatever its cache held before (docs/performance.md has the timings of both). `offline` builds
from the entry as it is, without contacting the repositories, and says so.

Builds that need the same entry at once (`builder build --jobs`, or separate builder processes)
bootstrap it once: the first takes the entry's lock (an flock on `<entry>.lock` beside it, see
builder.locks) and bootstraps, the others wait on the lock and then find the entry made. A build
killed while it bootstraps releases the lock with its death, and its partial files are removed by
the next holder.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import host, locks
from ..errors import BuilderError
from ..output import file_digest

CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What every bootstrap needs besides its own tool: a chroot for the baseline, tar and zstd for the cache.
COMMON_TOOLS = ("chroot", "mount", "umount", "tar", "zstd")
# GNU tar stores and restores extended attributes only when asked: without these, file capabilities set by
# packages (rpm %caps on newuidmap/newgidmap, setcap in a postinst) vanish between the bootstrap and the images.
TAR_XATTRS = ("--xattrs", "--xattrs-include=*")
# The cache entry's format: a record of another format (tarballs written without xattrs, records without the
# mirror state) is bootstrapped again.
CACHE_FORMAT = 3


def cache_dir() -> Path:
    return locks.cache_root() / "bases"


class Bootstrapper(Protocol):
    """One way of making a base tree from the spec's repositories (a frozen dataclass of its inputs)."""

    tools: tuple[str, ...]          # host tools it runs
    packages: tuple[str, ...]       # every package it installs by name

    @property
    def label(self) -> str: ...      # the cache file's readable prefix

    @property
    def origin(self) -> str: ...     # what made the tree, for the image history

    def inputs(self) -> list: ...    # everything that decides the tree (the cache key)

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]: ...

    def repositories(self) -> list[str]: ...    # every URL the bootstrap contacts

    def bootstrap(self, root: Path, work: Path, log) -> int: ...   # fill `root`; the mirror state's date

    def mirror_state(self) -> dict[str, dict]: ...  # {index URL: RepoState record} of its repositories, asked now

    def leave_out(self) -> tuple[str, ...]: ...  # tar --exclude patterns for the cached tarball


# A command's standard input or output from or to a file, as the last two words of its argv in `commands` (for a
# plan; the bootstrapper itself runs it with host.run's input_file/output_file).
REDIRECTIONS = ("<", ">")


def shell_line(argv: list[str]) -> str:
    """`argv` as a shell command: quoted, and a trailing redirection (`> FILE`, `< FILE`) left as one."""
    if len(argv) > 2 and argv[-2] in REDIRECTIONS:
        return f"{shlex.join(argv[:-2])} {argv[-2]} {shlex.quote(argv[-1])}"
    return shlex.join(argv)


@dataclass(frozen=True)
class BaseTree:
    """One bootstrapped tree: how it is made and where it is cached."""

    bootstrapper: Bootstrapper

    @property
    def packages(self) -> tuple[str, ...]:
        return self.bootstrapper.packages

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.bootstrapper.inputs()).encode()).hexdigest()[:24]

    @property
    def tarball(self) -> Path:
        return cache_dir() / f"{self.bootstrapper.label}-{self.key}.tar.zst"

    @property
    def record(self) -> Path:
        return self.tarball.with_suffix(".json")

    @property
    def lock(self) -> Path:
        return self.tarball.with_suffix(".lock")

    @property
    def partial_prefix(self) -> str:
        """The name its files have while being written (then renamed): a killed bootstrap's leftovers are found by it."""
        return f".partial-{self.tarball.name.removesuffix('.tar.zst')}-"

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        return self.bootstrapper.commands(root, work)

    def command_line(self, root: Path, work: Path = Path("WORK")) -> str:
        """The bootstrap's commands as one shell line, for a plan."""
        return " && ".join(shell_line(argv) for argv in self.commands(root, work))

    @property
    def host_tools(self) -> tuple[str, ...]:
        """What making and unpacking the tree runs on the build host."""
        return COMMON_TOOLS + self.bootstrapper.tools

    def recorded_command(self) -> list:
        """What the cache record says made the tree (one command, or the list of them)."""
        commands = self.commands(Path("ROOT"))
        return commands[0] if len(commands) == 1 else commands


def why_not_bootstrap(base: BaseTree | None = None) -> str | None:
    tools = base.host_tools if base is not None else COMMON_TOOLS
    if os.geteuid() != 0:
        return "building a root filesystem needs root (bootstrap, chroot, mount)"
    if missing := host.missing_tools(tools):
        return f"{', '.join(missing)} not installed ({host.install_hint(missing)})"
    return None


# The mirror state each base tree's repositories reported in this process: every artifact of one `builder build`
# starts from the same tree, even if the mirror changes between them.
_STATES: dict[str, dict[str, dict]] = {}
_STATES_LOCK = threading.Lock()


def current_state(base: BaseTree, log=host.progress) -> dict[str, dict]:
    """The state of `base`'s repositories now (asked once per process)."""
    with _STATES_LOCK:
        if base.key not in _STATES:
            if repositories := base.bootstrapper.repositories():
                log(f"asking {len(repositories)} repositories for their state: {', '.join(repositories)}")
            _STATES[base.key] = base.bootstrapper.mirror_state()
        return _STATES[base.key]


def forget_mirror_states() -> None:
    """Ask the repositories again at the next ensure_cached (a process that outlives one build: a test)."""
    with _STATES_LOCK:
        _STATES.clear()


def ensure_cached(base: BaseTree, log=host.progress, offline: bool = False) -> dict:
    """The cache record of `base` (its tarball is base.tarball), bootstrapping it first when it is not cached or
    its repositories changed since; `offline`: the cached entry as it is, the repositories not contacted."""
    if why := why_not_bootstrap(base):
        raise BuilderError(why, hint="run the build as root on a host with the bootstrap tools (make deps)")
    record = _cached_record(base)
    if offline:
        if record is None:
            raise BuilderError(f"--offline: no cached base tree {base.tarball.name} to build from",
                               hint="build once without --offline, with the spec's repositories reachable")
        log(f"offline: base tree from the cache as it is ({base.tarball.name}, the mirror state of "
            f"{_day(record['mirror_date'])}); the repositories were not asked whether they changed")
        return record
    state = current_state(base, log)
    if not _made_from(record, state):
        cache_dir().mkdir(parents=True, exist_ok=True)
        with locks.held(base.lock, f"another build's bootstrap of {base.tarball.name}", log):
            record = _cached_record(base)  # made while this build waited
            if _made_from(record, state):
                log(f"base tree from the cache: {base.tarball.name}")
                return record
            if record is not None:
                log(f"the repositories changed since the cached tree was made ({_changes(record, state)}): "
                    "bootstrapping it again")
            return _bootstrap(base, state, log)
    log(f"base tree from the cache: {base.tarball.name} (its repositories unchanged since {_day(record['mirror_date'])})")
    return record


def _made_from(record: dict | None, state: dict[str, dict]) -> bool:
    """Whether the cached entry `record` was bootstrapped from the repositories' state `state`."""
    return record is not None and record.get("mirror_state") == _fingerprints(state)


def _fingerprints(state: dict[str, dict]) -> dict[str, str]:
    return {index: entry["fingerprint"] for index, entry in state.items()}


def _changes(record: dict, state: dict[str, dict]) -> str:
    before = record.get("mirror_state") or {}
    changed = [index for index, entry in state.items() if before.get(index) != entry["fingerprint"]]
    return "; ".join(f"{index} of {_day(state[index]['date'])}" for index in changed) or "other repositories"


def _day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _bootstrap(base: BaseTree, state: dict[str, dict], log) -> dict:
    """Bootstrap `base` and store it in the cache (its lock held)."""
    for leftover in cache_dir().glob(f"{base.partial_prefix}*"):  # of a build killed while it held the lock
        leftover.unlink(missing_ok=True)
    log(f"bootstrapping {base.bootstrapper.origin} from {', '.join(base.bootstrapper.repositories())} "
        f"({len(base.packages)} packages; cached afterwards)")
    scratch = Path(tempfile.mkdtemp(prefix="builder-bootstrap."))
    try:
        (scratch / "work").mkdir()
        date = base.bootstrapper.bootstrap(scratch / "root", scratch / "work", log)
        return _store(base, scratch / "root", date, _fingerprints(state))
    finally:
        _remove_scratch(scratch)


def fill(base: BaseTree, root: Path, log=host.progress, offline: bool = False) -> int:
    """Fill the empty directory `root` with the base tree; returns the date of the mirror state it came from
    (epoch seconds: the default SOURCE_DATE_EPOCH, the same on every machine that bootstraps from that state)."""
    record = ensure_cached(base, log, offline)
    root.mkdir()
    host.run(["tar", "--numeric-owner", *TAR_XATTRS, "--zstd", "-xpf", base.tarball, "-C", root], f"extracting {base.tarball}")
    return record["mirror_date"]


def _remove_scratch(tree: Path) -> None:
    """Remove a bootstrap's scratch directory; a failed bootstrap can leave /proc or /sys mounted in it: never delete through those."""
    for point in host.mounts_under(tree):
        host.run(["umount", "-l", point], "unmounting a leftover mount", check=False)
    if left := host.mounts_under(tree):
        raise BuilderError(f"still mounted under {tree}: {', '.join(left)}; not removing it")
    shutil.rmtree(tree, ignore_errors=True)


def _cached_record(base: BaseTree) -> dict | None:
    if not (base.tarball.exists() and base.record.exists()):
        return None
    try:
        record = json.loads(base.record.read_text())
    except ValueError:
        return None
    if (record.get("format") != CACHE_FORMAT or record.get("sha256") != file_digest(base.tarball)
            or record.get("command") != base.recorded_command() or not isinstance(record.get("mirror_date"), int)):
        return None  # damaged, from an older builder, or not what this key names: bootstrap again
    return record


def _store(base: BaseTree, root: Path, date: int, state: dict[str, str]) -> dict:
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=base.partial_prefix, suffix=".tar.zst", dir=directory)
    os.close(fd)
    try:
        leave_out = [f"--exclude={pattern}" for pattern in base.bootstrapper.leave_out()]
        host.run(["tar", "--numeric-owner", *TAR_XATTRS, "--zstd", *leave_out, "-C", root, "-cf", partial, "."],
                 "caching the base tree")
        record = {"format": CACHE_FORMAT, "command": base.recorded_command(), "sha256": file_digest(Path(partial)),
                  "mirror_date": date, "mirror_state": state}
        os.replace(partial, base.tarball)
        fd, partial = tempfile.mkstemp(prefix=base.partial_prefix, suffix=".json", dir=directory)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        os.replace(partial, base.record)
    finally:
        Path(partial).unlink(missing_ok=True)
    return record


@contextlib.contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """/proc in the tree while the baseline runs (locale-gen, useradd and maintainer scripts read it); always unmounted."""
    proc = root / "proc"
    proc.mkdir(exist_ok=True)
    host.run(["mount", "-t", "proc", "proc", proc], "mounting /proc in the tree")
    try:
        yield
    finally:
        host.run(["umount", proc], "unmounting /proc", check=False)
        if os.path.ismount(proc):
            host.run(["umount", "-l", proc], "unmounting /proc lazily", check=False)


def apply_script(root: Path, script: str, source_date_epoch: int, log=host.progress) -> None:
    """Run the baseline script in the tree, with nothing from the host's environment."""
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C", "SOURCE_DATE_EPOCH": str(source_date_epoch),
           "DEBIAN_FRONTEND": "noninteractive"}
    with chroot_mounts(root):
        proc = host.run(["chroot", root, "/bin/bash", "-s"], "the baseline script", input=script, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("==> "):
            log(line)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise BuilderError(f"the baseline script failed in the container tree (exit {proc.returncode}):\n{tail}")
