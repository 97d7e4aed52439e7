"""The Debian 12 example built as a qcow2 by the real diskimage-builder, cached across test runs.

The cache is builder's own rebuild reuse: the output directory lives in the
test cache, and `builder build` reuses the image while the spec, our
elements, DIB and builder are unchanged (manifest.json records the key).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from builder.qcow2 import blockdev
from builder.qcow2.dib import disk_image_create

from .debootstrap import SUITE, cache_dir
from .dm_shims import dm_shims
from .mirror import EXAMPLE_MIRROR, MIRRORS

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"
BUILDER = str(Path(sys.executable).parent / "builder")


def why_not_dib() -> str | None:
    if os.geteuid() != 0:
        return "needs root: diskimage-builder mounts and partitions loop devices"
    missing = [t for t in ("qemu-img", "debootstrap", "partx", "losetup", "sudo", "kpartx") if shutil.which(t) is None]
    if missing:
        return f"missing on this host: {', '.join(missing)}"
    if not (Path(sys.executable).parent / "disk-image-create").exists():
        return "diskimage-builder is not installed in the venv"
    return None


def why_not_qemu() -> str | None:
    missing = [t for t in ("qemu-system-x86_64", "xorriso", "ssh", "ssh-keygen") if shutil.which(t) is None]
    return f"missing on this host: {', '.join(missing)}" if missing else None


def build_cached(spec: Path = EXAMPLE, out: Path | None = None, log: Path | None = None) -> Path:
    """Build (or reuse) the spec's qcow2 in the test cache; returns the image path."""
    out = out or cache_dir() / "qcow2-out"
    out.mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".qcow2-out.lock", "w") as lock, dm_shims():
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([BUILDER, "build", str(spec), "--only", "qcow2", "--out", str(out)],
                                capture_output=True, text=True)
        if log:
            log.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"qcow2 build failed ({result.returncode}):\n{result.stderr[-5000:]}")
    name = spec.stem if spec == EXAMPLE else None
    images = list((out / (name or "")).rglob("*.qcow2")) if name else list(out.rglob("*.qcow2"))
    return images[0]


# The plain diskimage-builder image ours is compared with (benchmarks/qcow2_build.py, the SSG scores).
STOCK_ELEMENTS = ("vm", "debian-minimal", "block-device-mbr")


def stock_environment() -> dict[str, str]:
    """DIB's settings for a plain Debian 12 image from this host's mirror (read from its APT sources)."""
    main = MIRRORS.get(f"{EXAMPLE_MIRROR}/debian")
    if main is None:
        raise RuntimeError("no bookworm suite in this host's APT sources: a plain DIB image needs a Debian mirror")
    return {"DIB_RELEASE": SUITE, "DIB_DISTRIBUTION_MIRROR": main,
            "DIB_DEBIAN_SECURITY_MIRROR": MIRRORS.get(f"{EXAMPLE_MIRROR}/debian-security", main + "-security")}


def stock_command(output_stem: Path, work: Path, compress: bool) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of `disk-image-create -a amd64 -t qcow2 [-u] vm debian-minimal block-device-mbr`,
    with DIB's TMPDIR under `work` (so whatever a failed build leaves mounted lies there)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "TMPDIR": str(work / "tmp"),
           **stock_environment()}
    argv = [disk_image_create(), "-a", "amd64", "-t", "qcow2", *([] if compress else ["-u"]),
            "-o", str(output_stem), *STOCK_ELEMENTS]
    return argv, env


def build_stock_cached(log: Path | None = None) -> Path:
    """The plain DIB image, built once per DIB version and mirror and kept in the test cache.

    Uncompressed (-u), like the example's own image: compression changes no file in it.
    """
    log = log or cache_dir() / "dib-stock.last-build.log"
    env = stock_environment()
    key = hashlib.sha256(json.dumps([version("diskimage-builder"), STOCK_ELEMENTS, env]).encode()).hexdigest()[:16]
    image = cache_dir() / f"dib-stock-{key}.qcow2"
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".dib-stock.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image.exists():
            return image
        work = Path(tempfile.mkdtemp(prefix=".dib-stock.", dir=cache_dir()))
        try:
            (work / "tmp").mkdir()
            argv, environment = stock_command(work / "stock", work, compress=False)
            with dm_shims(), open(log, "w") as out:
                result = subprocess.run(argv, env=environment, stdout=out, stderr=subprocess.STDOUT, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"plain DIB build failed ({result.returncode}); see {log}")
            for old in cache_dir().glob("dib-stock-*.qcow2"):  # an older DIB's or mirror's image
                old.unlink()
            os.replace(work / "stock.qcow2", image)
        finally:
            blockdev.remove_tree(work)
    return image
