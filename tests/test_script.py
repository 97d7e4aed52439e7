"""The baseline script as text: shell-clean, quoted, one rendering per spec."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.golden import debian_baseline_script, differs, goldens
from support.requirements import need_root

from builder.baseline import Baseline, render_script
from builder.baseline.shell import PRELUDE, b64, heredoc_can_carry, heredoc_delimiter, put_free_text, put_generated
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
    from builder.install.kickstart import render_kickstart
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
    """Debian specs have no kickstart; their golden artifact is the baseline script itself (with the example's mirror
    URLs as written). Only compares: `make golden` (scripts/update-golden) is the one way to rewrite it."""
    golden = Path(__file__).parent / "golden" / "debian12-node.baseline.sh"
    assert golden in goldens()
    message = differs(golden, debian_baseline_script())
    assert not message, message


def test_container_script_skips_and_notes_what_does_not_apply(tmp_path: Path):
    spec, _, _ = load_spec(ROOT / "examples" / "debian12-node.yaml")
    full, container = render_script(Baseline(spec)), render_script(Baseline(spec, context="container"))
    for item in ("time", "sshd", "firewall", "sysctls", "kernel-args", "services", "limits", "rc-local"):
        assert f"\n# {item}: not applicable in a container: " in container, item
        assert f"builder_step '{item}: not applicable" not in container, "the build prints them, once"
    for step in ("builder_step sshd", "builder_step firewall", "builder_step sysctls", "builder_step services"):
        assert step in full and step not in container
    for step in ("builder_step users", "builder_step locale", "builder_step files", "builder_step packages"):
        assert step in container
    assert "chrony" not in container.split("builder_step packages", 1)[1].split("builder_step", 1)[0]
    script = tmp_path / "container.sh"
    script.write_text(container)
    result = subprocess.run(["shellcheck", "-s", "bash", "-S", "warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# ---------------------------------------------------------------- how file bodies are carried

BODIES = {
    "plain": "a=1\nb=2\n",
    "no final newline": "a=1\nb=2",
    "blank lines kept": "\n\na\n\n\n",
    "empty": "",
    "one newline": "\n",
    "delimiter inside": "x\nBUILDER_EOF\nBUILDER_EOF_1\ny\n",
    "shell text": "$(reboot) `reboot` $HOME \\n 'q' \"d\"\n",
    "section line": "x\n%end\n",
    "carriage return": "x\r\n%end\n",
}


def test_a_heredoc_delimiter_is_absent_from_its_body():
    assert heredoc_delimiter("a\n") == "BUILDER_EOF"
    assert heredoc_delimiter(BODIES["delimiter inside"]) == "BUILDER_EOF_2"
    line = put_generated("/etc/x", BODIES["delimiter inside"])
    assert line.startswith("builder_put /etc/x 0644 root root <<'BUILDER_EOF_2'\n") and line.endswith("\nBUILDER_EOF_2")


@pytest.mark.parametrize("name", ["no final newline", "empty", "section line", "carriage return"])
def test_a_body_a_heredoc_cannot_carry_exactly_is_base64(name):
    body = BODIES[name]
    assert not heredoc_can_carry(body)
    assert "<<" not in put_generated("/etc/x", body)


def test_free_text_is_never_a_heredoc():
    assert put_free_text("/etc/x", "a\n") == "builder_put /etc/x 0644 root root " + b64("a\n")


def test_builder_put_writes_every_body_exactly_and_a_second_run_changes_nothing(tmp_path: Path):
    import grp
    import pwd

    owner, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    lines = [PRELUDE.format(version=0, target="test")]
    for index, body in enumerate(BODIES.values()):
        lines.append(put_generated(str(tmp_path / "gen" / f"{index}"), body, "0640", owner, group))
        lines.append(put_free_text(str(tmp_path / "free" / f"{index}"), body, "0600", owner, group))
    lines.append("echo done")
    script = tmp_path / "put.sh"
    script.write_text("\n".join(lines) + "\n")
    first = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("    wrote ") == 2 * len(BODIES) and first.stdout.endswith("done\n")
    for index, body in enumerate(BODIES.values()):
        for kind, mode in (("gen", 0o640), ("free", 0o600)):
            path = tmp_path / kind / f"{index}"
            assert path.read_bytes() == body.encode(), (kind, body)
            assert path.stat().st_mode & 0o777 == mode
    before = {p: p.stat().st_mtime_ns for p in [tmp_path / "gen", tmp_path / "free", *tmp_path.glob("*/*")]}
    # Through stdin as well, the way a chroot runs it (bash -s): builder_put must not eat the script.
    second = subprocess.run(["bash", "-s"], input=script.read_text(), capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "done\n"
    assert {p: p.stat().st_mtime_ns for p in before} == before


SSHD_CONFIG_DEBIAN = """\
# The distribution's comments
Include /etc/ssh/sshd_config.d/*.conf

#Port 22
PasswordAuthentication yes
X11Forwarding yes
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
Match User backup
\tPasswordAuthentication yes
"""

# The block the sshd step writes after the Include for _sshd_spec(): no Port (the drop-in's wins), the spec's
# settings and the fixed ones. Hand-written, in the verify fixtures' sshd_config.
SSHD_BLOCK = re.search(r"(?ms)^# BEGIN builder.*?^# END builder\n",
                       (ROOT / "tests/fixtures/verify/common/etc/ssh/sshd_config").read_text())[0]


def _run_sshd_step(b: Baseline, etc_ssh: Path) -> str:
    """The script's sshd step, run by bash with /etc/ssh moved to `etc_ssh`; returns what it printed."""
    from builder.baseline.items import sshd

    lines = "\n".join(sshd.step(b)).replace("/etc/ssh/", f"{etc_ssh}/")
    script = PRELUDE.format(version=0, target="test") + lines + "\n"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _sshd_spec(extra: str = "") -> Baseline:
    from builder.spec import load_spec_text

    spec, _, _ = load_spec_text(f"version: 1\nname: t\ntarget: debian-12\nsshd: {{port: 2222{extra}}}\n"
                                "users: [{name: ops, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops']}]\n")
    return Baseline(spec)


def test_sshd_config_carries_the_dropin_settings_after_its_include(tmp_path: Path):
    need_root("builder_put gives the files to root")
    etc_ssh = tmp_path / "ssh"
    etc_ssh.mkdir()
    (etc_ssh / "sshd_config").write_text(SSHD_CONFIG_DEBIAN.replace("/etc/ssh/", f"{etc_ssh}/"))
    b = _sshd_spec()
    assert "wrote" in _run_sshd_step(b, etc_ssh)
    config = etc_ssh / "sshd_config"
    text = config.read_text()
    include = f"Include {etc_ssh}/sshd_config.d/*.conf\n"
    assert text == SSHD_CONFIG_DEBIAN.replace("/etc/ssh/", f"{etc_ssh}/").replace(
        include, include + SSHD_BLOCK.replace("/etc/ssh/", f"{etc_ssh}/")).replace(
        "\nPasswordAuthentication yes", "\n#PasswordAuthentication yes"), "the Match block is left alone"
    assert config.stat().st_mode & 0o777 == 0o600
    before = config.stat()
    assert _run_sshd_step(b, etc_ssh) == "", "a second run writes nothing"
    assert (config.stat().st_ino, config.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # Another spec: the block is replaced, not added to.
    changed = _sshd_spec(", use_dns: true")
    _run_sshd_step(changed, etc_ssh)
    text = config.read_text()
    assert text.count("# BEGIN builder") == 1 and "UseDNS yes\n" in text and "UseDNS no\n" not in text


def test_sshd_config_without_include_gets_it_first(tmp_path: Path):
    need_root("builder_put gives the files to root")
    etc_ssh = tmp_path / "ssh"
    etc_ssh.mkdir()
    (etc_ssh / "sshd_config").write_text("PermitRootLogin yes\nSyslogFacility AUTHPRIV\n")  # EL 8
    b = _sshd_spec()
    _run_sshd_step(b, etc_ssh)
    lines = (etc_ssh / "sshd_config").read_text().splitlines()
    assert lines[0] == f"Include {etc_ssh}/sshd_config.d/*.conf" and lines[1].startswith("# BEGIN builder")
    assert lines[-2:] == ["#PermitRootLogin yes", "SyslogFacility AUTHPRIV"]
