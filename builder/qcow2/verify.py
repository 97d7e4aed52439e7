"""builder verify --qcow2: the offline checks on the image, then the checks in the booted guest."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..baseline import Baseline
from ..baseline.verify import Result
from ..errors import UsageError
from ..host import progress


def verify_qcow2(baseline: Baseline, image: Path, boot: bool = True, console: Path | None = None) -> list[Result]:
    from .live import verify_live
    from .offline import verify_offline

    if not image.is_file():
        raise UsageError(f"{image}: no such image file")
    progress(f"verify {image}: offline, in the image mounted read-only")
    results = verify_offline(baseline, image)
    if boot:
        results += [replace(r, item=f"{r.item} (booted)") for r in verify_live(baseline, image, console=console)]
    return results
