"""Spec validation as a user meets it: the real CLI, real files, exact file:line reports."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from builder.cli import main
from builder.spec import load_spec, spec_sha256

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
SECRET = "Hunter2-plaintext-XYZ"
# One report line: `file:line: field.path: message` (warnings put "warning: " before the message).
REPORT = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): (?P<path>[^:\s]+): (?P<message>.*)$", re.M)


def spec_file(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    """Write `text` (dedented; its first line is line 1) to tmp_path/name."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess:
    """The whole process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def reports(stderr: str, file: Path) -> set[tuple[int, str]]:
    """(line, field path) of every report about `file`."""
    return {(int(m["line"]), m["path"]) for m in REPORT.finditer(stderr) if m["file"] == str(file)}


def refused_build(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess:
    """`builder build ARGS --out OUT`: it must exit 2 and leave OUT unwritten."""
    out = tmp_path / "out"
    result = run("build", *args, "--out", out)
    assert result.returncode == 2, result.stderr
    assert not out.exists()
    return result


def files_under(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


# ---------------------------------------------------------------- examples and schema


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_validates(example: Path, capsys):
    assert main(["validate", str(example)]) == 0
    assert capsys.readouterr().out == f"{example}: ok ({yaml.safe_load(example.read_text())['target']})\n"


def test_schema_is_draft_2020_12_and_accepts_every_example(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for example in EXAMPLES:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(example.read_text()))]
        assert errors == [], example.name


@pytest.mark.parametrize("data", [
    {"version": 1, "name": "ok", "colour": "red"},
    {"version": 1, "name": "Bad Name!"},
    {"version": 1, "name": "ok", "hostname": "node1\n%pre"},
    {"version": 1, "name": "ok", "users": [{"name": "ops; reboot"}]},
    {"version": 1, "name": "ok", "repos": [{"name": "a", "baseurl": "http://x/ $(reboot)"}]},
], ids=["unknown-key", "name", "hostname", "user-name", "url"])
def test_schema_refuses_what_the_builder_refuses(data, capsys):
    """Editors that read the schema flag the same mistakes (patterns are anchored)."""
    main(["schema"])
    schema = json.loads(capsys.readouterr().out)
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)


# ---------------------------------------------------------------- every problem, each at its line


def test_build_reports_every_structural_problem_at_its_line_and_writes_nothing(tmp_path):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: Bad_Name
        target: rocky-9
        users:
          - name: ops
            ssh_keys: ["{KEY}"]
            shell: bin/bash
        sshd:
          port: 70000
        sysctls:
          net.core.somaxconn: 4096
          net.ipv4.tcp_tw_recycle: 1
        hostnme: node1
        firewall:
          ports: [9100/tcp, 80/http]
        """)
    result = refused_build(tmp_path, spec)
    assert reports(result.stderr, spec) == {
        (2, "name"),
        (7, "users[0].shell"),
        (9, "sshd.port"),
        (12, "sysctls.net.ipv4.tcp_tw_recycle"),
        (13, "hostnme"),
        (15, "firewall.ports[1]"),
    }
    assert result.stdout == ""


def test_build_reports_every_cross_field_problem_at_its_line_and_writes_nothing(tmp_path):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: net
        target: rocky-9
        users:
          - name: ops
            ssh_keys: ["{KEY}"]
        network:
          interfaces:
            - name: eth0
              bootproto: dhcp
            - name: eth1
              bootproto: static
              address: 10.0.0.5/24
              gateway: 10.0.1.1
          vlans:
            - parent: eth9
              id: 10
              bootproto: none
          bridges:
            - name: br0
              ports: [eth0]
              bootproto: dhcp
        """)
    result = refused_build(tmp_path, spec)
    assert reports(result.stderr, spec) == {
        (14, "network.interfaces[1].gateway"),
        (16, "network.vlans[0].parent"),
        (21, "network.bridges[0].ports[0]"),
    }
    assert "the gateway is not inside 10.0.0.0/24" in result.stderr
    assert "eth9 is not one of network.interfaces" in result.stderr
    assert "eth0 is a bridge port, so it cannot have its own address" in result.stderr


def test_problems_of_every_spec_are_reported_and_no_spec_is_built(tmp_path):
    good = ROOT / "examples" / "compute-node-cs9.yaml"
    bad = spec_file(tmp_path, "version: 1\nname: x\ntarget: rocky-9\nhostname: -x-\n", "bad.yaml")
    worse = spec_file(tmp_path, "version: 1\nname: y\ntarget: rocky-9\nlocale: klingon\n", "worse.yaml")
    result = refused_build(tmp_path, good, bad, worse)
    # Neither spec has a user: the lockout check runs beside the broken fields it does not read.
    assert reports(result.stderr, bad) == {(4, "hostname"), (1, "users")}
    assert reports(result.stderr, worse) == {(4, "locale"), (1, "users")}


def test_cross_field_checks_run_beside_structural_errors(tmp_path):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        hostname: "bad host"
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        packages: {{install: [ntpdate]}}
        services: {{enable: [foo], disable: [foo]}}
        firewall: {{enabled: nope}}
        """)
    result = run("validate", spec)
    assert result.returncode == 2
    assert reports(result.stderr, spec) == {(4, "hostname"), (6, "packages.install[0]"), (7, "services.disable[0]"),
                                            (8, "firewall.enabled")}


# ---------------------------------------------------------------- structure of the YAML


def test_unknown_keys_are_errors_with_a_did_you_mean_hint(tmp_path, capsys):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        hostnme: node1
        users:
          - name: ops
            ssh_key: ["{KEY}"]
        """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert reports(err, spec) == {(4, "hostnme"), (7, "users[0].ssh_key")}
    assert f"{spec}:4: hostnme: unknown field\n    hint: did you mean `hostname`?" in err
    assert f"{spec}:7: users[0].ssh_key: unknown field\n    hint: did you mean `ssh_keys`?" in err


def test_duplicate_keys_are_errors(tmp_path, capsys):
    spec = spec_file(tmp_path, """
        version: 1
        name: a
        sshd:
          port: 2222
          port: 22
        name: b
        """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert reports(err, spec) == {(5, "sshd.port"), (6, "name")}
    assert err.count("duplicate key") == 2


@pytest.mark.parametrize("text, line", [
    ("version: 1\nname: t\nusers:\n  - name: ops\n    shell: /bin/bash: x\n", 5),
    ("version: 1\nname: t\nsshd: {port: 22\nselinux: enforcing\n", 4),
    ("version: 1\nname: t\n\tselinux: enforcing\n", 3),
], ids=["colon-in-value", "unclosed-flow-mapping", "tab"])
def test_yaml_syntax_errors_name_file_and_line(tmp_path, capsys, text, line):
    spec = spec_file(tmp_path, text)
    assert main(["validate", str(spec)]) == 2
    assert capsys.readouterr().err.startswith(f"{spec}:{line}: invalid YAML: ")


@pytest.mark.parametrize("text, line, column", [
    ("version: 1\nname: t\n\tselinux: enforcing\n", 3, 1),
    ("version: 1\nname: t\nfirewall:\n\tports: [22/tcp]\n", 4, 1),
    ("version: 1\nname: t\nfirewall:\n  ports:\n  -\t8080/tcp\n", 5, 4),
    ("version: 1\nname: t\nusers:\n  - name: ops\n  \t shell: /bin/sh\n", 5, 3),
], ids=["top-level", "nested", "after-dash", "after-spaces"])
def test_a_tab_in_the_yaml_is_named_a_tab(tmp_path, capsys, text, line, column):
    spec = spec_file(tmp_path, text)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:{line}: invalid YAML: a tab character (column {column}): YAML indents with spaces")
    assert "hint: replace the tab with spaces" in err


@pytest.mark.parametrize("ports, bare", [
    ("[8080]", "8080"),
    ("['8080']", "8080"),
    ("[6000-6010]", "6000-6010"),
    ("[22/tcp, 53]", "53"),
], ids=["number", "number-string", "range", "second"])
def test_a_port_without_its_protocol_gets_a_hint(tmp_path, capsys, ports, bare):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        firewall:
          ports: {ports}
        """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    index = 1 if ports.startswith("[22/tcp") else 0
    assert reports(err, spec) == {(6, f"firewall.ports[{index}]")}
    assert "a port needs its protocol" in err and f"hint: write {bare}/tcp (or {bare}/udp)" in err


@pytest.mark.parametrize("text, message", [
    ("- version: 1\n- name: t\n", "a spec is a YAML mapping"),
    ("just words\n", "a spec is a YAML mapping"),
    ("", "spec is empty"),
])
def test_a_spec_is_a_mapping(tmp_path, capsys, text, message):
    spec = spec_file(tmp_path, text)
    assert main(["validate", str(spec)]) == 2
    assert capsys.readouterr().err.startswith(f"{spec}:1: {message}")


@pytest.mark.parametrize("text, line, message", [
    ("name: t\ntarget: rocky-9\n", 1, "version: missing"),
    ("name: t\nversion: 2\n", 2, "version: unsupported spec version"),
    ("name: t\nversion: '1'\n", 2, "version: unsupported spec version"),
], ids=["missing", "unsupported", "string"])
def test_version_is_required_and_checked(tmp_path, capsys, text, line, message):
    spec = spec_file(tmp_path, text)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:{line}: {message}")
    assert "hint: start the spec with `version: 1`" in err


# ---------------------------------------------------------------- secrets are never echoed


def assert_secret_nowhere(result: subprocess.CompletedProcess, out: Path) -> None:
    assert SECRET not in result.stdout + result.stderr
    for path in files_under(out):
        assert SECRET.encode() not in path.read_bytes(), path
    assert files_under(out) == []


def test_plaintext_passwords_are_refused_and_never_echoed(tmp_path):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users:
          - name: ops
            ssh_keys: ["{KEY}"]
            password: {SECRET}
        root:
          lock: false
          password: {SECRET}
        """)
    result = refused_build(tmp_path, spec)
    assert reports(result.stderr, spec) == {(7, "users[0].password"), (10, "root.password")}
    assert result.stderr.count("openssl passwd -6") == 2
    assert_secret_nowhere(result, tmp_path / "out")


def test_a_password_hash_that_is_not_a_crypt_hash_is_refused_and_never_echoed(tmp_path):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users:
          - name: ops
            ssh_keys: ["{KEY}"]
            password_hash: {SECRET}
        root:
          lock: false
          password_hash: "{SECRET}"
        """)
    result = refused_build(tmp_path, spec)
    assert reports(result.stderr, spec) == {(7, "users[0].password_hash"), (10, "root.password_hash")}
    assert "openssl passwd -6" in result.stderr
    assert_secret_nowhere(result, tmp_path / "out")


@pytest.mark.parametrize("line", [
    f"    password_hash: {SECRET}: x",
    f'    password_hash: "{SECRET}',
    f"    password_hash: [{SECRET}",
    f"\tpassword_hash: {SECRET}",
], ids=["colon", "unclosed-quote", "unclosed-list", "tab"])
def test_a_yaml_error_on_a_line_with_a_secret_does_not_echo_it(tmp_path, line):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"version: 1\nname: t\nusers:\n  - name: ops\n{line}\n")
    result = refused_build(tmp_path, spec)
    assert re.match(rf"{re.escape(str(spec))}:\d+: invalid YAML: ", result.stderr)
    assert_secret_nowhere(result, tmp_path / "out")


# ---------------------------------------------------------------- what the target cannot take


def test_tcp_tw_recycle_is_refused_with_the_reason(tmp_path, capsys):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        sysctls:
          net.ipv4.tcp_tw_recycle: 1
        """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert reports(err, spec) == {(6, "sysctls.net.ipv4.tcp_tw_recycle")}
    assert "4.12" in err and "net.ipv4.tcp_tw_reuse" in err


def install_spec(tmp_path: Path, target: str, name: str) -> Path:
    """A spec for `target` whose packages.install is [tmux, NAME] (NAME at line 6, packages.install[1])."""
    return spec_file(tmp_path, f"""
        version: 1
        name: t
        target: {target}
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        packages:
          install: [tmux, {name}]
        """)


@pytest.mark.parametrize("target, name, replacement", [
    ("centos-stream-9", "ntpdate", "chrony"),
    ("rocky-9", "nc", "nmap-ncat"),
    ("alma-9", "vim", "vim-enhanced"),
    ("rocky-8", "screen", "tmux"),
    ("debian-12", "vim-enhanced", "vim"),
])
def test_classic_package_names_missing_on_the_target_name_the_replacement(tmp_path, capsys, target, name, replacement):
    spec = install_spec(tmp_path, target, name)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert reports(err, spec) == {(6, "packages.install[1]")}
    assert f"{name} does not exist on {target}" in err
    assert f"hint: use {replacement}\n" in err


# (target, package, reported, replacement): EL's dropped packages, written out by hand from the RHEL 8 and 9
# "Considerations in adopting" lists; each is refused from the release that dropped it on, with its replacement.
@pytest.mark.parametrize("target, name, reported, replacement", [
    ("rocky-9", "bridge-utils", True, "iproute"),
    ("rocky-8", "bridge-utils", True, "iproute"),
    ("debian-12", "bridge-utils", False, None),           # Debian still has brctl
    ("rocky-8", "network-scripts", False, None),         # deprecated in EL 8, still there
    ("alma-9", "network-scripts", True, "NetworkManager"),
    ("centos-stream-10", "network-scripts", True, "NetworkManager"),
    ("rocky-8", "ntp", True, "chrony"),
    ("alma-8", "authconfig", True, "authselect"),
    ("rocky-9", "yum-cron", True, "dnf-automatic"),
    ("rocky-8", "mailx", False, None),                   # replaced by s-nail in EL 9
    ("rocky-9", "mailx", True, "s-nail"),
])
def test_packages_el_dropped_are_refused_with_their_replacement(tmp_path, target, name, reported, replacement):
    spec = install_spec(tmp_path, target, name)
    if not reported:
        result = run("validate", spec)
        assert result.returncode == 0 and "packages.install[" not in result.stderr, result.stderr
        return
    for result in (run("validate", spec), refused_build(tmp_path, spec)):     # one set of checks
        assert result.returncode == 2, result.stderr
        assert reports(result.stderr, spec) == {(6, "packages.install[1]")}, result.stderr
        assert f"{spec}:6: packages.install[1]: {name} does not exist on {target}: " in result.stderr
        assert f"hint: use {replacement}\n" in result.stderr


def test_the_kvm_example_has_no_dropped_package():
    result = run("validate", ROOT / "examples/kvm-host-rocky9.yaml")
    assert result.returncode == 0 and "packages.install[" not in result.stderr, result.stderr


def test_a_debian_spec_has_no_kickstart_section(tmp_path, capsys):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: debian-12
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        kickstart:
          install_source: cdrom
        """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert reports(err, spec) == {(5, "kickstart")}
    assert "debian-12 has no kickstart" in err


def test_only_kickstart_of_a_debian_spec_fails_and_writes_nothing(tmp_path):
    debian = ROOT / "examples" / "debian12-node.yaml"
    el = ROOT / "examples" / "compute-node-cs9.yaml"
    result = refused_build(tmp_path, el, debian, "--only", "kickstart")  # not even the EL spec's kickstart
    assert f"error: {debian}:7: target: debian-12 has no kickstart" in result.stderr
    assert "hint: target an EL release" in result.stderr


def test_selinux_and_firewall_disabled_are_warnings_with_their_lines(tmp_path):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users: [{{name: ops, admin: true, sudo_nopasswd: true, ssh_keys: ["{KEY}"]}}]
        selinux: disabled
        firewall:
          enabled: false
        """)
    result = run("validate", spec)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{spec}: ok (rocky-9)\n"
    assert reports(result.stderr, spec) == {(1, "packages.toolset"), (5, "selinux"), (6, "firewall")}  # screen: not on rocky-9
    assert f"{spec}:5: selinux: warning: SELinux disabled" in result.stderr
    assert f"{spec}:6: firewall: warning: firewall disabled" in result.stderr


# (spec lines after `target:`, line of the lockout error or None when someone can log in)
@pytest.mark.parametrize("login, line", [
    ("users: [{name: ops, admin: true}]", 4),
    ("users: [{name: ops, password_hash: '$6$salt$hash'}]", 4),  # password_authentication is off
    (f"root: {{ssh_keys: ['{KEY}']}}", 1),  # permit_root_login is false; no users: the spec's first line
    ("users: [{name: ops, password_hash: '$6$salt$hash'}]\nsshd: {password_authentication: true}", None),
    (f"root: {{ssh_keys: ['{KEY}']}}\nsshd: {{permit_root_login: prohibit-password}}", None),
    ("users: [{name: ops}]\nsshd: {enabled: false}", None),
], ids=["no-key", "hash-without-password-auth", "root-key-without-root-login",
        "hash-with-password-auth", "root-key-with-root-login", "no-sshd"])
def test_a_spec_that_locks_everybody_out_is_refused(tmp_path, capsys, login, line):
    spec = spec_file(tmp_path, f"version: 1\nname: t\ntarget: rocky-9\n{login}\n")
    code = main(["validate", str(spec)])
    err = capsys.readouterr().err
    if line is None:
        assert code == 0, err
        assert "nobody could log in" not in err
    else:
        assert code == 2
        assert reports(err, spec) == {(line, "users")}
        assert "nobody could log in over SSH" in err


def test_unlocked_root_needs_a_password_hash(tmp_path, capsys):
    """Otherwise the kickstart would set root's crypted password to the string None."""
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        root:
          lock: false
        """)
    assert main(["validate", str(spec)]) == 2
    assert reports(capsys.readouterr().err, spec) == {(6, "root.lock")}


# ---------------------------------------------------------------- build output


def test_manifest_records_spec_hash_and_every_artifact(tmp_path):
    example = ROOT / "examples" / "compute-node-cs9.yaml"
    out = tmp_path / "out"
    result = run("build", example, "--out", out)
    assert result.returncode == 0, result.stderr
    directory = out / "compute-node-cs9"
    manifest = json.loads((directory / "manifest.json").read_text())
    spec, _, _ = load_spec(example)
    assert manifest["spec_sha256"] == spec_sha256(spec)
    assert manifest["target"] == "centos-stream-9"
    assert set(manifest["artifacts"]) == {"kickstart", "prepull"}  # the example opts in to container.prepull
    for record in manifest["artifacts"].values():
        data = (directory / record["path"]).read_bytes()
        assert record["size"] == len(data)
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert f"Spec sha256 {manifest['spec_sha256']}" in (directory / "ks.cfg").read_text()
    assert {p.name for p in files_under(out)} == {"manifest.json", "ks.cfg", "prepull.sh"}


def built_spec_sha256(spec: Path, out: Path) -> str:
    result = run("build", spec, "--out", out)
    assert result.returncode == 0, result.stderr
    (manifest,) = out.glob("*/manifest.json")
    return json.loads(manifest.read_text())["spec_sha256"]


def test_spec_hash_ignores_comments_and_formatting_but_not_values(tmp_path):
    example = ROOT / "examples" / "compute-node-cs9.yaml"
    text = example.read_text()
    data = yaml.safe_load(text)
    reformatted = spec_file(tmp_path, yaml.safe_dump(data, default_flow_style=True, width=60), "reformatted.yaml")
    assert "#" not in reformatted.read_text()
    changed = spec_file(tmp_path, text.replace("timezone: Asia/Shanghai", "timezone: Asia/Tokyo"), "changed.yaml")
    assert changed.read_text() != text

    original = built_spec_sha256(example, tmp_path / "a")
    assert built_spec_sha256(reformatted, tmp_path / "b") == original
    assert built_spec_sha256(changed, tmp_path / "c") != original


def test_spec_hash_ignores_values_equal_to_their_defaults(tmp_path):
    """A spec that spells out a default, or a builder that adds an optional section, keeps the hash."""
    example = ROOT / "examples" / "debian12-node.yaml"
    text = example.read_text()
    assert "\nkeyboard:" not in text
    spelled_out, _, _ = load_spec(spec_file(tmp_path, text + "keyboard: us\n", "explicit.yaml"))
    plain, _, _ = load_spec(example)
    assert spelled_out.keyboard == plain.keyboard == "us"
    assert spec_sha256(spelled_out) == spec_sha256(plain)
    assert spec_sha256(plain.model_copy(update={"keyboard": "de"})) != spec_sha256(plain)


def test_the_command_line_offers_exactly_the_artifacts_the_builder_makes(capsys):
    from builder.kinds import KINDS

    with pytest.raises(SystemExit):
        main(["build", "spec.yaml", "--out", "out", "--only", "nothing-of-ours"])
    choices = ", ".join(repr(str(k.name)) for k in KINDS)
    assert f"(choose from {choices})" in capsys.readouterr().err


def test_prepull_with_docker_on_el_is_refused():
    from builder.errors import SpecError
    from builder.spec import load_spec_text

    text = (ROOT / "examples" / "compute-node-cs9.yaml").read_text().replace(
        "    image: registry.internal.example.com:5000/base/compute-node-cs9:latest",
        "    image: registry.internal.example.com:5000/base/compute-node-cs9:latest\n    engine: docker")
    with pytest.raises(SpecError) as refused:
        load_spec_text(text, "cs9.yaml")
    assert "container.prepull.engine" in str(refused.value) and "podman" in str(refused.value)


@pytest.mark.parametrize("argv, message", [
    (["publish", "examples/debian12-node.yaml", "--to", "glance", "--registry", "registry.example.com/base"],
     "--registry is for --to registry, not --to glance"),
    (["publish", "examples/pxe-rack-rocky9.yaml", "--to", "registry", "--root", "tree"], "--root is for --to pxe, not --to registry"),
    (["publish", "examples/pxe-rack-rocky9.yaml", "--to", "pxe", "--jobs", "2"], "--to registry, not --to pxe"),
    (["publish", "examples/debian12-node.yaml", "--to", "registry", "--registry", "r.example.com/base/a",
      "--registry", "r.example.com/base/a"], "a --registry reference is given twice"),
    (["publish", "examples/debian12-node.yaml", "--to", "registry", "--jobs", "0"], "--jobs: at least 1, not 0"),
    (["publish", "examples/debian12-node.yaml", "--to", "registry", "--no-warm"], "names no container.prepull.mirrors to warm"),
    (["publish", "examples/compute-node-cs9.yaml", "--to", "glance", "--no-warm"], "--no-warm is for --to registry, not --to glance"),
    (["verify", "examples/debian12-node.yaml", "--rootfs", "/", "--no-boot"], "--no-boot and --console are for --qcow2"),
    (["build", "examples/pxe-rack-rocky9.yaml", "--only", "kickstart", "--boot-iso", "boot.iso", "--out", "out"],
     "--boot-iso is for the iso artifact"),
])
def test_an_option_for_another_destination_is_refused_not_ignored(argv, message, tmp_path):
    argv = [str(ROOT / a) if a.startswith("examples/") else a for a in argv]
    result = subprocess.run([sys.executable, "-m", "builder.cli", *argv], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("zone, suggestion", [
    ("Asia/Beijing", "Asia/Shanghai"),
    ("Europe/Berlim", "Europe/Berlin"),
    ("utc", "UTC"),
])
def test_a_time_zone_must_be_in_the_iana_database(tmp_path, capsys, zone, suggestion):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        timezone: {zone}
        """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert reports(err, spec) == {(5, "timezone")}
    assert "not a time zone of the IANA database; did you mean " in err and suggestion in err


def test_a_host_without_a_time_zone_database_refuses_every_time_zone(tmp_path, capsys, monkeypatch):
    from builder.spec import fields

    monkeypatch.setattr(fields, "iana_timezones", lambda: frozenset())
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
        timezone: Asia/Shanghai
        """)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert reports(err, spec) == {(5, "timezone")}
    assert "no IANA time zone database" in err and "install tzdata" in err


@pytest.mark.parametrize("target, packages, warned", [
    ("rocky-9", "", True),
    ("rocky-8", "", True),
    ("alma-10", "packages: {install: [tmux]}", False),     # the replacement is there: nothing is missing
    ("rocky-9", "packages: {toolset: false}", False),
    ("debian-12", "", False),                              # Debian has screen
])
def test_a_classic_toolset_name_missing_on_the_target_is_reported(tmp_path, target, packages, warned):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: {target}
        users: [{{name: ops, admin: true, sudo_nopasswd: true, ssh_keys: ["{KEY}"]}}]
        {packages}
        """)
    result = run("validate", spec)
    assert result.returncode == 0, result.stderr
    line = f"{spec}:1: packages.toolset: warning: screen (classic toolset) is not installed on {target}: screen was dropped in EL 8"
    assert (line in result.stderr) is warned, result.stderr
    if warned:
        assert "hint: add tmux to packages.install to have one, or set packages.toolset: false" in result.stderr


def test_the_toolset_installs_screen_where_the_target_has_it():
    from builder.packages import toolset, toolset_gaps
    from builder.targets import Target

    assert "screen" in toolset(Target("debian-12").info) and toolset_gaps(Target("debian-12").info) == {}
    el = Target("rocky-9").info
    assert "screen" not in toolset(el) and set(toolset_gaps(el)) == {"screen"}


# ---------------------------------------------------------------- the target is never a silent default


@pytest.mark.parametrize("target_line, line, hint", [
    ("", 1, "hint: the system to build, like target: rocky-9; the targets are centos-stream-8, "),
    ("target: rocky9\n", 3, "hint: did you mean rocky-9 or rocky-8? the targets are centos-stream-8, "),
    ("target: ubuntu-24.04\n", 3, "hint: the targets are centos-stream-8, "),
], ids=["missing", "near-miss", "unknown"])
def test_the_target_is_required_and_an_unknown_one_lists_the_targets(tmp_path, target_line, line, hint):
    spec = spec_file(tmp_path, f"version: 1\nname: t\n{target_line}users: [{{name: ops, ssh_keys: ['{KEY}']}}]\n")
    for command in ("validate", "build"):
        result = run(command, spec, *(["--out", tmp_path / "out"] if command == "build" else []))
        assert result.returncode == 2, result.stderr
        assert reports(result.stderr, spec) == {(line, "target")}
        assert hint in result.stderr and "debian-12" in result.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- every port the spec takes is a port


# (the spec's lines after `users:`, the field reported, the message)
@pytest.mark.parametrize("lines, field, message", [
    ("firewall: {ports: [80/tcp, 70000/tcp]}", "firewall.ports[1]", "port 70000 is out of range: a port is 1 to 65535"),
    ("firewall: {ports: [0/udp]}", "firewall.ports[0]", "port 0 is out of range: a port is 1 to 65535"),
    ("firewall: {ports: [8000-65536/tcp]}", "firewall.ports[0]", "port 65536 is out of range: a port is 1 to 65535"),
    ("firewall: {ports: [8100-8000/tcp]}", "firewall.ports[0]", "the range 8100-8000 starts after it ends: write 8000-8100"),
    ("sshd: {port: 70000}", "sshd.port", "Input should be less than or equal to 65535"),
    ("repos: [{name: a, baseurl: 'http://mirror.example:99999/el9', gpgkey: 'http://mirror.example/k'}]",
     "repos[0].baseurl", "port 99999 is out of range: a port is 1 to 65535"),
    ("repos: [{name: a, baseurl: 'http://mirror.example/el9', gpgkey: 'http://mirror.example:0/k'}]",
     "repos[0].gpgkey", "port 0 is out of range: a port is 1 to 65535"),
    ("kickstart: {install_source: 'http://mirror.example:65536/el9', disk: {device: vda}}", "kickstart.install_source",
     "port 65536 is out of range: a port is 1 to 65535"),
    ("install: {pxe: {server_url: 'http://10.0.0.5:80800'}}", "install.pxe.server_url",
     "port 80800 is out of range: a port is 1 to 65535"),
    ("install: {pxe: {server_url: 'http://10.0.0.5:8080', kernel: 'http://10.0.0.5:99999/vmlinuz'}}",
     "install.pxe.kernel", "port 99999 is out of range: a port is 1 to 65535"),
    ("container: {registry: 'registry.example:70000/base/t'}", "container.registry",
     "port 70000 is out of range: a port is 1 to 65535"),
    ("container: {prepull: {image: 'registry.example:0/base/t'}}", "container.prepull.image",
     "port 0 is out of range: a port is 1 to 65535"),
    ("container: {prepull: {image: 'registry.example:5000/base/t', mirrors: {dc1: ['mirror.example:65536']}}}",
     "container.prepull.mirrors.dc1[0]", "port 65536 is out of range: a port is 1 to 65535"),
    ("sysctls: {net.ipv4.ip_local_port_range: '1024 70000'}", "sysctls.net.ipv4.ip_local_port_range",
     "port 70000 is out of range: a port is 1 to 65535"),
    ("sysctls: {net.ipv4.ip_local_port_range: '61000 32768'}", "sysctls.net.ipv4.ip_local_port_range",
     "the range 61000 32768 starts after it ends"),
    ("sysctls: {net.ipv4.ip_local_port_range: 32768}", "sysctls.net.ipv4.ip_local_port_range",
     "a port range is two ports, the first at most the second"),
], ids=lambda value: value if isinstance(value, str) and "." in value and " " not in value else None)
def test_every_port_and_range_is_checked(tmp_path, lines, field, message):
    spec = spec_file(tmp_path, f"version: 1\nname: t\ntarget: rocky-9\nusers: [{{name: ops, ssh_keys: ['{KEY}']}}]\n{lines}\n")
    result = run("validate", spec)
    assert result.returncode == 2, result.stderr
    assert f"{spec}:5: {field}: {message}" in result.stderr
    assert {path for _, path in reports(result.stderr, spec)} == {field}


def test_ports_and_ranges_in_range_are_accepted(tmp_path):
    spec = spec_file(tmp_path, f"""
        version: 1
        name: t
        target: rocky-9
        users: [{{name: ops, ssh_keys: ['{KEY}']}}]
        sshd: {{port: 65535}}
        firewall: {{ports: [1/tcp, 65535/udp, 8000-8100/tcp, 9000-9000/sctp]}}
        kickstart: {{install_source: 'http://mirror.example:8080/el9', disk: {{device: vda}}}}
        container: {{registry: 'registry.example:5000/base/t'}}
        sysctls: {{net.ipv4.ip_local_port_range: "32768 60999"}}
        """)
    result = run("validate", spec)
    assert result.returncode == 0, result.stderr
