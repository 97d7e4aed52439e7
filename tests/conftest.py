"""Shared fixtures. The Debian tree is built only when a test asks for it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.debootstrap import make_rootfs, remove_tree, rootfs_packages, why_not_debootstrap
from support.requirements import skip_or_fail

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="session")
def debian12_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Debian 12 minbase tree with every package examples/debian12-node.yaml needs, removed at the end."""
    reason = why_not_debootstrap()
    if reason:
        skip_or_fail(reason)
    base = tmp_path_factory.mktemp("debian12")
    try:
        make_rootfs(base / "root", rootfs_packages(EXAMPLES / "debian12-node.yaml"))
        yield base / "root"
    finally:
        remove_tree(base)
