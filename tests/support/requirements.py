"""Skipping for a missing system component is for a developer's laptop, never for CI."""
from __future__ import annotations

import os

import pytest

STRICT_ENV = "BUILDER_TESTS_STRICT"


def skip_or_fail(reason: str) -> None:
    """Skip, unless `make test` (and so CI) asked for every test to run: then a missing component fails."""
    if os.environ.get(STRICT_ENV) == "1":
        pytest.fail(f"{reason} ({STRICT_ENV}=1: `make deps` should have installed it)")
    pytest.skip(reason)
