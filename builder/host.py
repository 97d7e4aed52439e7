"""One way to talk to the build host: run a command, require tools, report progress.

Progress and diagnostics go to stderr; results (what a command was asked for) go to stdout,
and nothing here writes to stdout. A missing tool is named with the package that provides it
on the build host's own family, so the hint is a command the user can paste.

Several specs build at once in threads (`builder build --jobs N`), so what is process-wide lives
here, once: each stderr line is written whole, with the prefix of the job that wrote it (a context
variable: each thread's own), and every command is registered until it ends, in a process group of
its own, so an interrupted build stops every job's command and each job then unwinds through its own
cleanup (`interrupt_commands`).

Every command builder starts goes through here (no other module imports subprocess; a test checks):
`run` (output captured), `stream` (a long command read line by line into a log and progress: debootstrap,
DIB), `background` (one that runs beside a block: QEMU). Each runs in its own process group, stopped
on Ctrl-C or SIGTERM, on its time-out, or when the block around it fails.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from .errors import VERBOSITY as _VERBOSITY
from .errors import BuilderError, UsageError
from .families import FAMILIES, TESTED_HOST, CpuLevel, Family, host_family_of

# A build host's family is a distribution family (builder.families): its module says which package gives each tool
# there and how it installs. Tested: Debian 12; EL 9 with python3.11 untested here.
HostFamily = Family

INSTALL_COMMAND = {family: facts.host.install_command for family, facts in FAMILIES.items()}


@cache
def host_family(os_release: Path = Path("/etc/os-release")) -> HostFamily:
    """The build host's family, from os-release's ID and ID_LIKE (Debian when unknown: the tested host)."""
    try:
        fields = dict(line.split("=", 1) for line in os_release.read_text().splitlines() if "=" in line)
    except OSError:
        return TESTED_HOST
    ids = {fields.get("ID", "").strip('"'), *fields.get("ID_LIKE", "").strip('"').split()}
    return host_family_of(ids) or TESTED_HOST


def package_for(tool: str, family: HostFamily | None = None) -> str:
    return FAMILIES[family or host_family()].package_for(tool)


def missing_tools(tools: Iterable[str]) -> list[str]:
    return [tool for tool in dict.fromkeys(tools) if shutil.which(tool) is None]


def install_hint(tools: Iterable[str], family: HostFamily | None = None) -> str:
    family = family or host_family()
    packages = dict.fromkeys(package_for(tool, family) for tool in tools)
    return f"{INSTALL_COMMAND[family]} {' '.join(packages)}"


def require_tools(tools: Iterable[str], purpose: str, hint: str | None = None) -> None:
    """Fail with every missing tool and the packages that provide them on this host."""
    missing = missing_tools(tools)
    if missing:
        text = install_hint(missing)
        raise BuilderError(f"{purpose} needs {', '.join(missing)}, not found on this host",
                           hint=f"{text}{'; ' + hint if hint else ''}")


CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The flags of /proc/cpuinfo's first processor (every processor of a host has the same)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def require_cpu(level: CpuLevel | None, purpose: str, cpuinfo: str | None = None) -> None:
    """Fail unless the build host's CPU has every flag of `level` (its userland runs here: scriptlets, chroot steps)."""
    if level is None:
        return
    if cpuinfo is None:
        cpuinfo = CPUINFO.read_text()
    missing = sorted(level.flags - cpu_flags(cpuinfo))
    if missing:
        raise BuilderError(f"{purpose} needs an {level.name} CPU on the build host (its glibc aborts on less, and its "
                           f"package scriptlets run here); this host's CPU lacks {', '.join(missing)}",
                           hint=f"build on an {level.name} host (Intel Haswell, AMD Excavator or later), or give this "
                                "virtual machine its host's CPU model (libvirt: host-passthrough; QEMU: -cpu host)")


def require_root(purpose: str, hint: str | None = None) -> None:
    if os.geteuid() != 0:
        raise BuilderError(f"{purpose} needs root", hint=hint)


# ------------------------------------------------------------------ stderr, one whole line at a time

_PREFIX: ContextVar[str] = ContextVar("builder_progress_prefix", default="")
_STDERR = threading.Lock()


@contextlib.contextmanager
def progress_prefix(name: str) -> Iterator[None]:
    """Every stderr line written in this block (in this thread) starts with `[name] `: one job's lines among others'."""
    token = _PREFIX.set(f"[{name}] ")
    try:
        yield
    finally:
        _PREFIX.reset(token)


def say(text: str) -> None:
    """Write `text` to stderr, each line with the current job's prefix, in one piece (above a terminal's step line)."""
    prefix = _PREFIX.get()
    lines = "".join(f"{prefix}{line}\n" for line in text.splitlines() or [""])
    with _STDERR:
        _write(_CLEAR if _TICKER.shown else "")
        _write(lines)
        _TICKER.draw()


def _write(text: str) -> None:
    if text:
        sys.stderr.write(text)
        sys.stderr.flush()


# ------------------------------------------------------------------ how much builder says: --quiet, --verbose

def set_verbosity(quiet: bool = False, verbose: bool = False) -> None:
    """--quiet: no progress and no spec warnings; --verbose: also the details that progress sums up."""
    _VERBOSITY.update(quiet=quiet, verbose=verbose)


def quiet() -> bool:
    return _VERBOSITY["quiet"]


def verbose() -> bool:
    return _VERBOSITY["verbose"] and not _VERBOSITY["quiet"]


def progress(message: str) -> None:
    """A step that takes a while says what it is doing (stderr: stdout carries results only); one `==> `, even for a
    line that came with its own (the baseline script's)."""
    if not quiet():
        say(f"==> {message.removeprefix('==> ')}")


def detail(message: str) -> None:
    """A line only --verbose shows: what a progress line sums up, item by item."""
    if verbose():
        progress(message)


def say_not_applicable(artifact: str, items: Mapping[str, str]) -> None:
    """The baseline items that do not apply to an artifact: one line (--verbose: one line per item, with why)."""
    if items:
        progress(f"{artifact}: {len(items)} baseline items do not apply: {', '.join(items)}"
                 + ("" if verbose() else " (--verbose says why)"))
    for item, why in items.items():
        detail(f"{artifact}: {item}: not applicable: {why}")


def elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


_CLEAR = "\r\033[K"


class _Ticker:
    """On a terminal, one line at the bottom of stderr shows each running step and its elapsed time, redrawn every
    second (a thread) and after every other line; said lines scroll above it."""

    def __init__(self) -> None:
        self.steps: dict[int, tuple[str, float]] = {}    # id -> (what, its start on the monotonic clock)
        self.shown = False
        self.thread: threading.Thread | None = None

    def draw(self) -> None:  # with _STDERR held
        if not self.steps:
            return
        now = time.monotonic()
        text = " | ".join(f"{what} {elapsed(now - start)}" for what, start in self.steps.values())
        width = shutil.get_terminal_size((100, 24)).columns - 1
        _write(f"{_CLEAR}==> {text[:max(width - 4, 10)]}")
        self.shown = True

    def add(self, key: int, what: str) -> None:
        with _STDERR:
            self.steps[key] = (what, time.monotonic())
            self.draw()
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.tick, name="builder-progress", daemon=True)
                self.thread.start()

    def remove(self, key: int) -> float:
        with _STDERR:
            _what, start = self.steps.pop(key)
            if self.shown:
                _write(_CLEAR)
                self.shown = False
            return time.monotonic() - start

    def tick(self) -> None:
        while True:
            time.sleep(1)
            with _STDERR:
                if not self.steps:
                    self.thread = None
                    return
                self.draw()


_TICKER = _Ticker()


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """A long step (bootstrap, package install, layer writing, DIB, QEMU boot, upload). On a terminal its line shows the
    elapsed time as it runs and stays as `==> what: done in N s`; otherwise (a log, CI) one line when it starts.
    --quiet: nothing."""
    if quiet():
        yield
        return
    if not sys.stderr.isatty():
        progress(what)
        yield
        return
    label, key = f"{_PREFIX.get()}{what}", object()
    _TICKER.add(id(key), label)
    outcome = "failed after"
    try:
        yield
        outcome = "done in"
    finally:
        took = _TICKER.remove(id(key))
        progress(f"{what}: {outcome} {elapsed(took)}")


# ------------------------------------------------------------------ commands, and stopping them all


class Interrupted(KeyboardInterrupt):
    """The build was interrupted (Ctrl-C, SIGTERM) while this job ran: it unwinds like Ctrl-C, through its cleanup."""


_INTERRUPTED = threading.Event()
_RUNNING: dict[int, subprocess.Popen[str]] = {}  # pid (= its process group) -> the command, while it runs
_STOPPED: set[int] = set()                     # the commands an interrupt stopped: they end with Interrupted
_RUNNING_LOCK = threading.Lock()


@contextlib.contextmanager
def registered(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """`proc` (started as the leader of its own process group) is stopped by `interrupt_commands` while it runs."""
    with _RUNNING_LOCK:
        _RUNNING[proc.pid] = proc
    try:
        yield proc
    finally:
        with _RUNNING_LOCK:
            _RUNNING.pop(proc.pid, None)


def interrupt_commands(sig: int = signal.SIGTERM) -> None:
    """Stop every command that ran when the build was interrupted (its whole process group; again with SIGKILL for one
    that ignored SIGTERM) and refuse every later build step (`run` with check), so each job unwinds through its own
    cleanup, whose commands (check=False, started after the interrupt) are left to finish."""
    with _RUNNING_LOCK:
        if not _INTERRUPTED.is_set():
            _INTERRUPTED.set()
            _STOPPED.update(_RUNNING)
        stopping = [_RUNNING[pid] for pid in _STOPPED if pid in _RUNNING]
    for proc in stopping:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


def stopped_by_interrupt(proc: subprocess.Popen[str]) -> bool:
    return proc.pid in _STOPPED


def interrupted() -> bool:
    return _INTERRUPTED.is_set()


def raise_if_interrupted() -> None:
    if _INTERRUPTED.is_set():
        raise Interrupted()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """One build: it starts uninterrupted, and SIGTERM ends it as Ctrl-C does."""
    with _RUNNING_LOCK:
        _INTERRUPTED.clear()
        _STOPPED.clear()
    with terminate_as_interrupt():
        yield


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the block like Ctrl-C does: through the cleanup, not around it."""
    def interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are the main thread's to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


Completed = subprocess.CompletedProcess   # what `run` returns: args, returncode, stdout, stderr


class TimedOut(BuilderError):
    """A command ran longer than its time-out; it was stopped, with everything it started."""


def run(argv: Sequence[str | os.PathLike[str]], what: str, *, env: Mapping[str, str] | None = None, input: str | None = None,
        timeout: float | None = 3600, cwd: Path | None = None, log_file: Path | None = None,
        check: bool = True, input_file: Path | None = None,
        output_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with its output captured; on failure a BuilderError with `what`, the command and its last lines.

    `log_file` is a log the command writes itself (debootstrap's): its tail is added to the error. `input_file` is
    read as its standard input and `output_file` (created afresh) takes its standard output, byte for byte (binary
    data: an rpm database export); its stdout is then "".
    After an interrupt a build step (check=True) is not started; a cleanup step (check=False) still is.
    """
    if check:
        raise_if_interrupted()
    args = [str(a) for a in argv]
    with contextlib.ExitStack() as files:
        stdin: Any = subprocess.PIPE if input is not None else subprocess.DEVNULL
        stdout: Any = subprocess.PIPE
        if input_file is not None:
            stdin = files.enter_context(input_file.open("rb"))
        if output_file is not None:
            stdout = files.enter_context(output_file.open("wb"))
        proc = _spawn(args, what, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                      process_group=0)
    with terminate_as_interrupt(), registered(proc):
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc, patience=0)
            raise TimedOut(f"{what}: {shlex.join(args)} took longer than {timeout:.0f} s") from None
        except BaseException:  # Ctrl-C in the main thread: the command's whole group goes, as with subprocess.run
            _stop_group(proc, patience=0)
            raise
    if stopped_by_interrupt(proc):
        raise Interrupted()
    done = subprocess.CompletedProcess(args, proc.returncode, stdout or "", stderr)
    if check and done.returncode:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        if log_file is not None and log_file.exists():
            tail += f"\n--- {log_file.name}:\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        raise BuilderError(f"{what} failed (exit {done.returncode}): {shlex.join(args)}\n{tail}".rstrip())
    return done


def stream(argv: Sequence[str | os.PathLike[str]], what: str, *, each_line: Callable[[str], None] | None = None,
           log: Path | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None,
           timeout: float | None = None, new_session: bool = False, patience: float = 60) -> int:
    """Run a long command (debootstrap, DIB), its output (stdout and stderr as one) read as it comes: each line is
    written to `log` (created afresh, flushed line by line: `tail -f` follows the command) and handed to `each_line`
    (progress). Returns its exit status: what a failure means is the caller's to say.

    It runs in a process group of its own (`new_session`: a session too, with no terminal to open), which is stopped
    when the build is interrupted (Ctrl-C, SIGTERM, `interrupt_commands`), when `timeout` seconds have passed
    (TimedOut) or when reading fails: SIGTERM first, SIGKILL for what is left after `patience` seconds. Whatever it
    left running in its group when it ends is stopped the same way, so nothing of it outlives it.
    """
    with (log.open("w") if log is not None else contextlib.nullcontext()) as handle, \
            started(argv, what, env=env, cwd=cwd, timeout=timeout, new_session=new_session, patience=patience) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if handle is not None:
                handle.write(line)
                handle.flush()
            if each_line is not None:
                each_line(line)
    return proc.returncode


@contextlib.contextmanager
def started(argv: Sequence[str | os.PathLike[str]], what: str, *, env: Mapping[str, str] | None = None,
            cwd: Path | None = None, timeout: float | None = None, new_session: bool = False,
            patience: float = 60) -> Iterator[subprocess.Popen[str]]:
    """A command whose output (stdout and stderr as one, text lines) the caller reads as it comes; waited for at the
    end of the block, then its group stopped as `stream` says (`stream` is the usual way to read it)."""
    raise_if_interrupted()
    args = [str(a) for a in argv]
    group = {"start_new_session": True} if new_session else {"process_group": 0}
    proc = _spawn(args, what, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                  errors="replace", env=env, cwd=cwd, **group)
    overtime = _Overtime(proc, timeout)
    try:
        with terminate_as_interrupt(), registered(proc), overtime:
            yield proc
            proc.wait()
    finally:
        _stop_group(proc, patience)
    if stopped_by_interrupt(proc):
        raise Interrupted()
    if overtime.expired:
        raise TimedOut(f"{what}: {shlex.join(args)} took longer than {timeout:.0f} s")


@contextlib.contextmanager
def background(argv: Sequence[str | os.PathLike[str]], what: str, *, stderr: Path,
               patience: float = 20) -> Iterator[subprocess.Popen[bytes]]:
    """A command that runs while the block does (QEMU): no input, its output thrown away but for stderr, kept in the
    file `stderr`. At the end of the block (or on an interrupt) its process group is stopped: SIGTERM, then SIGKILL
    for what is left after `patience` seconds."""
    raise_if_interrupted()
    args = [str(a) for a in argv]
    with stderr.open("wb") as errors:
        proc = _spawn(args, what, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors, process_group=0)
    try:
        with terminate_as_interrupt(), registered(proc):
            yield proc
    finally:
        _stop_group(proc, patience)
    if stopped_by_interrupt(proc):
        raise Interrupted()


def _spawn(args: list[str], what: str, **popen: Any) -> subprocess.Popen[Any]:
    try:
        return subprocess.Popen(args, **popen)
    except FileNotFoundError:
        raise BuilderError(f"{what}: {args[0]} is not installed", hint=install_hint([args[0]])) from None


class _Overtime:
    """While the block runs, a timer that stops the command's group once `timeout` seconds have passed."""

    def __init__(self, proc: subprocess.Popen[Any], timeout: float | None):
        self.proc, self.expired = proc, False
        self.timer = threading.Timer(timeout, self.expire) if timeout is not None else None

    def expire(self) -> None:
        self.expired = True
        _signal_group(self.proc, signal.SIGKILL)

    def __enter__(self) -> _Overtime:
        if self.timer is not None:
            self.timer.daemon = True
            self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.timer is not None:
            self.timer.cancel()


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> bool:
    """Signal the command's process group; False when nothing of it is left that we may signal."""
    try:
        os.killpg(proc.pid, sig)
        return True
    except (ProcessLookupError, PermissionError):  # gone, or only what runs as another user (a setuid helper) is left
        return False


def _stop_group(proc: subprocess.Popen[Any], patience: float) -> None:
    """Stop the command and everything left in its process group, then reap it: SIGTERM while the command runs, up to
    `patience` seconds for it to end (DIB then releases what it mounted), then SIGKILL for anything still there."""
    if proc.poll() is None and patience > 0:
        _signal_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=patience)
    for _attempt in range(60):
        if not _signal_group(proc, signal.SIGKILL):
            break
        if proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=0.5)
        else:  # what is left is not ours to reap: its parent or init does
            time.sleep(0.5)
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def source_date_epoch(default: int) -> int:
    """The build date of reproducible outputs: SOURCE_DATE_EPOCH from the environment, else `default`,
    which each builder derives from its inputs (never from the clock or a local cache's age)."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return default
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds since 1970")
    return int(value)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    root = os.path.realpath(directory)
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = _unescape(line.split()[4])
            if point == root or point.startswith(root + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))
