"""Strict mode (BUILDER_TESTS_STRICT=1, as `make test` and CI run) turns a skip for a missing component into a
failure, and no test skips around it."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from support.requirements import STRICT_ENV

TESTS = Path(__file__).resolve().parent
REQUIREMENTS = TESTS / "support" / "requirements.py"
SKIPS = {"skip", "skipif", "importorskip"}

SAMPLE = """
from support.requirements import not_applicable, skip_or_fail

def test_missing_tool():
    skip_or_fail("frobnicate is not installed")

def test_example_without_the_case():
    not_applicable("this example has no sshd")

def test_runs():
    assert True
"""


def run_sample(tmp_path: Path, strict: bool) -> dict[str, str]:
    """Each test of SAMPLE and its outcome, from a real pytest run in a subprocess (its JUnit report)."""
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}
    env["PYTHONPATH"] = str(TESTS)  # `support`, as this suite imports it
    if strict:
        env[STRICT_ENV] = "1"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=report.xml",
                           "test_sample.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == (1 if strict else 0), proc.stdout + proc.stderr
    outcomes = {}
    for case in ElementTree.parse(tmp_path / "report.xml").iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
        outcomes[case.get("name")] = kinds[0] if kinds else "passed"
    return outcomes


def test_a_missing_component_skips_on_a_laptop(tmp_path: Path):
    assert run_sample(tmp_path, strict=False) == {
        "test_missing_tool": "skipped", "test_example_without_the_case": "skipped", "test_runs": "passed"}


def test_strict_mode_fails_a_missing_component_and_not_a_case_the_example_rules_out(tmp_path: Path):
    assert run_sample(tmp_path, strict=True) == {
        "test_missing_tool": "failure", "test_example_without_the_case": "skipped", "test_runs": "passed"}


def skips_outside_requirements(tests: Path = TESTS) -> list[str]:
    """Every use of pytest's own skips (`pytest.skip(...)`, `@pytest.mark.skipif`, `pytest.importorskip`,
    `from pytest import skip`) in `tests`, but in its support/requirements.py."""
    found = []
    for path in sorted(tests.rglob("*.py")):
        if path == tests / REQUIREMENTS.relative_to(TESTS):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in SKIPS:
                found.append(f"{path.relative_to(tests)}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("pytest", "_pytest"):
                found += [f"{path.relative_to(tests)}:{node.lineno}: from {node.module} import {a.name}"
                          for a in node.names if a.name in SKIPS or "skip" in a.name.lower()]
    return found


def test_every_skip_goes_through_support_requirements():
    assert skips_outside_requirements() == [], "skip through support.requirements (skip_or_fail, need_root, not_applicable)"


def test_the_scan_finds_a_plain_skip(tmp_path: Path):
    """The scan above can fail: a plain skip in a test file is found."""
    sample = tmp_path / "tests"
    (sample / "support").mkdir(parents=True)
    (sample / "support" / "requirements.py").write_text("import pytest\npytest.skip('allowed here')\n")
    (sample / "test_x.py").write_text("import pytest\n\n@pytest.mark.skipif(True, reason='x')\ndef test_x():\n"
                                      "    pytest.skip('y')\n")
    assert skips_outside_requirements(sample) == ["test_x.py:3: .skipif", "test_x.py:5: .skip"]
