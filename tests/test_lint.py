"""Linters run as tests: ruff on the Python, shellcheck on the shell we ship."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "builder", "tests", "benchmarks", "scripts/host-mirrors", "scripts/el-mirror-check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_clean():
    scripts = [ROOT / ".ci" / "run", ROOT / "scripts" / "apt-install"]
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
