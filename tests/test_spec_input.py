"""Spec input is bounded: hostile or careless files are refused before they are parsed or expanded.

Each refusal is checked through the real CLI in a child process whose address space is capped (RLIMIT_AS) and
with a time-out, so that the code before this check (which expanded aliases and read devices to the end) fails
these tests by a MemoryError or a hang instead of taking the test machine down. No test asserts on wall time.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from support.gpgkeys import make_key, why_not_gpg
from support.requirements import skip_or_fail

from builder.cli import _parser
from builder.errors import SpecError
from builder.spec import KeyFile, load_spec, load_spec_text

ROOT = Path(__file__).resolve().parent.parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
MIB = 1 << 20  # the documented limit of a spec file and of a key file (README)
MEMORY_CAP = 1 << 30

SPEC = f"""\
version: 1
name: node
target: rocky-9
users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
"""

EL_SPEC = """\
version: 1
name: el
target: rocky-9
repos:
  - name: baseos
    baseurl: http://mirror.internal.example.com/rocky/9/BaseOS/$basearch/os/
    gpgkey: GPGKEY
""" + f'users: [{{name: ops, ssh_keys: ["{KEY}"]}}]\n'


def alias_bomb(levels: int, width: int = 10) -> str:
    """The "billion laughs": each level is a list of `width` aliases of the level before: width**levels items."""
    lines = ["version: 1", "l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def capped(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`builder ARGS` in a child limited to 1 GiB of address space (a time-out guards a hang; it is no assertion)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit, check=False)


def spec_at(directory: Path, text: str, name: str = "spec.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def refusal(path: Path) -> list[tuple[int | None, str, str, str | None]]:
    with pytest.raises(SpecError) as failure:
        load_spec(path)
    return [(p.line, p.path, p.message, p.hint) for p in failure.value.problems]


# ---------------------------------------------------------------- YAML aliases


def test_the_430_byte_alias_bomb_is_refused_at_the_first_alias_with_a_hint(tmp_path):
    bomb = alias_bomb(7)  # 10**7 items, the size of the one in issue 18
    assert len(bomb) < 500
    path = spec_at(tmp_path, bomb)
    result = capped("validate", path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines()[0] == f"{path}:3: YAML aliases (*name) are not supported"
    assert "hint: write the value out where it is used" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bomb_no_memory_could_hold_is_refused_so_it_was_never_expanded(tmp_path):
    """10**40 items cannot be built in any memory: the refusal proves that nothing was expanded."""
    path = spec_at(tmp_path, alias_bomb(40))
    result = capped("validate", path)
    assert (result.returncode, result.stderr.splitlines()[:1]) == (2, [f"{path}:3: YAML aliases (*name) are not supported"])


def test_an_alias_is_refused_before_any_node_is_composed(tmp_path):
    """An alias of an anchor that does not exist is an error of the composer: the alias refusal comes first."""
    problems = refusal(spec_at(tmp_path, SPEC + "hostname: *nowhere\n"))
    assert [(line, path, message) for line, path, message, _ in problems] == [
        (5, "", "YAML aliases (*name) are not supported")]


@pytest.mark.parametrize("text, line", [
    (SPEC + "files:\n  - &f {path: /etc/a, content: x}\n  - *f\n", 7),
    (SPEC + "sysctl: &s {vm.swappiness: 10}\nx: {<<: *s}\n", 6),
])
def test_every_alias_is_refused_even_a_small_one(text, line):
    with pytest.raises(SpecError) as failure:
        load_spec_text(text, "spec.yaml")
    assert [(p.line, p.message) for p in failure.value.problems] == [(line, "YAML aliases (*name) are not supported")]


def test_an_anchor_nobody_refers_to_is_harmless(tmp_path):
    spec, _, _ = load_spec(spec_at(tmp_path, SPEC.replace("users: [", "users: &u [")))
    assert spec.users[0].name == "ops"


def commands_that_load_a_spec() -> set[str]:
    """Every subcommand with a SPEC argument, read from the parser itself (a new one is covered or this test fails)."""
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name for name, parser in sub.choices.items() if any(a.dest in ("spec", "specs") for a in parser._actions)}


def test_every_command_that_loads_a_spec_refuses_the_bomb_and_writes_nothing(tmp_path):
    path = spec_at(tmp_path, alias_bomb(12))
    out, root, rootfs = tmp_path / "out", tmp_path / "root", tmp_path / "rootfs"
    rootfs.mkdir()
    runs = {
        "validate": [], "baseline": [], "build": ["--out", out], "verify": ["--rootfs", rootfs],
        "publish": ["--to", "pxe", "--root", root], "serve": ["--root", root, "--port", "0"],
    }
    assert set(runs) == commands_that_load_a_spec()
    extra = {"build --dry-run": ("build", ["--out", out, "--dry-run"]), "publish --to registry": ("publish", ["--to", "registry", "--out", out])}
    for name, (command, args) in {**{c: (c, a) for c, a in runs.items()}, **extra}.items():
        result = capped(command, path, *args)
        assert result.returncode == 2, (name, result.stderr[-2000:])
        assert f"{path}:3: YAML aliases (*name) are not supported" in result.stderr, name
    assert not out.exists() and not root.exists()
    assert list(rootfs.iterdir()) == []


# ---------------------------------------------------------------- what a spec file may be


def test_dev_zero_is_no_spec_and_is_not_read(tmp_path):
    result = capped("validate", "/dev/zero")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == ["/dev/zero: not read as a spec: it is a character device, not a regular file",
                                          "    hint: give the path of a plain file"]


def test_a_fifo_is_no_spec_and_does_not_hold_the_load(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    result = capped("validate", fifo, timeout=60)  # the code before waited for a writer forever
    assert (result.returncode, result.stderr.splitlines()[0]) == (2, f"{fifo}: not read as a spec: it is a FIFO, not a regular file")


def test_a_directory_is_no_spec(tmp_path):
    result = capped("validate", tmp_path)
    assert (result.returncode, result.stderr.splitlines()[0]) == (2, f"{tmp_path}: not read as a spec: it is a directory, not a regular file")


def padded(text: str, size: int) -> str:
    """`text` and comment lines, exactly `size` bytes."""
    pad = size - len(text.encode())
    lines = [f"# {'x' * 98}\n"] * (pad // 101)
    rest = pad - 101 * len(lines)
    tail = ("#" + "x" * (rest - 2) + "\n") if rest >= 2 else "\n" * rest
    out = text + "".join(lines) + tail
    assert len(out.encode()) == size
    return out


def test_a_spec_of_exactly_one_mib_is_read_and_one_byte_more_is_refused_before_parsing(tmp_path):
    fits = spec_at(tmp_path, padded(SPEC, MIB), "fits.yaml")
    assert load_spec(fits)[0].name == "node"
    # One byte over, with an alias bomb inside: the size refusal is the only problem, so nothing was parsed.
    over = spec_at(tmp_path, padded(alias_bomb(9), MIB + 1), "over.yaml")
    result = capped("build", over, "--out", tmp_path / "out")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [f"{over}: not read as a spec: it is larger than 1 MiB",
                                          "    hint: builder reads at most 1 MiB from it"]
    assert not (tmp_path / "out").exists()


def test_a_50_mb_spec_is_refused(tmp_path):
    big = spec_at(tmp_path, SPEC + ("# " + "y" * 998 + "\n") * 50_000)
    result = capped("validate", big)
    assert (result.returncode, result.stderr.splitlines()[0]) == (2, f"{big}: not read as a spec: it is larger than 1 MiB")


# ---------------------------------------------------------------- key files: beside the spec, regular, bounded


def key_refusal(directory: Path, value: str) -> tuple[int | None, str, str, str | None]:
    path = spec_at(directory, EL_SPEC.replace("GPGKEY", value))
    problems = refusal(path)
    assert len(problems) == 1 and problems[0][:2] == (7, "repos[0].gpgkey"), problems
    return problems[0]


def test_a_fifo_as_key_file_is_refused_without_waiting_for_a_writer(tmp_path):
    (tmp_path / "keys").mkdir()
    os.mkfifo(tmp_path / "keys" / "mirror.asc")
    path = spec_at(tmp_path, EL_SPEC.replace("GPGKEY", "keys/mirror.asc"))
    result = capped("validate", path, timeout=60)  # the code before blocked in read() forever
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [f"{path}:7: repos[0].gpgkey: key file keys/mirror.asc is a FIFO, not a regular file",
                                          "    hint: give the path of a plain file"]


def test_the_issues_dev_zero_through_dotdot_is_refused_without_a_read(tmp_path):
    path = spec_at(tmp_path / "a" / "b", EL_SPEC.replace("GPGKEY", "../../../../../../../../dev/zero"))
    result = capped("validate", path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "key file ../../../../../../../../dev/zero has a .. in its path" in result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr


def test_dotdot_tells_nothing_about_the_host(tmp_path):
    """The same answer whether the file outside exists or not: `..` is no oracle of the host's files."""
    (tmp_path / "outside.asc").write_text("exists\n")
    inner = tmp_path / "specs"
    there, missing = key_refusal(inner, "../outside.asc"), key_refusal(inner, "../missing.asc")
    assert there[2].replace("outside", "X") == missing[2].replace("missing", "X")
    assert "has a .. in its path" in there[2] and there[3]
    assert key_refusal(inner, "keys/../../outside.asc")[2].endswith("files a spec names lie in the spec file's directory or below it")


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero", "../../outside.asc", "../../missing.asc"])
def test_a_symlink_out_of_the_spec_directory_is_refused(tmp_path, target):
    inner = tmp_path / "specs"
    (inner / "keys").mkdir(parents=True)
    (tmp_path / "outside.asc").write_text("exists\n")
    (inner / "keys" / "mirror.asc").symlink_to(target)
    line, _, message, hint = key_refusal(inner, "keys/mirror.asc")
    assert message == "key file keys/mirror.asc is a symlink that leads out of the spec file's directory"
    assert hint == "copy the file into the spec file's directory instead of linking to it"


def test_a_linked_directory_out_of_the_spec_directory_is_refused(tmp_path):
    inner = tmp_path / "specs"
    inner.mkdir()
    (inner / "keys").symlink_to("/etc")
    assert "leads out of the spec file's directory" in key_refusal(inner, "keys/passwd")[2]


def test_a_symlink_that_stays_beside_the_spec_is_read(tmp_path):
    if reason := why_not_gpg():
        skip_or_fail(reason)
    keys = make_key(tmp_path / "specs" / "keys")
    (tmp_path / "specs" / "current.asc").symlink_to("keys/public.asc")
    spec, _, _ = load_spec(spec_at(tmp_path / "specs", EL_SPEC.replace("GPGKEY", "current.asc")))
    assert isinstance(spec.repos[0].gpgkey, KeyFile) and spec.repos[0].gpgkey.armor == keys.public.read_text()


def test_a_directory_as_key_file_is_refused(tmp_path):
    (tmp_path / "keys").mkdir()
    assert key_refusal(tmp_path, "keys")[2] == "key file keys is a directory, not a regular file"


def test_a_key_file_over_one_mib_is_refused_by_what_is_read(tmp_path):
    (tmp_path / "big.asc").write_bytes(b"-" * (MIB + 1))
    _, _, message, hint = key_refusal(tmp_path, "big.asc")
    assert (message, hint) == ("key file big.asc is larger than 1 MiB", "builder reads at most 1 MiB from it")
    (tmp_path / "big.asc").write_bytes(b"-" * MIB)  # at the limit: read, then refused as no key
    assert "is not an ASCII-armored OpenPGP public key" in key_refusal(tmp_path, "big.asc")[2]


def test_messages_name_no_content(tmp_path):
    """A refused file's bytes never reach a message (a spec or key file may hold secrets)."""
    secret = "Hunter2-secret-" + "z" * 20
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "big.asc").write_text((secret + "\n") * (MIB // 20))
    path = spec_at(tmp_path, EL_SPEC.replace("GPGKEY", "keys/big.asc"))
    result = capped("validate", path)
    assert result.returncode == 2 and secret not in result.stderr + result.stdout
    assert re.search(r"larger than 1 MiB", result.stderr)



def test_nesting_deeper_than_the_limit_is_refused_at_its_line(tmp_path):
    ok = spec_at(tmp_path, SPEC + "x:\n" + "  " + "[" * 60 + "]" * 60 + "\n", "ok.yaml")
    assert [message for _, _, message, _ in refusal(ok)] == ["unknown field"], "60 levels are parsed (and x is no field)"
    deep = spec_at(tmp_path, SPEC + "x:\n" + "  " + "[" * 70 + "]" * 70 + "\n", "deep.yaml")
    result = capped("validate", deep)
    assert (result.returncode, result.stderr.splitlines()[0]) == (2, f"{deep}:6: nested deeper than 64 levels")
