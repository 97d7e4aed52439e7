"""The command line as a new user meets it (issue 19, item 5): help, exit codes, --out, the schema's descriptions."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CS9 = EXAMPLES / "compute-node-cs9.yaml"
DEBIAN = EXAMPLES / "debian12-node.yaml"
KVM = EXAMPLES / "kvm-host-rocky9.yaml"          # no container.registry
PXE = EXAMPLES / "pxe-rack-rocky9.yaml"
# Written out by hand (not read from builder): what a user types and what the README promises.
SUBCOMMANDS = ("validate", "schema", "build", "verify", "publish", "serve", "baseline")


def builder(*args: str | Path, cwd: Path = ROOT, env_columns: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(env_columns)} if env_columns else None
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


# ---------------------------------------------------------------- --help


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_a_description_and_an_example_in_its_help(command):
    result = builder(command, "--help")
    assert result.returncode == 0, result.stderr
    usage, _, rest = result.stdout.partition("\n\n")
    assert usage.startswith(f"usage: builder {command}")
    description = rest.split("\n\n")[0]
    assert not description.startswith(("positional arguments", "options")), f"{command} --help has no description"
    assert len(description.split()) >= 8, description
    examples = re.search(r"^examples:\n((?:  .*\n)+)", result.stdout, re.M)
    assert examples, f"{command} --help has no example"
    assert all(line.startswith(f"  builder {command} ") for line in examples[1].splitlines()), examples[1]
    assert "exit codes:" in result.stdout


# Written out by hand from the README and docs: each publish option and the targets it is for.
PUBLISH_OPTIONS = {"--out": "glance, registry", "--root": "pxe", "--with-pxelinux": "pxe", "--rearm": "pxe",
                   "--registry": "registry", "--plain-http": "registry", "--no-warm": "registry", "--cloud": "glance",
                   "--jobs": "glance, registry", "--timeout": "glance"}


def test_publish_help_names_every_target_and_each_option_with_the_targets_it_is_for():
    text = builder("publish", "--help", env_columns=200).stdout
    assert "--to {glance,pxe,registry}" in text
    helped = dict(re.findall(r"^  (--[a-z-]+)(?: [A-Z][^ ]*)? +([a-z, ]+): ", text, re.M))
    assert {flag: targets for flag, targets in helped.items() if flag not in ("--help", "--quiet", "--to")} == PUBLISH_OPTIONS
    description = " ".join(text.split("\n\n")[1].split())
    for says in ("pxe writes a ready-to-serve PXE tree", "registry pushes the container image to each registry (built with "
                 "--only container)", "glance uploads the qcow2 to each cloud (built with --only qcow2)",
                 "registry and glance read the artifact from OUT/<name>/"):
        assert says in description, description


@pytest.mark.parametrize("target, option", [("pxe", "--no-warm"), ("glance", "--rearm"), ("registry", "--timeout")])
def test_a_publish_option_of_another_target_is_refused(tmp_path, target, option):
    value = [] if option == "--no-warm" else ["5"]
    result = builder("publish", PXE, "--to", target, option, *value, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"error: {option} is for --to {PUBLISH_OPTIONS[option]}, not --to {target}" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- exit codes: 2 for usage and spec, 1 for the work


@pytest.mark.parametrize("args, code, says", [
    (["publish", KVM, "--to", "registry"], 2, "no registry to push to"),
    (["verify", CS9, "--rootfs", "/nonexistent"], 2, "--rootfs /nonexistent: not a directory"),
    (["publish", PXE, "--to", "pxe"], 2, "needs --root DIR"),
    (["publish", PXE, "--to", "pxe", "--root", "tree", "--out", "somewhere"], 2, "--out is for --to glance or --to registry"),
    (["build", CS9, "--only", "bogus"], 2, "invalid choice"),
    (["build", DEBIAN, "--only", "kickstart", "--dry-run"], 2, "debian-12 has no kickstart"),
    (["build", CS9, "--boot-iso", "x.iso", "--dry-run"], 2, "--boot-iso is for the iso artifact"),
    (["build", CS9, "--only", "iso", "--boot-iso", "/nonexistent.iso", "--out", "out"], 2, "no such installer ISO"),
    (["build", CS9, CS9, "--out", "out"], 2, "name: compute-node-cs9 is also the name of"),
    (["publish", DEBIAN, "--to", "registry", "--registry", "not a reference", "--out", "out"], 2, "is not a registry reference"),
    (["verify", DEBIAN, "--qcow2", "/nonexistent.qcow2", "--no-boot"], 2, "no such image file"),
], ids=["publish-no-registry", "verify-no-rootfs", "pxe-no-root", "pxe-out", "bad-choice", "kind-refused", "foreign-option",
        "no-boot-iso", "shared-name", "bad-reference", "verify-no-qcow2"])
def test_a_usage_or_spec_error_exits_2_and_does_nothing(tmp_path, args, code, says):
    result = builder(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert says in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == [], "a refused command wrote something"


def test_a_verify_that_finds_failures_exits_1(tmp_path):
    empty = tmp_path / "root"
    empty.mkdir()
    result = builder("verify", DEBIAN, "--rootfs", empty)
    assert result.returncode == 1, result.stderr
    assert re.search(r"^\d+ checks: [1-9]\d* failed", result.stdout, re.M), result.stdout


def test_the_readme_table_of_exit_codes_is_the_one_help_prints():
    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme, re.M))
    assert set(table) == {"0", "1", "2", "130"}, table
    helped = builder("--help").stdout
    codes = dict(re.findall(r"^  (\d+) +(.+)$", helped.split("exit codes:")[1], re.M))
    assert set(codes) == set(table)
    for code, meaning in codes.items():
        assert meaning.split(":")[0] in table[code], (code, meaning, table[code])


# ---------------------------------------------------------------- --out: one behaviour everywhere


def test_out_defaults_to_out_in_build_and_publish(tmp_path):
    built = builder("build", CS9, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "out" / "compute-node-cs9" / "ks.cfg").is_file()
    # publish reads the same default: the container it looks for is under ./out
    published = builder("publish", DEBIAN, "--to", "registry", "--registry", "127.0.0.1:9/base/node", cwd=tmp_path)
    assert published.returncode != 0
    assert "--out out" in published.stderr, published.stderr


@pytest.mark.parametrize("command", ["build", "publish"])
def test_out_has_the_same_help_wherever_it_is_read(command):
    text = " ".join(builder(command, "--help").stdout.split())
    assert "--out DIR" in text and "default: out)" in text, text


# ---------------------------------------------------------------- the schema


def test_every_schema_property_has_a_description():
    result = builder("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    missing, seen = [], 0
    for name, definition in [("Spec", schema), *schema.get("$defs", {}).items()]:
        for key, prop in definition.get("properties", {}).items():
            seen += 1
            if not str(prop.get("description", "")).strip():
                missing.append(f"{name}.{key}")
    assert seen > 100, seen
    assert not missing, f"{len(missing)} of {seen} properties have no description: {', '.join(missing)}"
