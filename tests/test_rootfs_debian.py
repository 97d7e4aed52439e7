"""The baseline script on a real Debian 12 tree: it applies, verifies, satisfies sshd, and changes nothing twice.

Everything goes through the real CLI (`builder baseline`, `builder verify`) and
the real tools in the tree (bash, sshd, systemctl, firewall-offline-cmd) under chroot.
"""
from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.chroot import changes, in_chroot, snapshot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"
# Kernel and runtime state, caches and logs: not the baseline's to keep still.
NOT_SNAPSHOTTED = {"proc", "sys", "dev", "run", "tmp", "var/cache", "var/log"}
PASSING_ITEMS = ("sshd", "limits", "sysctls", "rc-local", "users", "services", "firewall", "locale", "timezone",
                 "hosts", "packages", "repos")


def builder(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def apply_baseline(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    return in_chroot(root, "/bin/bash", "-s", stdin=script)


def verify(root: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, set[str]]]:
    """`builder verify`, and the statuses each item got."""
    proc = builder("verify", EXAMPLE, "--rootfs", root)
    statuses: dict[str, set[str]] = {}
    for line in proc.stdout.splitlines():
        # "STATUS ITEM  DETAIL": the item column is padded, and an item name may hold a space ("packages (current)").
        if match := re.match(r"(pass|fail|n/a) +(\S.*?)(?: {2,}|$)", line):
            statuses.setdefault(match.group(2), set()).add(match.group(1))
    return proc, statuses


def sshd_effective(root: Path) -> dict[str, list[str]]:
    (root / "run" / "sshd").mkdir(parents=True, exist_ok=True)
    proc = in_chroot(root, "/usr/sbin/sshd", "-T", "-C", "user=ops,host=x,addr=127.0.0.1")
    assert proc.returncode == 0, proc.stderr
    settings: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture(scope="session")
def script() -> str:
    proc = builder("baseline", EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="session")
def applied_root(debian12_rootfs: Path, script: str) -> Path:
    """The session's tree after one run of the baseline script. A test that breaks it repairs it."""
    proc = apply_baseline(debian12_rootfs, script)
    if proc.returncode:
        pytest.fail(f"the baseline script exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return debian12_rootfs


def test_the_applied_baseline_verifies(applied_root: Path):
    proc, statuses = verify(applied_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [line for line in proc.stdout.splitlines() if line.startswith("fail")] == []
    for item in PASSING_ITEMS:
        assert statuses.get(item) == {"pass"}, f"{item}: {statuses.get(item)}\n{proc.stdout}"
    for item in ("kernel-args", "post-commands"):
        assert statuses.get(item) == {"n/a"}, f"{item}: {statuses.get(item)}\n{proc.stdout}"


def test_the_json_report_says_the_same(applied_root: Path):
    proc = builder("verify", EXAMPLE, "--rootfs", applied_root, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["failed"] == 0
    _, statuses = verify(applied_root)
    from_json: dict[str, set[str]] = {}
    for result in report["results"]:
        from_json.setdefault(result["item"], set()).add(result["status"])
    assert from_json == statuses


def test_sshd_accepts_the_config_and_uses_the_baseline_values(applied_root: Path):
    (applied_root / "run" / "sshd").mkdir(parents=True, exist_ok=True)
    check = in_chroot(applied_root, "/usr/sbin/sshd", "-t")
    assert check.returncode == 0, check.stderr
    effective = sshd_effective(applied_root)
    want = {"port": "2222", "permitrootlogin": "no", "usedns": "no", "gssapiauthentication": "no",
            "passwordauthentication": "no", "permitemptypasswords": "no", "clientaliveinterval": "300",
            "clientalivecountmax": "1"}
    assert {key: effective.get(key) for key in want} == {key: [value] for key, value in want.items()}


def test_sudo_accepts_the_sudoers_dropin_and_the_escape_hatch_ran(applied_root: Path):
    check = in_chroot(applied_root, "/usr/sbin/visudo", "-c")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "90-builder-ops: parsed OK" in check.stdout
    # post_commands: `mkdir -p /data && chmod 0755 /data`, carried base64 and run by bash.
    data = applied_root / "data"
    assert data.is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o755


def test_a_second_run_changes_nothing(applied_root: Path, script: str):
    before = snapshot(applied_root, NOT_SNAPSHOTTED)
    proc = apply_baseline(applied_root, script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    changed = changes(before, snapshot(applied_root, NOT_SNAPSHOTTED))
    assert changed == [], "the second run changed:\n" + "\n".join(changed[:50]) + f"\n{proc.stdout}"


def assert_only_failure(root: Path, item: str, fragment: str) -> None:
    proc, statuses = verify(root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failing = sorted(name for name, seen in statuses.items() if "fail" in seen)
    assert failing == [item], proc.stdout
    assert any(line.startswith("fail") and fragment in line for line in proc.stdout.splitlines()), proc.stdout


# The two tests below break the session's tree and repair it before they end: a
# private `cp -a` copy of the tree cost 1 to 17 s a test on this (loaded) machine.


def test_verify_catches_an_rc_local_that_is_not_executable(applied_root: Path):
    rc_local = applied_root / "etc" / "rc.local"
    rc_local.chmod(0o644)
    try:
        assert_only_failure(applied_root, "rc-local", "not executable")
    finally:
        rc_local.chmod(0o755)


def test_verify_catches_a_dropin_that_sorts_before_the_baseline(applied_root: Path):
    evil = applied_root / "etc" / "ssh" / "sshd_config.d" / "05-evil.conf"
    evil.write_text("PermitRootLogin yes\n")
    try:
        assert sshd_effective(applied_root)["permitrootlogin"] == ["yes"], "the premise: sshd takes the first value"
        assert_only_failure(applied_root, "sshd", "05-evil.conf")
    finally:
        evil.unlink(missing_ok=True)
