"""Every package, group and environment a spec lists reaches every artifact that installs packages, or the spec is refused.

The names are read from the spec file itself (YAML), and found in each artifact by reading it as its own tool
does: the kickstart's %packages through pykickstart (and the ksvalidator command), the container's and the qcow2's
bootstrap from the commands their plans print. The real dnf installing a group from a repository's comps data is
tests/test_bootstrap_el.py's.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion

from builder.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"

# Specs beside the examples: the examples list no group, and the Debian one no package of its own.
GROUPS_SPEC = f"""
version: 1
name: web
target: rocky-9
repos: [{{name: baseos, baseurl: "http://mirror.example/rocky/9/BaseOS/x86_64/os/", gpgkey: "http://mirror.example/KEY"}}]
users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
packages:
  install: [nginx, tmux, "@web-server", "@^server-product-environment", "@development"]
  exclude: ["@dial-up"]
kickstart: {{disk: {{device: vda}}}}
"""
DEBIAN_SPEC = f"""
version: 1
name: deb
target: debian-12
repos: [{{name: debian, baseurl: "http://mirror.example/debian", suites: [bookworm]}}]
users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
packages: {{install: [nginx, tmux]}}
"""


def specs(tmp_path: Path) -> list[Path]:
    written = []
    for name, text in (("groups.yaml", GROUPS_SPEC), ("debian.yaml", DEBIAN_SPEC)):
        (tmp_path / name).write_text(text)
        written.append(tmp_path / name)
    return [*EXAMPLES, *written]


def listed(spec: Path) -> list[str]:
    return (yaml.safe_load(spec.read_text()).get("packages") or {}).get("install") or []


def dry_run(spec: Path, kind: str, out: Path, capsys) -> list[str] | None:
    """The plan's lines (stdout of `build --only KIND --dry-run`), or None when the kind is refused for the spec."""
    code = main(["build", str(spec), "--only", kind, "--out", str(out), "--dry-run"])
    captured = capsys.readouterr()
    if code == 2:
        assert "has no " + kind in captured.err, captured.err
        return None
    assert code == 0, captured.err
    return captured.out.splitlines()


def installed_by(line: str) -> set[str]:
    """What the bootstrap commands a plan's line shows install: dnf's and apt-get's install arguments, debootstrap's
    --include."""
    start = min(i for i in (line.find("dnf -y "), line.find("debootstrap ")) if i >= 0)
    names: set[str] = set()
    for command in line[start:].removesuffix(")").split(" && "):
        argv = shlex.split(command.split("  (or reuse ")[0])
        if ("dnf" in argv[:1] or "apt-get" in argv) and "install" in argv:
            names |= set(argv[argv.index("--") + 1:])
        elif argv[0] == "debootstrap":
            names |= {n for arg in argv if arg.startswith("--include=") for n in arg.removeprefix("--include=").split(",")}
    return names


def as_dnf_names(names: list[str]) -> set[str]:
    # dnf install names an environment @ID, as it names a group (the kickstart writes @^ID)
    return {"@" + n.removeprefix("@^") if n.startswith("@^") else n for n in names}


def kickstart_packages(text: str, version: str) -> tuple[set[str], set[str], str | None]:
    handler = makeVersion(version)
    KickstartParser(handler).readKickstartFromString(text)
    packages = handler.packages
    return set(packages.packageList), {g.name for g in packages.groupList}, packages.environment


def test_every_listed_name_reaches_the_kickstart_the_container_and_the_qcow2(tmp_path, capsys):
    checked = {"kickstart": 0, "container": 0, "qcow2": 0}
    for spec in specs(tmp_path):
        names = listed(spec)
        target = yaml.safe_load(spec.read_text())["target"]
        out = tmp_path / "out" / spec.stem
        if plan := dry_run(spec, "kickstart", out, capsys):
            assert main(["build", str(spec), "--only", "kickstart", "--out", str(out)]) == 0
            ks = next(out.rglob("ks.cfg"))
            major = target.rsplit("-", 1)[1]
            packages, groups, environment = kickstart_packages(ks.read_text(), f"RHEL{major}")
            wanted_groups = {n[1:] for n in names if n.startswith("@") and not n.startswith("@^")}
            wanted_environment = next((n[2:] for n in names if n.startswith("@^")), "minimal-environment")
            assert {n for n in names if not n.startswith("@")} <= packages, spec.name
            assert wanted_groups <= groups and environment == wanted_environment, spec.name
            validator = subprocess.run([Path(sys.executable).parent / "ksvalidator", "-e", "-v", f"RHEL{major}", ks],
                                       capture_output=True, text=True, check=False)
            assert validator.returncode == 0, validator.stdout + validator.stderr
            checked["kickstart"] += 1
        if plan := dry_run(spec, "container", out, capsys):
            line = next(x for x in plan if x.startswith("container: would run "))
            assert as_dnf_names(names) <= installed_by(line), (spec.name, line)
            checked["container"] += 1
        if plan := dry_run(spec, "qcow2", out, capsys):
            line = next(x for x in plan if x.startswith("root tree: "))
            assert as_dnf_names(names) <= installed_by(line), (spec.name, line)
            checked["qcow2"] += 1
    # Each artifact was looked at for several specs, the groups spec among them (not only refusals).
    assert checked["kickstart"] >= 5 and checked["container"] >= 4 and checked["qcow2"] >= 4, checked


def test_the_kickstart_takes_the_specs_environment_instead_of_minimal(tmp_path, capsys):
    (tmp_path / "groups.yaml").write_text(GROUPS_SPEC)
    assert main(["build", str(tmp_path / "groups.yaml"), "--only", "kickstart", "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "web" / "ks.cfg").read_text()
    body = text.split("%packages", 1)[1].split("%end", 1)[0]
    assert body.count("@^") == 1 and "@^server-product-environment\n" in body  # pykickstart keeps the last one silently
    assert "\n@web-server\n" in body and "\n@development\n" in body and "\n-@dial-up\n" in body


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def both(spec: Path, tmp_path: Path) -> list[str]:
    """validate's and build's stderr: each must refuse the spec (exit 2) and write nothing."""
    outputs = []
    for args in (["validate", spec], ["build", spec, "--out", tmp_path / "out"]):
        result = subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 2, result.stderr
        outputs.append(result.stderr)
    assert not (tmp_path / "out").exists()
    return outputs


def test_a_debian_spec_with_a_group_is_refused_at_its_line(tmp_path):
    spec = write(tmp_path, f"""
        version: 1
        name: deb
        target: debian-12
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        packages:
          install: [tmux, "@web-server"]
        """)
    for stderr in both(spec, tmp_path):
        assert (f"{spec}:6: packages.install[1]: debian-12 has no package groups or environments (@web-server is a dnf "
                "comps group, which EL repositories have)\n    hint: list the packages themselves") in stderr


@pytest.mark.parametrize("name, message", [
    ("@", "an empty group name"),
    ("@^", "an empty environment name"),
    ("@web server", "not a valid group id"),
    ("@^Server Product", "not a valid environment id"),
    ("web server", "not a valid package name"),
])
def test_a_group_that_is_not_one_is_refused_with_the_group_syntax(tmp_path, name, message):
    spec = write(tmp_path, f"""
        version: 1
        name: el
        target: rocky-9
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        packages:
          install: [tmux, "{name}"]
        """)
    for stderr in both(spec, tmp_path):
        assert f"{spec}:6: packages.install[1]: {message}\n" in stderr
        assert "hint: " in stderr and "a dnf comps group is @ID and an environment @^ID" in stderr
        assert "@web-server for \"Basic Web Server\"" in stderr


def test_a_system_has_one_environment(tmp_path):
    spec = write(tmp_path, f"""
        version: 1
        name: el
        target: rocky-9
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        packages:
          install: ["@^server-product-environment", "@web-server", "@^minimal-environment"]
        """)
    for stderr in both(spec, tmp_path):
        assert (f"{spec}:6: packages.install[2]: a system has one environment, and @^server-product-environment is "
                "already listed") in stderr
