"""The opt-in real-mirror tier (make el-mirror-check): its dry-run path, which is what runs without an EL mirror.

With BUILDER_EL_MIRROR the same script builds the container and the qcow2 for real and verifies both; that
needs an EL mirror, which these machines cannot reach (README: "Building EL images from your mirror").
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "el-mirror-check"
DRY_MIRROR = "http://el-mirror.invalid/el"


def run(*args: str, mirror: str | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("BUILDER_EL_MIRROR", "BUILDER_MIRRORS")}
    if mirror is not None:
        env["BUILDER_EL_MIRROR"] = mirror
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("example,release_path", [("compute-node-cs9", "9-stream"), ("kvm-host-rocky9", "9"),
                                                  ("legacy-rocky8", "8")])
def test_without_a_mirror_the_check_plans_both_builds_from_the_mirror_only(tmp_path, example, release_path):
    proc = run("--example", str(ROOT / "examples" / f"{example}.yaml"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run passed" in proc.stdout
    assert "==> container (dry run)" in proc.stdout and "==> qcow2 (dry run)" in proc.stdout
    repositories = re.findall(r"^repository: (\S+)$", proc.stdout, re.M)
    assert repositories and all(url.startswith(f"{DRY_MIRROR}/") for url in repositories), repositories
    assert all(url.startswith(f"{DRY_MIRROR}/{release_path}/") for url in repositories if url.endswith("/os/")), repositories
    assert not (tmp_path / "out").exists(), "a dry run writes nothing"


def test_a_plan_url_off_the_mirror_fails_the_check(tmp_path):
    """The rewrite covers the example's own mirror prefix only: a repository elsewhere is caught."""
    spec = tmp_path / "other.yaml"
    text = (ROOT / "examples" / "kvm-host-rocky9.yaml").read_text()
    spec.write_text(text.replace("baseurl: http://mirror.internal.example.com/rocky/9/AppStream",
                                 "baseurl: http://other.internal.example.com/rocky/9/AppStream"))
    proc = run("--example", str(spec), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "URLs outside http://el-mirror.invalid/el in the plan: ['http://other.internal.example.com/rocky/9/AppStream" in proc.stderr


def test_the_make_target_hands_the_mirror_to_the_check():
    out = subprocess.run(["make", "-n", "el-mirror-check", "BUILDER_EL_MIRROR=http://mirror.example.net/centos-stream"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "scripts/el-mirror-check --mirror \"http://mirror.example.net/centos-stream\"" in out


def test_the_el8_run_checks_the_database_with_the_images_own_rpm(tmp_path):
    proc = run("--example", str(ROOT / "examples" / "legacy-rocky8.yaml"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the image's own rpm and dnf would check its bdb database in /var/lib/rpm" in proc.stdout
    el9 = run("--example", str(ROOT / "examples" / "kvm-host-rocky9.yaml"), "--out", str(tmp_path / "out"))
    assert el9.returncode == 0 and "own rpm" not in el9.stdout, el9.stdout + el9.stderr
