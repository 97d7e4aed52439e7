"""Many specs at once: `builder build SPEC... --jobs N`, and the locks that keep caches whole between builds.

The locks are tried across real processes (the base-tree cache with a bootstrapper that waits at a
gate, so which process fills the entry and which one waits is decided by the test, not by timing).
The failing job is a real failure of a real build: its output directory is taken by a file.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.gated_bootstrap import DATE, Gated
from support.requirements import skip_or_fail

from builder import host, locks
from builder.bootstrap import tree
from builder.manifest import Manifest

ROOT = Path(__file__).resolve().parent.parent
CS9 = ROOT / "examples" / "compute-node-cs9.yaml"
GATED = Path(__file__).resolve().parent / "support" / "gated_bootstrap.py"
PATIENCE = 60  # seconds a test waits for a process to reach a point it is sure to reach


def builder(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, **(env or {})})


def renamed(source: Path, name: str, directory: Path) -> Path:
    text = source.read_text()
    assert text.count("\nname: ") == 1
    spec = directory / f"{name}.yaml"
    spec.write_text(text.replace("\nname: ", f"\nname: {name}\n#", 1))
    return spec


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"not within {PATIENCE} s: {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------- --jobs on the command line


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_a_number_of_jobs_that_is_not_one_or_more_is_refused(tmp_path, value):
    result = builder("build", CS9, "--out", tmp_path / "out", f"--jobs={value}")
    assert result.returncode == 2, result.stderr
    assert "argument --jobs" in result.stderr and "not a number of jobs" in result.stderr
    assert not (tmp_path / "out").exists()


def test_jobs_with_a_dry_run_is_refused(tmp_path):
    result = builder("build", CS9, "--out", tmp_path / "out", "--jobs", "2", "--dry-run")
    assert result.returncode == 2
    assert "--jobs is for a build, and a dry run builds nothing" in result.stderr
    assert result.stdout == "" and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- one spec failing, the others whole


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_a_failed_spec_leaves_the_others_built_whole_and_the_summary_says_why(tmp_path, jobs):
    specs = [renamed(CS9, name, tmp_path) for name in ("node-a", "node-b", "node-c")]
    out = tmp_path / "out"
    out.mkdir()
    (out / "node-b").write_text("not a directory\n")  # node-b's output directory cannot be made
    result = builder("build", *specs, "--out", out, "--jobs", jobs)
    assert result.returncode == 1, result.stderr
    assert [row.split()[:3] for row in result.stdout.splitlines()[1:]] == [
        [name, kind, str(out / name / file)] for name in ("node-a", "node-c")
        for kind, file in (("kickstart", "ks.cfg"), ("prepull", "prepull.sh"))]
    assert f"[node-b] error: {out / 'node-b'}: File exists" in result.stderr.splitlines()
    summary = result.stderr.splitlines()[-4:]
    assert summary == ["3 specs: 2 built, 1 failed",
                       f"  node-a: built ({out / 'node-a'})",
                       f"  node-b: failed ({out / 'node-b'}: File exists)",
                       f"  node-c: built ({out / 'node-c'})"]
    for name in ("node-a", "node-c"):
        manifest = Manifest.load(out / name)
        assert set(manifest.artifacts) == {"kickstart", "prepull"}
        for kind in manifest.artifacts:
            manifest.artifact(kind)  # there, with the size and sha256 recorded
        assert {p.name for p in (out / name).iterdir()} == {"ks.cfg", "prepull.sh", "manifest.json"}
    assert (out / "node-b").read_text() == "not a directory\n"


def test_one_spec_fails_as_before_without_a_summary(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "compute-node-cs9").write_text("taken\n")
    result = builder("build", CS9, "--out", out, "--jobs", "2")
    assert result.returncode == 1
    assert result.stderr == f"error: {out / 'compute-node-cs9'}: File exists\n"


def test_a_second_builder_process_into_the_same_directory_waits_for_the_first(tmp_path):
    out = tmp_path / "out"
    directory = out / "compute-node-cs9"
    with locks.directory_held(directory, "nothing"):  # as a first builder process building this spec holds it
        second = subprocess.Popen([sys.executable, "-m", "builder.cli", "build", CS9, "--out", out], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # a second process that did not wait would print something else, or nothing, and end: readline returns
        assert second.stderr.readline() == f"==> waiting for another build into {directory} (lock {directory})\n"
        assert second.poll() is None and list(directory.iterdir()) == []
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr
    assert [row.split()[2] for row in stdout.splitlines()[1:]] == [str(directory / "ks.cfg"), str(directory / "prepull.sh")]
    assert set(Manifest.load(directory).artifacts) == {"kickstart", "prepull"}


# ---------------------------------------------------------------- progress lines carry their job's name


def test_each_threads_progress_lines_carry_its_own_prefix(capsys):
    def job(name: str) -> None:
        with host.progress_prefix(name):
            for n in range(200):
                host.progress(f"{name} step {n}")

    threads = [threading.Thread(target=job, args=(name,)) for name in ("alpha", "beta", "gamma")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    host.progress("after")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 601 and lines[-1] == "==> after"
    for line in lines[:-1]:
        name = line[1:line.index("]")]
        assert line.startswith(f"[{name}] ==> {name} step "), line


# ---------------------------------------------------------------- an interrupt stops every job's command, not its cleanup


def test_an_interrupt_stops_every_running_command_and_later_steps_but_not_cleanup():
    results: dict[str, object] = {}

    def job(name: str) -> None:
        try:
            host.run(["sleep", "600"], f"{name}: a long step")
            results[name] = "finished"
        except host.Interrupted:
            cleanup = host.run(["echo", "cleaned"], "a cleanup step", check=False)
            results[name] = cleanup.stdout.strip()

    with host.interruptible():
        threads = [threading.Thread(target=job, args=(name,)) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(host._RUNNING) == 2, "both commands running")
        host.interrupt_commands()
        for thread in threads:
            thread.join(PATIENCE)
        assert results == {"one": "cleaned", "two": "cleaned"}
        with pytest.raises(host.Interrupted):
            host.run(["true"], "a build step after the interrupt")
    with host.interruptible():  # the next build starts afresh
        assert host.run(["true"], "a build step").returncode == 0


# ---------------------------------------------------------------- the base-tree cache between processes


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if reason := tree.why_not_bootstrap():
        skip_or_fail(reason)
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class GatedProcess:
    """tests/support/gated_bootstrap.py in a process of its own; its stdout lines collected as they come."""

    def __init__(self, gates: Path):
        self.proc = subprocess.Popen([sys.executable, str(GATED), str(gates)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=os.environ.copy())
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(line.rstrip("\n") for line in self.proc.stdout))
        self.reader.start()

    def said(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for line in list(self.lines))

    def finish(self) -> int:
        code = self.proc.wait(PATIENCE)
        self.reader.join(PATIENCE)
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.reader.join(PATIENCE)


def test_two_processes_asking_for_one_entry_bootstrap_it_once(cache: Path, tmp_path: Path):
    gates = tmp_path / "gates"
    gates.mkdir()
    first = GatedProcess(gates)
    try:
        wait_until(lambda: (gates / "started").exists(), "the first process bootstraps")
        second = GatedProcess(gates)
        try:
            wait_until(lambda: second.said("waiting for another build's bootstrap"), "the second process waits")
            (gates / "go").touch()
            assert first.finish() == 0 and second.finish() == 0, first.lines + second.lines
        finally:
            second.kill()
    finally:
        first.kill()
    assert (gates / "bootstraps").read_text() == "bootstrap\n", "bootstrapped more than once"
    base = tree.BaseTree(Gated(str(gates)))
    record = f"record {DATE} {tree.file_digest(base.tarball)}"
    assert first.lines[-1] == second.lines[-1] == record
    assert second.lines[-2] == f"base tree from the cache: {base.tarball.name}"
    assert [line for line in second.lines if line.startswith("waiting")] == [
        f"waiting for another build's bootstrap of {base.tarball.name} (lock {base.lock}, held by pid {first.proc.pid})"]


def test_a_process_killed_while_it_holds_the_lock_does_not_block_the_next(cache: Path, tmp_path: Path):
    gates = tmp_path / "gates"
    gates.mkdir()
    killed = GatedProcess(gates)
    try:
        wait_until(lambda: (gates / "started").exists(), "the first process bootstraps, holding the lock")
    finally:
        killed.proc.send_signal(signal.SIGKILL)
        killed.kill()
    base = tree.BaseTree(Gated(str(gates)))
    assert base.lock.exists() and not base.tarball.exists()
    (gates / "go").touch()
    next_one = GatedProcess(gates)
    try:
        assert next_one.finish() == 0, next_one.lines
    finally:
        next_one.kill()
    assert not any(line.startswith("waiting") for line in next_one.lines), next_one.lines
    assert next_one.lines[-1] == f"record {DATE} {tree.file_digest(base.tarball)}"
    assert (gates / "bootstraps").read_text() == "bootstrap\nbootstrap\n"


def test_a_killed_bootstraps_partial_files_are_removed_by_the_next_holder(cache: Path, tmp_path: Path):
    base = tree.BaseTree(Gated(str(tmp_path)))
    cache.joinpath("bases").mkdir(parents=True)
    leftover = cache / "bases" / f"{base.partial_prefix}abc.tar.zst"
    leftover.write_bytes(b"half a tarball")
    other = cache / "bases" / ".partial-someone-else-abc.tar.zst"
    other.write_bytes(b"another entry's")
    (tmp_path / "go").touch()
    tree.ensure_cached(base, log=lambda _: None)
    assert not leftover.exists() and other.exists()


def test_a_lock_excludes_threads_of_one_process_as_it_does_processes(tmp_path: Path):
    path = tmp_path / "locks" / "one.lock"
    inside: list[str] = []
    said: list[str] = []

    def other_thread() -> None:
        with locks.held(path, "the test", log=said.append):
            inside.append("thread")

    with locks.held(path, "the test"):
        thread = threading.Thread(target=other_thread)
        thread.start()
        wait_until(lambda: said, "the thread waits")
        assert inside == [] and said == [f"waiting for the test (lock {path}, held by pid {os.getpid()})"]
    thread.join(PATIENCE)
    assert inside == ["thread"]


def test_the_cache_root_follows_builder_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path))
    assert tree.cache_dir() == tmp_path / "bases"
    assert locks.lock_file("engine", "unix:///a.sock").parent == tmp_path / "locks"
    assert locks.lock_file("engine", "unix:///a.sock") != locks.lock_file("engine", "unix:///b.sock")


def test_a_directory_lock_waits_and_follows_a_directory_its_holder_removed(tmp_path: Path):
    """A failed build removes the OUT/<name>/ it made, lock held: the waiter must not keep the removed one's lock."""
    directory = tmp_path / "out" / "node"
    said: list[str] = []
    seen: list[bool] = []

    def waiter() -> None:
        with locks.directory_held(directory, "the first build", log=said.append):
            seen.append(directory.is_dir())  # the directory it holds is there, not the one removed
            (directory / "made-by-the-waiter").touch()

    with locks.directory_held(directory, "nothing"):
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_until(lambda: said, "the waiter waits")
        assert said == [f"waiting for the first build (lock {directory})"] and seen == []
        directory.rmdir()
    thread.join(PATIENCE)
    assert seen == [True]
    assert [p.name for p in (tmp_path / "out").rglob("*")] == ["node", "made-by-the-waiter"], "a lock file in the output"
