"""Build the qcow2: run disk-image-create in a private directory, keep its log, move the image into place.

The build runs under OUT/<name>/.qcow2-build.XXXX (DIB's TMPDIR included), so
everything it mounts or attaches lies under that directory: on failure or
Ctrl-C that is what gets unmounted and detached, and nothing of the host's.
The image appears at OUT/<name>/<name>.qcow2 by one rename, or not at all.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import BuilderError
from ..output import ArtifactRecord, record_for
from . import blockdev
from .dib import ELEMENTS_DIR, DibRun, compose, disk_image_create, distro, environment_for

PHASE = re.compile(r"(?:/hooks/|/in_target\.d/)([a-z-]+\.d)\b|(Converting image)|(Build completed)")
TAIL_LINES = 40


class Qcow2BuildFailed(BuilderError):
    pass


@dataclass(frozen=True)
class Qcow2Record(ArtifactRecord):
    cache_key: str = ""


def artifact_paths(directory: Path, name: str) -> tuple[Path, Path]:
    """(image, DIB log) of a spec's qcow2 build."""
    return directory / f"{name}.qcow2", directory / f"{name}.qcow2.log"


def build_qcow2(item, directory: Path, options) -> list[ArtifactRecord]:
    run = compose(item.spec, tuple(options.extra_elements))
    extra_paths = [Path(p).resolve() for p in options.elements_path]
    if options.dry_run:
        print_dry_run(item, run, directory, extra_paths)
        return []
    image, log = artifact_paths(directory, item.spec.name)
    key = cache_key(item.sha256, run, extra_paths)
    if reusable(directory, image, key):
        print(f"qcow2 {item.spec.name}: unchanged spec, elements and DIB: reusing {image}", file=sys.stderr)
        return []
    check_host(item.spec)
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".qcow2-build.", dir=directory))
    try:
        built = run_dib(item.spec.name, run, work, extra_paths, log)
        os.replace(built, image)
        return [Qcow2Record(**vars(record_for("qcow2", directory, image)), cache_key=key)]
    finally:
        blockdev.remove_tree(work)


def run_dib(name: str, run: DibRun, work: Path, extra_paths: list[Path], log: Path) -> Path:
    """Run DIB under `work`; returns the built image (still under `work`). The log goes to `log` either way."""
    data = work / "data"
    for path, content in run.files.items():
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        (data / path).write_text(content)
    (work / "tmp").mkdir()
    env = {**os.environ, **environment_for(run, data, extra_paths)}
    env["PATH"] = f"{Path(disk_image_create()).parent}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    stem = work / name
    print(f"qcow2 {name}: disk-image-create {' '.join(run.elements)} (log: {log})", file=sys.stderr)
    returncode = None
    # The log is written where it is kept, as it grows: `tail -f` shows the build in detail.
    # DIB runs in its own process group: on Ctrl-C or SIGTERM the whole group is stopped
    # before anything it mounted is released.
    with log.open("w") as handle, _terminate_as_interrupt():
        proc = subprocess.Popen(run.argv(stem), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace", cwd=work, start_new_session=True)
        try:
            phase = None
            for line in proc.stdout:
                handle.write(line)
                handle.flush()
                match = PHASE.search(line)
                if match and (match.group(1) or match.group(2) or match.group(3)) != phase:
                    phase = match.group(1) or match.group(2) or match.group(3)
                    print(f"qcow2 {name}: {phase}", file=sys.stderr)
            returncode = proc.wait()
        finally:
            _stop_group(proc)
    built = stem.with_suffix(".qcow2")
    if returncode != 0 or not built.is_file():
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-TAIL_LINES:])
        sys.stderr.write(tail)
        raise Qcow2BuildFailed(f"qcow2 {name}: disk-image-create failed (exit {returncode}); its log is {log}",
                               hint="the lines above are the end of the log")
    return built


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the build like Ctrl-C does: through the cleanup, not around it."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop DIB and everything it started (the session made for it), then reap it."""
    def signal_group(sig: int) -> bool:
        try:
            os.killpg(proc.pid, sig)
            return True
        except ProcessLookupError:
            return False

    if proc.poll() is None:
        signal_group(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    for _attempt in range(60):
        if not signal_group(signal.SIGKILL if proc.poll() is not None else signal.SIGTERM):
            break
        time.sleep(0.5)
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def check_host(spec) -> None:
    if os.geteuid() != 0:
        raise BuilderError("a qcow2 build needs root (diskimage-builder mounts and partitions a loop device)",
                           hint="run builder as root, or use --dry-run to see what would run")
    if not Path(disk_image_create()).exists():
        raise BuilderError("disk-image-create is not installed beside builder", hint="pip install diskimage-builder")
    element = distro(spec)[0]
    needs = ["qemu-img", "sgdisk" if spec.qcow2_settings.block_device != "mbr" else "partx"]
    needs.append({"debian-minimal": "debootstrap", "centos-minimal": "dnf"}.get(element, "podman"))  # *-container: DIB's default runtime
    missing = [tool for tool in needs if shutil.which(tool) is None]
    if missing:
        raise BuilderError(f"qcow2 {spec.name}: missing on this host: {', '.join(missing)}",
                           hint="install them (Debian: qemu-utils gdisk debootstrap)")


# ------------------------------------------------------------------ reuse


def cache_key(spec_sha256: str, run: DibRun, extra_paths: list[Path]) -> str:
    """Same key, same image: the spec, every element file, the composed run (baseline included), DIB and builder."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"spec": spec_sha256, "elements": run.elements, "options": run.options,
                              "environment": run.environment, "files": run.files, "dib": dib_version(),
                              "builder": __version__}, sort_keys=True).encode())
    for root in [ELEMENTS_DIR, *extra_paths]:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(root)}\0{path.stat().st_mode & 0o777}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def dib_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("diskimage-builder")
    except PackageNotFoundError:
        return "missing"


def reusable(directory: Path, image: Path, key: str) -> bool:
    """The recorded image was built from this key and its bytes are unchanged."""
    try:
        record = json.loads((directory / "manifest.json").read_text())["artifacts"]["qcow2"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if record.get("cache_key") != key or not image.is_file() or image.stat().st_size != record.get("size"):
        return False
    return record_for("qcow2", directory, image).sha256 == record.get("sha256")


# ------------------------------------------------------------------ dry run


def print_dry_run(item, run: DibRun, directory: Path, extra_paths: list[Path]) -> None:
    image, log = artifact_paths(directory, item.spec.name)
    data = directory / ".qcow2-build.XXXX" / "data"
    env = environment_for(run, data, extra_paths)
    print(f"# qcow2 {item.spec.name} ({item.spec.target}): would build {image} (log {log})")
    print(f"elements: {' '.join(run.elements)}")
    print("compression: " + ("none (qcow2.compress: false)" if "-u" in run.options else "zlib-compressed qcow2 clusters (qcow2.compress)"))
    for key in sorted(env):
        print(f"env: {key}={shlex.quote(env[key])}")
    for path in sorted(run.files):
        print(f"file: {data / path} ({len(run.files[path].encode())} bytes)")
    print("command: " + " ".join(f"{key}={shlex.quote(env[key])}" for key in sorted(env)) + " "
          + shlex.join(run.argv(directory / ".qcow2-build.XXXX" / item.spec.name)))
