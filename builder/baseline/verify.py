"""Check a root filesystem against the baseline, item by item, without booting it.

The checks only read files (nothing written). Every item that exists in the context
yields at least one Result, and an item that does not apply says why. Which checks run,
in which order, is the items' (items/).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .current import check_current
from .items import CONTEXTS, items_in, not_applicable_items
from .model import Baseline
from .results import Check, Result, Status
from .rootfs import RootFS, RootfsError

__all__ = ["CONTEXTS", "Result", "Status", "verify_rootfs"]


def verify_rootfs(baseline: Baseline, root: Path, context: str = "rootfs", current: bool = False) -> list[Result]:
    """Check every baseline item on the tree at `root`; never writes to it. `current`: also whether its packages are
    the newest the spec's repositories offer (reads them over the network: `builder verify` asks for it)."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}")
    if context != baseline.context and "container" in (context, baseline.context):
        raise ValueError(f"a baseline rendered for {baseline.context} cannot be checked as {context}")
    if not Path(root).is_dir():
        raise UsageError(f"{root} is not a directory", hint="give the root of an unpacked file system")
    check = Check(baseline, RootFS(root), context)
    na = not_applicable_items(baseline.spec, context)
    results: list[Result] = []
    for item in items_in(context):
        if item.check is None:
            continue
        if item.name in na:
            results.append(Result(item.name, Status.NA, na[item.name]))
            continue
        found: list[Result] = []
        try:
            found.extend(item.check(check))
        except RootfsError as exc:
            found.append(Result(item.name, Status.FAIL, str(exc)))
        results.extend(found or [Result(item.name, Status.NA, "nothing to check")])
    if current:
        results.extend(check_current(check))
    return results
