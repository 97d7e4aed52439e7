"""The paths the baseline writes are its items' own (items.Unit.owns), and a spec's files[] may not write one.

The table is checked against the scripts themselves: every path a rendered script writes (builder_put, sed -i,
ln -s, a redirection) for a spec that turns every item on, on both families, must be owned by an item.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from builder.baseline import Baseline, render_script
from builder.baseline.items import owner_of
from builder.spec import load_spec_text

ROOT = Path(__file__).resolve().parent.parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"

# Every item on: repositories, hostname, network (EL), a generated locale (Debian), time servers, an admin without a
# password, root keys, a moved sshd, a firewall, sysctls, rc.local commands, the pre-pull with a site's mirrors.
EVERYTHING = {
    "rocky-9": """
        repos: [{name: baseos, baseurl: "http://mirror.example/9/BaseOS/", gpgkey: "http://mirror.example/KEY"}]
        network: {interfaces: [{name: eth0, bootproto: static, address: 10.0.0.5/24, gateway: 10.0.0.1}]}
        locale: de_DE.UTF-8
        selinux: enforcing
        """,
    "debian-12": """
        repos: [{name: debian, baseurl: "http://mirror.example/debian", suites: [bookworm]}]
        locale: de_DE.UTF-8
        """,
}
COMMON = f"""
    hostname: node1.example.com
    users: [{{name: ops, admin: true, sudo_nopasswd: true, ssh_keys: ["{KEY}"]}}]
    root: {{ssh_keys: ["{KEY}"]}}
    sshd: {{port: 2222, permit_root_login: prohibit-password}}
    firewall: {{ports: [8080/tcp]}}
    time: {{servers: [ntp.example.com]}}
    timezone: Asia/Shanghai
    sysctls: {{net.core.somaxconn: 4096}}
    rc_local: {{commands: ["echo booted"]}}
    container:
      prepull: {{image: "registry.example:5000/base/node:1", site: dc1, mirrors: {{dc1: ["mirror.dc1.example:5000"]}}}}
    """

WRITES = (re.compile(r"^\s*(?:\|\s*)?builder_put (\S+)"), re.compile(r"\bsed -i .* (\S+)$"),
          re.compile(r"\bln -s\w* (?:-- )?\S+ (\S+)"), re.compile(r">>? (\S+)"))


def spec_for(target: str):
    text = f"version: 1\nname: all\ntarget: {target}\n" + textwrap.dedent(EVERYTHING[target]) + textwrap.dedent(COMMON)
    spec, _, _ = load_spec_text(text)
    return spec


def written(script: str) -> set[str]:
    """The absolute paths the script writes (a path made of shell variables is not a fixed one: left out)."""
    paths = set()
    for line in script.splitlines():
        for pattern in WRITES:
            for match in pattern.finditer(line):
                words = shlex.split(match.group(1), posix=True) if "'" in match.group(1) else [match.group(1)]
                path = words[0] if words else ""
                if path.startswith("/") and "$" not in path and not path.startswith(("/dev/", "/tmp/", "/proc/")):
                    paths.add(path)
    return paths


@pytest.mark.parametrize("target", sorted(EVERYTHING))
def test_every_path_a_script_writes_is_owned_by_an_item(target):
    script = render_script(Baseline(spec_for(target)))
    paths = written(script)
    # The fixed paths any such script writes, by hand: the extraction finds them (it is not vacuous).
    assert {"/etc/hostname", "/etc/hosts", "/etc/ssh/sshd_config.d/10-builder.conf", "/etc/sysctl.d/90-builder.conf",
            "/etc/systemd/system/builder-prepull.service", "/etc/localtime"} <= paths, paths
    assert [path for path in sorted(paths) if owner_of(path) is None] == []


@pytest.mark.parametrize("path, item, field", [
    ("/etc/systemd/system/builder-prepull.service", "prepull", "container.prepull"),
    ("/usr/local/libexec/builder-prepull", "prepull", "container.prepull"),
    ("/etc/ssh/sshd_config", "sshd", "sshd"),
    ("/etc/ssh/sshd_config.d/00-mine.conf", "sshd", "sshd"),
    ("/etc/sysctl.d/50-mine.conf", "sysctls", "sysctls"),
    ("/etc/containers/registries.conf.d/50-builder-mirrors.conf", "prepull-mirrors", "container.prepull.mirrors"),
    ("/etc/locale.gen", "locale", "locale"),
    ("/etc/firewalld/zones/public.xml", "firewall", "firewall"),
])
def test_a_file_at_a_path_the_baseline_writes_is_refused_by_validate_and_build(tmp_path, path, item, field):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"version: 1\nname: t\ntarget: rocky-9\nusers: [{{name: ops, ssh_keys: ['{KEY}']}}]\n"
                    f"files:\n  - {{path: /etc/motd, content: hello}}\n  - {{path: {path}, content: mine}}\n")
    line = (f"{spec}:7: files[1].path: {path} is written by the baseline's {item} item: a file here would silently "
            "replace it, or be replaced by it\n")
    for args in (["validate", spec], ["build", spec, "--out", tmp_path / "out"]):
        result = subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 2, result.stderr
        assert line in result.stderr and f"`{field}" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
