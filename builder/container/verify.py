"""`builder verify SPEC --image REF`: the baseline checks on an image's file system.

The image is unpacked from a created (never started) container, so nothing in it runs
and nothing in it reaches a network; the tree is checked as a container and removed. Only
the check of its packages against the spec's repositories reads them (from the build host).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..baseline import Baseline
from ..baseline.verify import Result, verify_rootfs
from . import engine


def verify_image(spec, reference: str) -> list[Result]:
    work = Path(tempfile.mkdtemp(prefix="builder-verify-image."))
    try:
        root = work / "root"
        root.mkdir()
        engine.export_image(reference, root)
        return verify_rootfs(Baseline(spec, context="container"), root, "container", current=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
