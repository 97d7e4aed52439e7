"""The spec's rules that read the baseline's items, registered with the spec's checks (spec.checks.CHECKS).

The spec layer cannot import the baseline (it is below it), so the baseline adds these when it is imported
(builder.baseline does), and everything that loads a spec for a command imports it first (builder.cli).
"""
from __future__ import annotations

from collections.abc import Iterator

from ..errors import Problem
from ..spec import Spec
from ..spec.checks import reads
from .items import owner_of


@reads("files")
def check_files_not_owned(spec: Spec) -> Iterator[Problem]:
    """A files[] entry may not write a path an item of the baseline writes: one of the two would silently lose."""
    for i, extra in enumerate(spec.files):
        item = owner_of(extra.path)
        if item is not None:
            yield Problem("", None, f"files[{i}].path", f"{extra.path} is written by the baseline's {item.name} item: "
                          "a file here would silently replace it, or be replaced by it",
                          item.owned_hint or f"use the spec's {item.spec_field} for it")
