"""`make golden` (scripts/update-golden) is the one way to rewrite the golden files: it finds a stale one, says what
changed, rewrites it, and then has nothing left to do. Run on a copy of the checkout, never on this one."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.golden import COMMAND, differs, goldens

ROOT = Path(__file__).resolve().parent.parent


def update_golden(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "update-golden"), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})


def test_update_golden_finds_rewrites_and_then_finds_nothing(tmp_path: Path):
    copy = tmp_path / "checkout"
    for part in ("examples", "tests/golden"):
        shutil.copytree(ROOT / part, copy / part)
    (copy / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "baseline.md", copy / "docs" / "baseline.md")
    assert len(goldens(copy)) == len(goldens()) >= 7
    ks, doc = copy / "tests/golden/node-alma10.ks", copy / "docs/baseline.md"
    ks.write_text(ks.read_text().replace("%end", "%end\n# stale", 1))
    doc.write_text(doc.read_text().replace("| sshd | `sshd` |", "| sshd | `ssh` |"))

    check = update_golden(copy, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "-# stale\n" in check.stdout and "-| sshd | `ssh` |" in check.stdout and "+| sshd | `sshd` |" in check.stdout
    assert "2 golden file(s) differ: tests/golden/node-alma10.ks, docs/baseline.md" in check.stderr
    assert "# stale" in ks.read_text(), "--check writes nothing"

    rewrite = update_golden(copy)
    assert rewrite.returncode == 0, rewrite.stderr
    assert "2 golden file(s) rewritten" in rewrite.stderr
    assert ks.read_text() == (ROOT / "tests/golden/node-alma10.ks").read_text()
    assert doc.read_text() == (ROOT / "docs/baseline.md").read_text()
    assert update_golden(copy, "--check").returncode == 0


def test_a_golden_test_failure_names_the_command(tmp_path: Path):
    stale = tmp_path / "tests" / "golden" / "x.ks"
    stale.parent.mkdir(parents=True)
    stale.write_text("old\n")
    message = differs(stale, "new\n", tmp_path)
    assert f"run `{COMMAND}` (scripts/update-golden)" in message and "-old\n+new\n" in message
    assert differs(stale, "old\n", tmp_path) == ""
