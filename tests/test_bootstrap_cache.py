"""The bootstrapped-tree cache keeps what the bootstrap made, file capabilities included.

The bootstrapper here writes two files instead of running debootstrap or dnf (those run in
test_bootstrap.py and test_bootstrap_el.py); the cache's own tar, record and unpack are the real ones.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from support.requirements import skip_or_fail

from builder.bootstrap import tree

DATE = 1_700_000_000


@dataclass(frozen=True)
class TwoFiles:
    """A bootstrapper whose tree is a program with cap_net_raw (as ping's postinst or rpm's %caps set it) and a file."""

    tools: ClassVar[tuple[str, ...]] = ("setcap",)
    packages: tuple[str, ...] = ()
    label: str = "two-files"
    origin: str = "a test"

    def inputs(self) -> list:
        return ["two-files"]

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        return [["setcap", "cap_net_raw+ep", f"{root}/usr/bin/pinger"]]

    def repositories(self) -> list[str]:
        return []

    def mirror_state(self) -> dict[str, dict]:
        return {}

    def bootstrap(self, root: Path, work: Path, log) -> int:
        (root / "usr/bin").mkdir(parents=True)
        shutil.copy("/bin/true", root / "usr/bin/pinger")
        (root / "etc").mkdir()
        (root / "etc/motd").write_text("hello\n")
        subprocess.run(self.commands(root)[0], check=True)
        return DATE

    def leave_out(self) -> tuple[str, ...]:
        return ()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if os.geteuid() != 0 or shutil.which("setcap") is None or shutil.which("getcap") is None:
        skip_or_fail("needs root and setcap/getcap (libcap2-bin)")
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def capabilities(path: Path) -> str:
    return subprocess.run(["getcap", str(path)], capture_output=True, text=True, check=True).stdout


def test_file_capabilities_survive_the_cache(cache: Path, tmp_path: Path):
    base = tree.BaseTree(TwoFiles())
    assert tree.fill(base, tmp_path / "first", log=lambda _: None) == DATE
    messages: list[str] = []
    assert tree.fill(base, tmp_path / "second", log=messages.append) == DATE
    assert len(messages) == 1 and messages[0].startswith(f"base tree from the cache: {base.tarball.name} "), messages
    for root in (tmp_path / "first", tmp_path / "second"):
        assert "cap_net_raw=ep" in capabilities(root / "usr/bin/pinger"), root
        assert (root / "etc/motd").read_text() == "hello\n"


def test_an_entry_of_another_format_is_bootstrapped_again(cache: Path, tmp_path: Path):
    """Entries written before xattrs were kept have lost their capabilities: never reuse them."""
    base = tree.BaseTree(TwoFiles())
    tree.ensure_cached(base, log=lambda _: None)
    record = json.loads(base.record.read_text())
    assert record["format"] == tree.CACHE_FORMAT
    del record["format"]
    base.record.write_text(json.dumps(record))
    messages: list[str] = []
    tree.ensure_cached(base, log=messages.append)
    assert messages and messages[0].startswith("bootstrapping a test"), messages
    assert json.loads(base.record.read_text())["format"] == tree.CACHE_FORMAT
