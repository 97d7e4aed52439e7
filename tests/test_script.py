"""The baseline script as text: shell-clean, quoted, one rendering per spec."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.baseline import Baseline, render_script
from builder.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_shellcheck_clean(example: Path, tmp_path: Path):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run `make deps`"
    spec, _, _ = load_spec(example)
    script = tmp_path / "baseline.sh"
    script.write_text(render_script(Baseline(spec)))
    result = subprocess.run([shellcheck, "-s", "bash", "-S", "warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_bash_parses(example: Path):
    spec, _, _ = load_spec(example)
    result = subprocess.run(["bash", "-n"], input=render_script(Baseline(spec)), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_prints_the_same_script_the_kickstart_embeds():
    from builder.kickstart import render_kickstart
    from builder.spec import spec_sha256

    example = ROOT / "examples" / "compute-node-cs9.yaml"
    cli = subprocess.run([sys.executable, "-m", "builder.cli", "baseline", str(example)], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    spec, _, _ = load_spec(example)
    kickstart = render_kickstart(spec, spec_sha256(spec))
    post = kickstart.split("--erroronfail\n", 1)[1].rsplit("%end", 1)[0]
    assert post == cli


def test_free_text_is_base64_not_shell():
    spec, _, _ = load_spec(ROOT / "examples" / "debian12-node.yaml")
    script = render_script(Baseline(spec))
    for command in spec.post_commands + spec.rc_local.commands:
        assert command not in script


def test_debian_golden_baseline_script():
    """Debian specs have no kickstart; their golden artifact is the baseline script itself."""

    spec, _, _ = load_spec(ROOT / "examples" / "debian12-node.yaml")
    script = render_script(Baseline(spec))
    golden = Path(__file__).parent / "golden" / "debian12-node.baseline.sh"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(script)
    assert script == golden.read_text(), "baseline script changed; rerun with UPDATE_GOLDEN=1 if intended"


def test_container_script_skips_and_reports_what_does_not_apply(tmp_path: Path):
    spec, _, _ = load_spec(ROOT / "examples" / "debian12-node.yaml")
    full, container = render_script(Baseline(spec)), render_script(Baseline(spec, context="container"))
    for item in ("time", "sshd", "firewall", "sysctls", "kernel-args", "services", "limits", "rc-local"):
        assert f"builder_step '{item}: not applicable in a container: " in container, item
    for step in ("builder_step sshd", "builder_step firewall", "builder_step sysctls", "builder_step services"):
        assert step in full and step not in container
    for step in ("builder_step users", "builder_step locale", "builder_step files", "builder_step packages"):
        assert step in container
    assert "chrony" not in container.split("builder_step packages", 1)[1].split("builder_step", 1)[0]
    script = tmp_path / "container.sh"
    script.write_text(container)
    result = subprocess.run(["shellcheck", "-s", "bash", "-S", "warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
