"""The container base image is reproducible across machines, not only per cache.

A build from an empty cache stands for a second machine: it bootstraps the same suite from the
same mirror state as the shared test cache did (cold or warm), and must give the same image digest.
SOURCE_DATE_EPOCH defaults to the suite's Release date (an input), never to the moment a cache was
filled, and the first build continues from the cached tarball exactly as later builds do.
Proves: machine independence for one mirror state. Not proven here: a mirror whose state moved on
gives a new date (it does: the Release file's Date: moves with every archive update).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.debootstrap import cache_dir, mounts_under
from support.requirements import skip_or_fail

from builder import bootstrap
from builder.container.image import read_layout, sha256_of

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"


def build(out: Path, cache: Path) -> str:
    env = {**os.environ, "BUILDER_CACHE": str(cache), "DOCKER_HOST": f"unix://{out}/no-engine.sock"}
    env.pop("SOURCE_DATE_EPOCH", None)
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "build", str(EXAMPLE), "--only", "container", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "debootstrap: " in proc.stderr or "base tree from the cache" in proc.stderr, "the bootstrap step says what it does"
    manifest_bytes, _, _ = read_layout(out / EXAMPLE.stem / "container" / "oci")
    return sha256_of(manifest_bytes)


def test_an_empty_cache_gives_the_same_digest_as_another_machines_cache(tmp_path: Path):
    if reason := bootstrap.why_not_bootstrap():
        skip_or_fail(reason)
    shared = build(tmp_path / "shared", cache_dir())
    fresh = build(tmp_path / "fresh", tmp_path / "empty-cache")
    assert not mounts_under(tmp_path)
    assert not list((tmp_path / "empty-cache").glob("bases/.partial-*"))
    assert fresh == shared
