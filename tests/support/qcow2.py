"""The Debian 12 example built as a qcow2 by the real diskimage-builder, cached across test runs.

The cache is builder's own rebuild reuse: the output directory lives in the
test cache, and `builder build` reuses the image while the spec, our
elements, DIB and builder are unchanged (manifest.json records the key).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .debootstrap import cache_dir
from .dm_shims import dm_shims

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
