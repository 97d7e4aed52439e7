"""One set of checks: what build, publish or serve refuses from the spec alone, validate reports, at the same line,
with the same message (and nothing is written).

Each case is a spec with one mistake and where it is, by hand. Every command that reads a spec is run on it as a
user runs it; each must exit 2 and report exactly that problem, word for word the same.
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
REPORT = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): (?P<path>[^:\s]+): (?P<message>(?!warning: ).*)$", re.M)
HEAD = f"version: 1\nname: t\ntarget: rocky-9\nusers: [{{name: ops, ssh_keys: ['{KEY}']}}]\n"

# (spec text, the line and field of its one problem)
CASES = {
    # build refused this one without a line, and validate said ok
    "kickstart-without-disk": (HEAD + "kickstart:\n  disk: {layout: lvm}\n", 6, "kickstart.disk.device"),
    # publish --to pxe and serve refused it without a line, and validate said ok
    "machines-without-disk": (HEAD + "install:\n  pxe: {server_url: 'http://10.0.0.5:8080', inst_repo: 'http://m.example/os'}\n"
                              "  machines: [{hostname: n1, mac: '52:54:00:12:34:56'}]\n", 5, "install"),
    "no-target": (HEAD.replace("target: rocky-9\n", ""), 1, "target"),
    "port-out-of-range": (HEAD + "firewall: {ports: [70000/tcp]}\n", 5, "firewall.ports[0]"),
    "range-backwards": (HEAD + "firewall: {ports: [8100-8000/tcp]}\n", 5, "firewall.ports[0]"),
    "file-over-the-baselines": (HEAD + "files: [{path: /etc/systemd/system/builder-prepull.service, content: x}]\n", 5,
                                "files[0].path"),
    "debian-group": (HEAD.replace("rocky-9", "debian-12") + "packages: {install: ['@web-server']}\n", 5,
                     "packages.install[0]"),
    "empty-group": (HEAD + "packages: {install: ['@^']}\n", 5, "packages.install[0]"),
}


def commands(spec: Path, tmp: Path) -> dict[str, list[str]]:
    out, root = tmp / "out", tmp / "root"
    return {
        "validate": ["validate", spec],
        "build": ["build", spec, "--out", out],
        "build --only kickstart": ["build", spec, "--only", "kickstart", "--out", out],
        "build --dry-run": ["build", spec, "--out", out, "--dry-run"],
        "publish --to pxe": ["publish", spec, "--to", "pxe", "--root", root],
        "publish --to registry": ["publish", spec, "--to", "registry", "--registry", "127.0.0.1:9/t/t", "--out", out],
        "publish --to glance": ["publish", spec, "--to", "glance", "--out", out],
        "serve": ["serve", spec, "--root", root, "--port", "0"],
        "baseline": ["baseline", spec],
        "verify": ["verify", spec, "--rootfs", tmp],
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_command_refuses_the_spec_with_validates_report(tmp_path, case):
    text, line, field = CASES[case]
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(text))
    reported = {}
    for name, args in commands(spec, tmp_path).items():
        result = subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 2, f"{name}: {result.stderr}"
        reported[name] = {(m["line"], m["path"], m["message"]) for m in REPORT.finditer(result.stderr) if m["file"] == str(spec)}
        assert not (tmp_path / "out").exists() and not (tmp_path / "root").exists(), name
    assert {(int(ln), path) for ln, path, _ in reported["validate"]} == {(line, field)}, reported["validate"]
    for name, found in reported.items():
        assert found == reported["validate"], f"{name} reports otherwise than validate"


# A kind that cannot be made for a spec is not a mistake in the spec (a Debian spec has no kickstart): validate says
# ok, and `build --only KIND` refuses it at the line of the field that decides.
@pytest.mark.parametrize("text, kind, line, field, why", [
    (HEAD.replace("rocky-9", "debian-12"), "kickstart", 3, "target", "debian-12 has no kickstart: a Debian spec is for images only"),
    (HEAD, "kickstart", 3, "target", "rocky-9 has no kickstart: the spec names no disk (kickstart.disk.device)"),
    (HEAD, "prepull", 1, "container.prepull", "rocky-9 has no prepull: the spec has no container.prepull"),
    (HEAD + "container: {sshd: false}\n", "prepull", 5, "container.prepull", "rocky-9 has no prepull: the spec has no container.prepull"),
    (HEAD, "container", 1, "repos", "rocky-9 has no container: an image starts from a tree bootstrapped from the spec's"),
    (HEAD.replace("rocky-9", "rhel-9") + "repos: [{name: b, baseurl: 'http://m.example/9', gpgkey: 'http://m.example/k'}]\n",
     "container", 3, "target", "rhel-9 has no container: a RHEL tree needs subscription content"),
    (HEAD + "repos:\n  - {name: a, baseurl: 'http://m.example/9', gpgkey: 'http://m.example/k'}\n"
     "  - {name: b, baseurl: 'http://m.example/9b', gpgkey: 'file:///etc/pki/rpm-gpg/K'}\n",
     "container", 7, "repos[1].gpgkey", "rocky-9 has no container: the key of repos b is a file:// path"),
])
def test_a_kind_the_spec_cannot_have_is_refused_at_the_line_that_decides(tmp_path, text, kind, line, field, why):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    validate = subprocess.run([sys.executable, "-m", "builder.cli", "validate", str(spec)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=False)
    assert validate.returncode == 0, validate.stderr
    build = subprocess.run([sys.executable, "-m", "builder.cli", "build", str(spec), "--only", kind, "--out",
                            str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 2, build.stderr
    assert f"error: {spec}:{line}: {field}: {why}" in build.stderr
    assert not (tmp_path / "out").exists()


def test_two_specs_of_one_name_are_refused_by_validate_as_by_build(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(HEAD + "kickstart: {disk: {device: vda}}\n")
    second.write_text(HEAD.replace("target: rocky-9", "target: alma-9") + "kickstart: {disk: {device: vda}}\n")
    line = f"{second}:2: name: t is also the name of {first}\n"
    for args in (["validate", first, second], ["build", first, second, "--out", tmp_path / "out"]):
        result = subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 2 and line in result.stderr, result.stderr
        assert "each spec writes to OUT/<name>/" in result.stderr
    assert not (tmp_path / "out").exists()
