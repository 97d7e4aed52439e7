"""Check a root filesystem against the baseline, item by item, without booting it.

The checks only read files (nothing written). Every item that exists in the context
yields at least one Result, and an item that does not apply says why. Which checks run,
in which order, is the item table's (items.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import UsageError
from . import file_checks, sealed, verify_system
from .current import check_current
from .items import CHECKS, CONTEXTS, items_in, not_applicable_items
from .model import Baseline
from .results import Check, Result, Status
from .rootfs import RootFS, RootfsError

# The modules whose functions the item records name as their offline checks ("module.function").
CHECK_MODULES = {"file_checks": file_checks, "verify_system": verify_system, "sealed": sealed}


def check_function(ref: str) -> Callable[[Check], Iterable[Result]]:
    module, _, name = ref.partition(".")
    return getattr(CHECK_MODULES[module], name)

__all__ = ["CHECKS", "CONTEXTS", "Result", "Status", "verify_rootfs"]


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
    for record in items_in(context):
        if not record.check:
            continue
        if record.item in na:
            results.append(Result(record.item, Status.NA, na[record.item]))
            continue
        found: list[Result] = []
        try:
            found.extend(check_function(record.check)(check))
        except RootfsError as exc:
            found.append(Result(record.item, Status.FAIL, str(exc)))
        results.extend(found or [Result(record.item, Status.NA, "nothing to check")])
    if current:
        results.extend(check_current(check))
    return results
