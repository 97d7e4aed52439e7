"""Build the qcow2: run disk-image-create in a private directory, keep its log, move the image into place.

The build runs under OUT/<name>/.qcow2-build.XXXX (DIB's TMPDIR included), so
everything it mounts or attaches lies under that directory: on failure or
Ctrl-C that is what gets unmounted and detached, and nothing of the host's.
The image appears at OUT/<name>/<name>.qcow2 by one rename, or not at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import tempfile
from pathlib import Path

from .. import __version__, bootstrap
from ..bootstrap.plan import Plan
from ..errors import BuilderError
from ..host import progress, require_cpu, require_root, require_tools, say, step, stream
from ..manifest import ArtifactRecord, Manifest, ManifestError, record_for
from ..output import file_digest
from ..spec import Spec
from . import blockdev
from .dib import ELEMENTS_DIR, ROOT_TARBALL, DibRun, compose, disk_image_create, environment_for

PHASE = re.compile(r"(?:/hooks/|/in_target\.d/)([a-z-]+\.d)\b|(Converting image)|(Build completed)")
TAIL_LINES = 40


class Qcow2BuildFailed(BuilderError):
    pass


def artifact_paths(directory: Path, name: str) -> tuple[Path, Path]:
    """(image, DIB log) of a spec's qcow2 build."""
    return directory / f"{name}.qcow2", directory / f"{name}.qcow2.log"


def build_qcow2(plan: Plan, directory: Path, options) -> list[ArtifactRecord]:
    item = plan.item
    run = compose(plan, tuple(options.extra_elements))
    extra_paths = [Path(p).resolve() for p in options.elements_path]
    image, log = artifact_paths(directory, item.spec.name)
    check_host(item.spec, run)
    # The base tree first: it follows the mirror, and an image of an older mirror state is not reused.
    tarball = bootstrap.ensure_cached(run.root, log=progress, offline=options.offline)
    key = cache_key(item.sha256, run, extra_paths, file_digest(tarball))
    reused = reusable(directory, key, log)
    if reused:
        progress(f"qcow2 {item.spec.name}: unchanged spec, base tree, elements and DIB: reusing {image}")
        return reused
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".qcow2-build.", dir=directory))
    try:
        built = run_dib(item.spec.name, run, work, extra_paths, log, tarball)
        os.replace(built, image)
        return [record_for("qcow2", directory, image, cache_key=key), record_for("qcow2-log", directory, log)]
    finally:
        blockdev.remove_tree(work)


def run_dib(name: str, run: DibRun, work: Path, extra_paths: list[Path], log: Path, tarball: Path) -> Path:
    """Run DIB under `work` from the bootstrapped `tarball`; returns the built image (still under `work`).
    The log goes to `log` either way."""
    data = work / "data"
    for path, content in run.files.items():
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        (data / path).write_text(content)
    (data / ROOT_TARBALL).symlink_to(tarball)
    (work / "tmp").mkdir()
    env = {**os.environ, **environment_for(run, data, extra_paths)}
    env["PATH"] = f"{Path(disk_image_create()).parent}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    stem = work / name
    progress(f"qcow2 {name}: log: {log}")
    phase = None

    def each_line(line: str) -> None:
        nonlocal phase
        match = PHASE.search(line)
        if match and (match.group(1) or match.group(2) or match.group(3)) != phase:
            phase = match.group(1) or match.group(2) or match.group(3)
            progress(f"qcow2 {name}: {phase}")

    # The log is written where it is kept, as it grows: `tail -f` shows the build in detail.
    # DIB runs in a session of its own: on Ctrl-C or SIGTERM its whole group is stopped
    # before anything it mounted is released.
    with step(f"qcow2 {name}: disk-image-create {' '.join(run.elements)}"):
        returncode = stream(run.argv(stem), "disk-image-create", each_line=each_line, log=log, env=env, cwd=work,
                            new_session=True)
    built = stem.with_suffix(".qcow2")
    if returncode != 0 or not built.is_file():
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-TAIL_LINES:])
        say(tail)
        raise Qcow2BuildFailed(f"qcow2 {name}: disk-image-create failed (exit {returncode}); its log is {log}",
                               hint="the lines above are the end of the log")
    return built


def check_host(spec: Spec, run: DibRun) -> None:
    require_root("a qcow2 build (diskimage-builder mounts and partitions a loop device)",
                 hint="run builder as root, or use --dry-run to see what would run")
    if not Path(disk_image_create()).exists():
        raise BuilderError("disk-image-create is not installed beside builder", hint="pip install diskimage-builder")
    require_tools(host_tools(spec, run), f"qcow2 {spec.name}")
    # DIB's chroot steps run the tree's own binaries on this CPU (a cached tree skips the bootstrap's check).
    info = spec.target.info
    require_cpu(info.facts.cpu_level(info.major), f"qcow2 {spec.name} ({spec.target})")


def host_tools(spec: Spec, run: DibRun) -> list[str]:
    """What the build runs on the build host for this spec: the bootstrap of its tree (debootstrap, or dnf and
    rpm), then DIB (beyond what diskimage-builder brings; builder-root unpacks the tree with tar and zstd)."""
    dib = ["qemu-img", "sgdisk" if spec.qcow2_settings.block_device != "mbr" else "partx", "losetup", "mount",
           "tar", "zstd"]
    return list(dict.fromkeys([*run.root.host_tools, *dib]))


# ------------------------------------------------------------------ reuse


def cache_key(spec_sha256: str, run: DibRun, extra_paths: list[Path], tree_sha256: str) -> str:
    """Same key, same image: the spec, the base tree's bytes (its mirror state), every element file, the composed run
    (baseline included), DIB and builder."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"spec": spec_sha256, "elements": run.elements, "options": run.options,
                              "environment": run.environment, "files": run.files, "dib": dib_version(),
                              "root": [str(run.root.tarball), run.root.command_line(Path("ROOT")), tree_sha256],
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


def reusable(directory: Path, key: str, log: Path) -> list[ArtifactRecord]:
    """The records of the image and its log when it was built from this key and its bytes are unchanged; else []."""
    try:
        manifest = Manifest.load_if_any(directory)
        record = manifest.record("qcow2") if manifest else None
        if record is None or record.cache_key != key:
            return []
        manifest.artifact("qcow2")
    except ManifestError:
        return []
    return [record, *([record_for("qcow2-log", directory, log)] if log.is_file() else [])]


# ------------------------------------------------------------------ dry run


def repositories(spec: Spec, run: DibRun) -> list[str]:
    """Every repository URL the build contacts: the bootstrap's, then the spec's (apt or dnf in DIB's chroot
    reads the spec's repository files and nothing else)."""
    return list(dict.fromkeys([*run.root.bootstrapper.repositories(), *(repo.baseurl for repo in spec.repos)]))


def plan_qcow2(plan: Plan, directory: Path, options) -> list[str]:
    """The exact disk-image-create run: elements, environment, data files and command line."""
    item = plan.item
    run = compose(plan, tuple(options.extra_elements))
    extra_paths = [Path(p).resolve() for p in options.elements_path]
    image, log = artifact_paths(directory, item.spec.name)
    data = directory / ".qcow2-build.XXXX" / "data"
    env = environment_for(run, data, extra_paths)
    lines = [f"# qcow2 {item.spec.name} ({item.spec.target}): would build {image} (log {log})",
             f"elements: {' '.join(run.elements)}",
             "compression: " + ("none (qcow2.compress: false)" if "-u" in run.options else "zlib-compressed qcow2 clusters (qcow2.compress)")]
    tarball = run.root.tarball
    lines += [f"root tree: {tarball} (the spec's bootstrapped tree, the container image's too; "
              f"when not cached, or when its repositories changed since (unless --offline): {run.root.command_line(Path('ROOT'))})"]
    lines += [f"repository: {url}" for url in repositories(item.spec, run)]
    lines += [f"env: {key}={shlex.quote(env[key])}" for key in sorted(env)]
    lines.append(f"file: {data / ROOT_TARBALL} -> {tarball}")
    lines += [f"file: {data / path} ({len(run.files[path].encode())} bytes)" for path in sorted(run.files)]
    lines.append("command: " + " ".join(f"{key}={shlex.quote(env[key])}" for key in sorted(env)) + " "
                 + shlex.join(run.argv(directory / ".qcow2-build.XXXX" / item.spec.name)))
    return lines
