"""`builder build --jobs 2` for real: Debian container images that share one base tree, a private Docker engine.

The cold case starts from an empty cache (the test is about the first bootstrap); the interrupt
test reuses the tests' cache of base trees. Each build's temporary directories go to a TMPDIR of
the test's own, so "nothing left behind" is checked where the build could leave it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.debootstrap import cache_dir, mounts_under
from support.engines import Engine, why_not_engines
from support.requirements import skip_or_fail

from builder.container.image import read_layout
from builder.manifest import Manifest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"
PATIENCE = 1800  # seconds a test waits for a build to reach a point it is sure to reach


def spec_named(directory: Path, name: str, failing: bool = False) -> Path:
    """The Debian example under another name (the same base tree); `failing`: a post_command that fails."""
    text = EXAMPLE.read_text()
    assert text.count("\nname: debian12-node\n") == 1 and text.count("\npost_commands:\n") == 1
    text = text.replace("\nname: debian12-node\n", f"\nname: {name}\n")
    if failing:
        text = text.replace("\npost_commands:\n", "\npost_commands:\n  - \"false\"\n")
    spec = directory / f"{name}.yaml"
    spec.write_text(text)
    return spec


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if reason := why_not_engines():
        skip_or_fail(reason)
    started = Engine(tmp_path_factory.mktemp("engine")).start()
    try:
        yield started
    finally:
        started.stop()


def environment(engine: Engine, cache: Path, tmp: Path) -> dict[str, str]:
    tmp.mkdir()
    return {**os.environ, "DOCKER_HOST": engine.host, "BUILDER_CACHE": str(cache), "TMPDIR": str(tmp)}


def test_two_specs_share_one_bootstrap_and_a_failing_one_leaves_the_others_whole(engine: Engine, tmp_path: Path):
    specs = [spec_named(tmp_path, "node-a"), spec_named(tmp_path, "node-b"), spec_named(tmp_path, "node-bad", failing=True)]
    out, cache, tmp = tmp_path / "out", tmp_path / "cache", tmp_path / "tmp"
    result = subprocess.run([sys.executable, "-m", "builder.cli", "build", *specs, "--only", "container", "--out", out,
                             "--jobs", "2"], cwd=ROOT, capture_output=True, text=True, timeout=3600,
                            env=environment(engine, cache, tmp))
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert [row.split()[:2] for row in result.stdout.splitlines()[1:]] == [
        [name, kind] for name in ("node-a", "node-b") for kind in ("container", "container-archive")]

    # one bootstrap from the empty cache; the other two jobs took its entry (after waiting on its lock, or not)
    assert len([line for line in lines if "] ==> bootstrapping " in line]) == 1, result.stderr
    assert len([line for line in lines if "] ==> base tree from the cache: " in line]) == 2, result.stderr
    [entry] = (cache / "bases").glob("*.tar.zst")
    assert json.loads(entry.with_suffix(".json").read_text())["sha256"]
    assert not [line for line in lines if line.startswith("==> ")], "a progress line without its job's name"

    assert lines[-4:-1] == ["3 specs: 2 built, 1 failed", f"  node-a: built ({out / 'node-a'})",
                            f"  node-b: built ({out / 'node-b'})"]
    assert lines[-1].startswith("  node-bad: failed (the baseline script failed in the container tree (exit 1)")
    assert not (out / "node-bad").exists()
    for name in ("node-a", "node-b"):
        directory = out / name
        manifest = Manifest.load(directory)
        assert set(manifest.artifacts) == {"container", "container-archive"}
        for kind in manifest.artifacts:
            manifest.artifact(kind)  # there, with the recorded size and sha256
        _, image_manifest, _ = read_layout(directory / "container" / "oci")
        inspect = json.loads(engine.docker("image", "inspect", f"{name}:latest").stdout)[0]
        assert inspect["Id"] == image_manifest["config"]["digest"], f"{name} is not the image the engine holds"
    assert list(tmp.iterdir()) == [] and mounts_under(tmp_path) == []


def test_ctrl_c_stops_every_job_and_leaves_nothing_behind(engine: Engine, tmp_path: Path):
    specs = [spec_named(tmp_path, "node-c"), spec_named(tmp_path, "node-d")]
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    env = environment(engine, cache_dir(), tmp)  # the tests' base trees: this test is not about the first bootstrap
    proc = subprocess.Popen([sys.executable, "-m", "builder.cli", "build", *specs, "--only", "container", "--out", out,
                             "--jobs", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # A background shell starts us with SIGINT ignored; a terminal's Ctrl-C is not.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stderr))
    reader.start()
    try:
        deadline = time.monotonic() + PATIENCE
        running = ("[node-c] ==> container: running the baseline script", "[node-d] ==> container: running the baseline script")
        while not all(any(line.startswith(prefix) for line in list(lines)) for prefix in running):
            assert proc.poll() is None and time.monotonic() < deadline, "\n".join(lines)
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=600)  # stderr is the reader's: communicate() would read it too
        stdout = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(60)
    assert proc.returncode == 130, "\n".join(lines)
    assert stdout == ""
    assert lines[-3:] == ["2 specs: 0 built, 0 failed, 2 interrupted", "  node-c: interrupted (cleaned up)",
                          "  node-d: interrupted (cleaned up)"], "\n".join(lines)
    assert not out.exists() or list(out.iterdir()) == [], "an interrupted build left output"
    assert list(tmp.iterdir()) == [] and mounts_under(tmp_path) == [], "an interrupted build left its work behind"
