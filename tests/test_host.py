"""builder.host: the one way to run a command, require tools and report progress."""
from __future__ import annotations

import sys

import pytest

from builder import host
from builder.errors import BuilderError


def test_family_from_os_release(tmp_path):
    rocky = tmp_path / "rocky"
    rocky.write_text('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n')
    debian = tmp_path / "debian"
    debian.write_text('ID=debian\n')
    ubuntu = tmp_path / "ubuntu"
    ubuntu.write_text('ID=ubuntu\nID_LIKE=debian\n')
    assert host.host_family(rocky) is host.HostFamily.EL
    assert host.host_family(debian) is host.HostFamily.DEBIAN
    assert host.host_family(ubuntu) is host.HostFamily.DEBIAN


def test_missing_tool_names_the_package_for_the_host_family(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuilderError) as exc:
        host.require_tools(["qemu-img", "sgdisk", "qemu-img"], "a qcow2 build")
    assert "qemu-img, sgdisk" in str(exc.value)
    assert exc.value.hint.startswith(host.INSTALL_COMMAND[host.host_family()])
    assert host.install_hint(["qemu-img", "ssh"], host.HostFamily.EL) == "dnf install qemu-img openssh-clients"
    assert host.install_hint(["qemu-img", "ssh"], host.HostFamily.DEBIAN) == "apt-get install qemu-utils openssh-client"


def test_run_failure_names_the_step_the_command_and_its_output(tmp_path):
    with pytest.raises(BuilderError) as exc:
        host.run([sys.executable, "-c", "import sys; print('partial'); sys.exit(3)"], "the step")
    text = str(exc.value)
    assert text.startswith("the step failed (exit 3)") and "partial" in text
    with pytest.raises(BuilderError, match="not installed"):
        host.run([str(tmp_path / "no-such-tool")], "x")
    assert host.run([sys.executable, "-c", "print('ok')"], "y").stdout == "ok\n"


def test_progress_goes_to_stderr(capsys):
    host.progress("bootstrapping")
    out, err = capsys.readouterr()
    assert out == "" and err == "==> bootstrapping\n"


def test_source_date_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert host.source_date_epoch(1700000000) == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    assert host.source_date_epoch(1700000000) == 1600000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(BuilderError, match="not a number"):
        host.source_date_epoch(0)
