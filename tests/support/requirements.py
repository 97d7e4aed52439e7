"""Skipping for a missing system component is for a developer's laptop, never for CI.

Every skip in tests/ goes through this module (tests/test_strict_mode.py checks that no test calls pytest's skips
itself): `skip_or_fail` for what the host lacks (a tool, root), which strict mode (`make test`, CI) turns into a
failure; `not_applicable` for the one other kind, a parametrized case the example's own spec rules out.
"""
from __future__ import annotations

import os

import pytest

STRICT_ENV = "BUILDER_TESTS_STRICT"


def skip_or_fail(reason: str) -> None:
    """Skip, unless `make test` (and so CI) asked for every test to run: then a missing component fails."""
    if os.environ.get(STRICT_ENV) == "1":
        pytest.fail(f"{reason} ({STRICT_ENV}=1: `make deps` should have installed it)")
    pytest.skip(reason)


def need_root(why: str) -> None:
    """Skip (or, in strict mode, fail) when not run as root: `make test` runs as root."""
    if os.geteuid() != 0:
        skip_or_fail(f"needs root: {why}")


def not_applicable(reason: str) -> None:
    """Skip in strict mode too: the case does not exist for this parametrized example (its spec asks for no sshd,
    no interfaces, no pre-pull unit...), which is a fact of the repository's examples, not of the host. No host
    and no `make deps` can make it run, so failing it in CI would only forbid such an example."""
    pytest.skip(f"not applicable: {reason}")
