"""Shared fixtures. The Debian tree is built only when a test asks for it."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.debootstrap import make_current_rootfs, remove_tree, why_not_debootstrap
from support.mirror import BUILDER_MIRRORS
from support.requirements import skip_or_fail

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Every build in the tests fetches from the mirror this host reaches, never from the examples' internal one.
# Tests that compare rendered text with the examples' own URLs (goldens) unset it (see `example_urls`).
os.environ["BUILDER_MIRRORS"] = BUILDER_MIRRORS


@pytest.fixture
def example_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples' mirror URLs as written, not rewritten to this host's mirror."""
    monkeypatch.delenv("BUILDER_MIRRORS")


@pytest.fixture(scope="session")
def debian12_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Debian 12 minbase tree with every package examples/debian12-node.yaml needs on a booted node, made as builder
    makes its base trees (debootstrap, then apt from all the spec's repositories: current with them, so `builder
    verify` finds its packages the newest they offer), removed at the end."""
    reason = why_not_debootstrap()
    if reason:
        skip_or_fail(reason)
    base = tmp_path_factory.mktemp("debian12")
    try:
        make_current_rootfs(base / "root", EXAMPLES / "debian12-node.yaml")
        yield base / "root"
    finally:
        remove_tree(base)
