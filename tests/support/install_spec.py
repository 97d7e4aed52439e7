"""The spec the install tests share: three machines (static, VLAN, DHCP) on one baseline."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPO = "http://mirror.example.com/rocky/9/BaseOS/x86_64/os/"
MACS = ("52:54:00:12:34:56", "52:54:00:12:34:57", "52:54:00:12:34:58")
REPORT = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): (?P<path>[^:\s]+): (?P<message>.*)$", re.M)

INSTALL_SPEC = f"""\
version: 1
name: pxe-nodes
target: rocky-9
users:
  - name: ops
    admin: true
    sudo_nopasswd: true
    ssh_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example]
kickstart:
  install_source: {REPO}
  disk: {{device: vda}}
install:
  pxe:
    server_url: SERVER_URL
  kernel_args: [console=ttyS0]
  machines:
    - {{hostname: node01.example.com, mac: "{MACS[0]}", address: 10.0.0.11/24, gateway: 10.0.0.1, nameservers: [10.0.0.2]}}
    - {{hostname: node02.example.com, mac: "{MACS[1].upper()}", address: 10.20.0.12/24, vlan: 20}}
    - {{hostname: node03.example.com, mac: "{MACS[2]}"}}
"""


def install_spec(directory: Path, server_url: str = "http://10.0.2.2:8080", text: str = INSTALL_SPEC) -> Path:
    path = directory / "nodes.yaml"
    path.write_text(textwrap.dedent(text).replace("SERVER_URL", server_url))
    return path


def run(*args: str | Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def reports(stderr: str, file: Path) -> set[tuple[int, str]]:
    return {(int(m["line"]), m["path"]) for m in REPORT.finditer(stderr) if m["file"] == str(file)}


def mac_key(mac: str) -> str:
    return mac.lower().replace(":", "-")
