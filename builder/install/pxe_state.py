"""The install state of a PXE tree: every machine's entries, kickstart and report token, changed in one transaction.

Below the root (never served: `builder serve` refuses dot paths):
    .state/lock                  the flock that `publish --to pxe` (plain and --rearm) and serve's reports share
    .state/current -> gen-N      the generation in force; switched by renaming a new symlink over it
    .state/gen-N/                ks/<mac>.cfg, pxelinux.cfg/01-<mac>, grub.cfg-01-<mac>, boot-01-<mac>.ipxe per
                                 machine, and machines.json (armed or installed, the sha256 of its report tokens)
The public names (ks/<mac>.cfg, pxelinux.cfg/01-<mac>, ...) are symlinks through .state/current, so one rename
switches every loader's entry, the kickstart and the mark together: a reader or a crash sees the old generation
or the new one, never a mix. A transaction writes the new generation beside the old one (unchanged files hard
linked), makes it durable with one syncfs, then switches; so many reports can share one flush (serve batches them).
What a killed writer leaves (`.*.tmp` files, unfinished generations) is removed under the lock at the next start.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import BuilderError
from ..locks import held

STATE = ".state"
CURRENT = "current"
MACHINES = "machines.json"
GENERATION = re.compile(r"gen-(\d{8})")
TEMPORARY = re.compile(r"\..+\.tmp")   # write_atomic's and ours: a dot name ending in .tmp
TOKEN_HASHES_KEPT = 8  # an armed machine's tokens from its last publishes (one may be installing with an older one)
# The per-machine files a generation holds, by MAC key; the same names are the public symlinks.
MACHINE_FILES = ("ks/{key}.cfg", "pxelinux.cfg/01-{key}", "grub.cfg-01-{key}", "boot-01-{key}.ipxe")


def machine_files(key: str) -> list[str]:
    return [name.format(key=key) for name in MACHINE_FILES]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Machine:
    """One listed machine's install state. `tokens`: sha256 of the report tokens its kickstarts carry (only hashes)."""

    armed: bool                  # its entries install it; a good report turns them to the local disk
    tokens: tuple[str, ...]
    reported: str | None = None  # when and from which client it reported (never trusted, only recorded)

    def accepts(self, token: str | None) -> bool:
        if not token:
            return False
        offered = token_sha256(token)
        return any(hmac.compare_digest(offered, known) for known in self.tokens)


@dataclass(frozen=True)
class State:
    generation: str | None            # gen-N in force, None before the first publish
    machines: dict[str, Machine]


def state_dir(root: Path) -> Path:
    """root/.state, refused when a symlink takes it out of the tree."""
    real_root = Path(os.path.realpath(root))
    path = real_root / STATE
    if path.is_symlink() or (path.exists() and Path(os.path.realpath(path)).parent != real_root):
        raise BuilderError(f"{path}: not a directory of the tree (a symlink?); nothing written")
    return path


@contextlib.contextmanager
def locked(root: Path, log: Callable[[str], None] | None = None) -> Iterator[None]:
    """The install state's lock (an flock, dropped by the kernel when its holder dies)."""
    directory = state_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    kwargs = {"log": log} if log else {}
    with held(directory / "lock", f"the install state of {root}", **kwargs):
        yield


def read_state(root: Path) -> State:
    """The generation in force and its machines (no lock: a generation never changes once it is current)."""
    directory = state_dir(root)
    for _ in range(5):  # a writer may remove the generation we just read the name of: read the new one
        try:
            generation = os.readlink(directory / CURRENT)
        except FileNotFoundError:
            return State(None, {})
        try:
            raw = json.loads((directory / generation / MACHINES).read_bytes())
        except FileNotFoundError:
            continue
        return State(generation, {key: Machine(m["armed"], tuple(m["tokens"]), m.get("reported")) for key, m in raw.items()})
    raise BuilderError(f"{directory}: the install state kept changing while it was read")


def remove_stale(root: Path) -> list[Path]:
    """What a killed writer left: temporary files beside the public names and in .state, generations not in force.
    Call it with the lock held."""
    directory = state_dir(root)
    removed = []
    for folder in (root, root / "ks", root / "pxelinux.cfg", directory):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if TEMPORARY.fullmatch(path.name) and (path.is_symlink() or not path.is_dir()):
                path.unlink()
                removed.append(path)
    current = GENERATION.fullmatch(_current_name(directory) or "")
    for path in directory.glob("*") if directory.is_dir() else ():
        generation = GENERATION.fullmatch(path.name)
        unfinished = generation and (current is None or int(generation[1]) > int(current[1]))  # made, never switched to
        if path.is_dir() and not path.is_symlink() and (unfinished or TEMPORARY.fullmatch(path.name)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    prune(root)
    return removed


def _current_name(directory: Path) -> str | None:
    try:
        return os.readlink(directory / CURRENT)
    except FileNotFoundError:
        return None


def commit(root: Path, machines: dict[str, Machine], files: dict[str, bytes], base: str | None = None) -> str:
    """Make and switch to a new generation: `files` (name -> bytes, per-machine names) and the machines' state.
    With `base`, the files of that generation not in `files` are carried over (hard links). Call with the lock held;
    `prune` removes older generations. Returns the new generation's name."""
    directory = state_dir(root)
    numbers = [int(m[1]) for p in directory.iterdir() if (m := GENERATION.fullmatch(p.name))]
    name = f"gen-{max(numbers, default=0) + 1:08d}"
    work = directory / f".{name}.tmp"
    work.mkdir()
    if base is not None:
        _link_tree(str(directory / base), str(work), skip={MACHINES, *files})
    for relative, data in files.items():
        target = work / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # A kickstart carries its machine's report token: readable by its owner (serve) only.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if relative.startswith("ks/") else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    record = {key: {"armed": m.armed, "tokens": list(m.tokens), "reported": m.reported} for key, m in sorted(machines.items())}
    (work / MACHINES).write_text(json.dumps(record, separators=(",", ":")) + "\n")
    flush_filesystem(work)          # one flush for every file of the generation
    os.rename(work, directory / name)
    link = directory / f".{CURRENT}.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(name, link)
    os.rename(link, directory / CURRENT)   # the switch
    fsync_directory(directory)
    return name


def _link_tree(source: str, target: str, skip: set[str], prefix: str = "") -> None:
    """Hard-link every file below `source` into `target` (same relative names), but those in `skip`."""
    with os.scandir(source) as entries:
        for entry in entries:
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                os.mkdir(os.path.join(target, entry.name))
                _link_tree(entry.path, os.path.join(target, entry.name), skip, relative + "/")
            elif relative not in skip and entry.is_file(follow_symlinks=False):
                os.link(entry.path, os.path.join(target, entry.name))


def prune(root: Path) -> None:
    """Remove the generations older than the one before the current: a reader that resolved a name through
    .state/current just before a switch still finds its file. Needs no lock: a writer's new generation is
    always numbered above the current one."""
    directory = state_dir(root)
    current = GENERATION.fullmatch(_current_name(directory) or "")
    if current is None:
        return
    for path in directory.iterdir():
        old = GENERATION.fullmatch(path.name)
        if old and int(old[1]) < int(current[1]) - 1 and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def public_link(root: Path, name: str) -> None:
    """root/name as a symlink through .state/current (atomically replacing what was there)."""
    path = root / name
    real_root = Path(os.path.realpath(root))
    parent = Path(os.path.realpath(path.parent)) if path.parent.exists() else None
    if parent is not None and parent != real_root and real_root not in parent.parents:
        raise BuilderError(f"{name}: its directory leads out of the tree (a symlink?); nothing written")
    path.parent.mkdir(parents=True, exist_ok=True)
    target = "../" * name.count("/") + f"{STATE}/{CURRENT}/{name}"
    if path.is_symlink() and os.readlink(path) == target:
        return
    temporary = path.parent / f".{path.name}.link.tmp"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(target, temporary)
    os.rename(temporary, path)


_syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


def flush_filesystem(path: Path) -> None:
    """Everything written to the file system holding `path` reaches the disk (Linux syncfs; os.sync elsewhere)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _syncfs is None or _syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Report:
    """One machine's "installed" report as serve received it."""

    key: str
    token: str | None
    client: str


@dataclass(frozen=True)
class Outcome:
    status: int
    message: str


def record_reports(root: Path, reports: list[Report], local_entries: dict[str, dict[str, bytes]], when: str) -> list[Outcome]:
    """Apply a batch of reports in one transaction: each machine that is armed and offers one of its tokens is switched
    to its local-boot entries (`local_entries`, by MAC key) and its tokens spent; the others change nothing."""
    with locked(root):
        state = read_state(root)
        machines = dict(state.machines)
        files: dict[str, bytes] = {}
        outcomes = []
        for report in reports:
            outcome = judge(machines.get(report.key), report)
            if outcome.status == 200 and report.key not in local_entries:
                outcome = Outcome(404, f"{report.key} was published after serve started: restart serve")
            if outcome.status == 200:
                machines[report.key] = replace(machines[report.key], armed=False, reported=f"{when} by {report.client}")
                files.update(local_entries[report.key])
            outcomes.append(outcome)
        if files:
            commit(root, machines, files, base=state.generation)
        return outcomes



def judge(machine: Machine | None, report: Report) -> Outcome:
    """Whether a report may change its machine's state (200), and why not otherwise."""
    if machine is None:
        return Outcome(404, f"{report.key} is not a machine of this tree")
    if not machine.accepts(report.token):
        return Outcome(403, f"{report.key}: no valid report token (the one in the machine's kickstart, "
                            "sent as 'Authorization: Bearer TOKEN'; --rearm replaces it)")
    if not machine.armed:
        return Outcome(409, f"{report.key} already reported its install ({machine.reported}); "
                            "a token is good once: re-arm the machine to install it again")
    return Outcome(200, "installed")
