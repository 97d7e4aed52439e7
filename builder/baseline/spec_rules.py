"""The spec's rules that read the baseline's item table, registered with the spec's checks (spec.checks.CHECKS).

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
        record = owner_of(extra.path)
        if record is not None:
            yield Problem("", None, f"files[{i}].path", f"{extra.path} is written by the baseline's {record.item} item: "
                          "a file here would silently replace it, or be replaced by it",
                          record.owned_hint or f"use the spec's {record.spec_field} for it")
