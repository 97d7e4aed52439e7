"""Linters run as tests: ruff and mypy on the Python, shellcheck on the shell we ship."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from test_layers import members

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "builder", "tests", "benchmarks", "scripts/host-mirrors", "scripts/el-mirror-check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean():
    """mypy as pyproject.toml sets it up (what `make lint` runs): strict on the foundation and spec layers."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _mypy_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]


def test_mypy_strict_on_the_lower_layers():
    """The strict override names exactly tests/test_layers.py's foundation and spec layers, and sets every flag that
    mypy's own --strict enables (as its --help lists them: `strict` cannot be set per module)."""
    help_text = subprocess.run([sys.executable, "-m", "mypy", "--help"], capture_output=True, text=True, check=True,
                               env={**os.environ, "COLUMNS": "10000"}).stdout
    listed = re.search(r"Strict mode; enables the following flags:(.*)", help_text)
    assert listed, "mypy --help no longer lists what --strict enables"
    strict_flags = {flag.replace("-", "_") for flag in re.findall(r"--([a-z-]+[a-z])", listed[1])}
    assert len(strict_flags) >= 10, strict_flags
    config = _mypy_config()
    strict = [o for o in config["overrides"] if o.get("disallow_untyped_defs")]
    assert len(strict) == 1, "one override holds the strict modules"
    assert sorted(strict[0]["module"]) == sorted(members("foundation") + members("spec"))
    assert {flag for flag in strict_flags if not (strict[0].get(flag) or config.get(flag))} == set()


def test_mypy_ignored_modules_still_need_it(tmp_path):
    """Each module left out (ignore_errors) still has errors when checked: one that passes is taken off the list,
    as test_layers' KNOWN_UPWARD entries are."""
    ignored = {module for override in _mypy_config()["overrides"] if override.get("ignore_errors") for module in override["module"]}
    checked = tmp_path / "pyproject.toml"
    checked.write_text((ROOT / "pyproject.toml").read_text().replace("ignore_errors = true", "ignore_errors = false"))
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(checked), "--cache-dir", str(tmp_path / "cache")],
                            cwd=ROOT, capture_output=True, text=True)
    failing = {re.sub(r"(/__init__)?\.py$", "", path).replace("/", ".")
               for path in re.findall(r"^(builder/[\w/]+\.py):\d+: error:", result.stdout, re.M)}
    assert ignored, "no module is left out: drop this test and the override"
    assert sorted(ignored - failing) == [], "mypy passes these now: take them off the ignore_errors list"
    assert sorted(failing - ignored) == [], result.stdout


def test_shell_scripts_clean():
    scripts = [ROOT / ".ci" / "run", ROOT / "scripts" / "apt-install"]
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
