"""Messages a person reads: a value of the wrong type says what the field takes, with an example (issue 19, item 4)."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from builder.errors import SpecError
from builder.spec import load_spec
from builder.spec.model import Spec

ROOT = Path(__file__).resolve().parent.parent
HEAD = "version: 1\nname: web\ntarget: rocky-9\n"
# A pydantic type error, or a Python class name, as it would leak into a message.
INTERNALS = re.compile(r"Input should|instance of|valid dictionary|\b(dict|model|string|int|list|bool)_type\b|<class|Kind\.")


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def problems(tmp_path: Path, body: str) -> dict[str, str]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(HEAD + textwrap.dedent(body))
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    return {p.path: p.message for p in caught.value.problems}


# ---------------------------------------------------------------- the cases of the issue, word for word


@pytest.mark.parametrize("body, path, says", [
    ("kickstart:\n  disk:\n", "kickstart.disk", "expected a mapping (of device, layout, partitions), e.g. `disk: {device: "),
    ("sshd:\n  port: twenty-two\n", "sshd.port", "expected a whole number from 1 to 65535, e.g. `port: 22`"),
    ("sshd:\n  enabled: maybe\n", "sshd.enabled", "expected true or false, e.g. `enabled: true`"),
    ("limits:\n  nofile: lots\n", "limits.nofile", "expected a whole number from 1024 to 1048576, e.g. `nofile: 65536`"),
    ("packages:\n  install: nginx\n", "packages.install", "expected a list of package names, e.g. `install: ["),
    ("hosts: [1]\n", "hosts[0]", "expected a mapping (of address, names), e.g. `- {address: "),
    ("firewall:\n  ports: 80/tcp\n", "firewall.ports", "expected a list of ports (like 8080/tcp or 6000-6010/udp), "
                                                       "e.g. `ports: [8080/tcp]`"),
    ("network:\n  interfaces:\n    - name: eth0\n      bootproto: sometimes\n", "network.interfaces[0].bootproto",
     "expected one of dhcp, static, none, e.g. `bootproto: dhcp`"),
], ids=["empty-disk", "port-in-words", "bool", "bounded-int", "list", "list-item", "ports", "enum"])
def test_a_value_of_the_wrong_type_says_what_the_field_takes(tmp_path, body, path, says):
    found = problems(tmp_path, body)
    assert found[path].startswith(says), found[path]
    assert not INTERNALS.search(found[path]), found[path]


def test_the_cli_reports_an_empty_disk_at_its_line_without_a_class_name(tmp_path):
    spec = tmp_path / "web.yaml"
    spec.write_text(HEAD + "kickstart:\n  disk:\n")
    result = run("validate", spec)
    assert result.returncode == 2
    assert f"{spec}:5: kickstart.disk: expected a mapping (of device, layout, partitions), e.g. `disk: {{device: " \
        in result.stderr, result.stderr
    assert "Disk" not in result.stderr and "dictionary" not in result.stderr


# ---------------------------------------------------------------- every field of the model


def _wrong_value(annotation) -> object:
    """A value of another type than the field takes (by the field's outer type)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType) and len(args) == 1:
        return _wrong_value(args[0])
    origin = typing.get_origin(annotation)
    if origin in (list, dict) or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "plain words"
    if annotation in (int, bool, float):
        return "plain words"
    if annotation is str:
        return {"a": "mapping"}
    return None


def _fields(model: type[BaseModel], prefix: tuple = (), seen: frozenset = frozenset()):
    for name, info in model.model_fields.items():
        if info.exclude or name == "password":
            continue
        yield prefix + (name,), info.annotation
        inner = info.annotation
        while typing.get_origin(inner) is typing.Annotated:
            inner = typing.get_args(inner)[0]
        if typing.get_origin(inner) is not list:  # a model, or a model or None (a list's items are other paths)
            inner = next((a for a in typing.get_args(inner) if isinstance(a, type) and issubclass(a, BaseModel)), inner)
        if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
            yield from _fields(inner, prefix + (name,), seen | {inner})


CASES = [(path, value) for path, annotation in _fields(Spec)
         if len(path) <= 3 and (value := _wrong_value(annotation)) is not None
         and path[0] not in ("version",)]


def _nested(path: tuple, value: object) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value


def test_the_sweep_covers_the_model():
    assert len(CASES) > 60, len(CASES)


@pytest.mark.parametrize("path, value", CASES, ids=[".".join(p) for p, _ in CASES])
def test_no_type_error_names_a_class_and_each_gives_an_example(tmp_path, path, value):
    data = {"version": 1, "name": "web", "target": "rocky-9", **_nested(path, value)}
    if path[0] == "name":
        data["name"] = value
    elif path[0] == "target":
        data["target"] = value
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    try:
        load_spec(spec)
    except SpecError as exc:
        messages = {p.path: p.message for p in exc.problems}
    else:
        pytest.fail(f"{'.'.join(path)}: a value of the wrong type was accepted")
    dotted = ".".join(path)
    assert dotted in messages, messages
    message = messages[dotted]
    assert not INTERNALS.search(message), f"{dotted}: {message}"
    if not message.startswith("not a valid") and "unknown target" not in message:
        assert message.startswith("expected ") and ", e.g. `" in message, f"{dotted}: {message}"


# ---------------------------------------------------------------- the command line's choices


def test_only_lists_its_choices_as_plain_names():
    result = run("build", "examples/compute-node-cs9.yaml", "--only", "bogus", "--dry-run")
    assert result.returncode == 2
    assert "(choose from 'kickstart', 'prepull', 'iso', 'container', 'qcow2')" in result.stderr, result.stderr
    assert not INTERNALS.search(result.stderr), result.stderr
