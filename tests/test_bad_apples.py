"""Bad apples: no spec value can add a kickstart section or command.

Every string in an EL example (and every optional string field the example
leaves out, found through the JSON schema) gets each nasty value, in place of
and appended to its own value. Either the spec is refused with that field's
path and line, or the field is free text (the schema marks it `x-free-text`):
then the kickstart still parses, has exactly the sections and commands of the
unmodified spec, and carries the value byte for byte in a base64 blob.
"""
from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion

from builder.baseline import Baseline, render_script
from builder.errors import SpecError
from builder.install.kickstart import render_kickstart, validate_kickstart
from builder.spec import json_schema, load_spec_text, spec_sha256

ROOT = Path(__file__).resolve().parent.parent
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
HASH = "$6$Blr9H7av7pQeniBi$In5Z2.6AULFn07bCsBeXU1MJfxyn1KaQZLGDh1hwxcHBrReQtD55Mq0TNZrCkZwd0fEFp7c7z8R6bodbG6wgg/"

NASTY = [
    "x\ny", "%pre", "%end", "x\n%end\n%pre\nrm -rf /", "$(reboot)", "`reboot`", "a'b", 'a"b',
    "a;reboot", "a #b", "a\x00b", "  %end", "x\ry", "x\u2028%pre",
    "fe80::1%x\nreboot",  # a valid IPv6 address to ipaddress.ip_address(): the scope is free text
]

# Optional string fields the examples leave out, merged into them (lists item by item)
# so that every string field of the schema is exercised; see test_every_string_field_is_exercised.
EXTRAS = {
    "compute-node-cs9": {
        "repos": [{"gpgkey": "http://mirror.internal.example.com/keys/RPM-GPG-KEY", "components": ["main"]}],
        "packages": {"exclude": ["cockpit"]},
        "users": [{"shell": "/bin/zsh", "groups": ["staff"]}],
        "root": {"lock": False, "password_hash": HASH, "ssh_keys": [KEY]},
        "sshd": {"permit_root_login": "prohibit-password"},
        "firewall": {"services": ["http"]},
        "services": {"enable": ["tuned"]},
        "files": [{"mode": "0640", "owner": "root", "group": "wheel"}],
        "container": {"registry": "registry.internal.example.com:5000/base/compute:1", "compression": "zstd",
                      "layers": [["distribution"], ["packages"], ["package-state", "configuration"]],
                      "prepull": {"engine": "podman"}},
        "qcow2": {"block_device": "gpt", "cloud_init": "openstack", "glance_name": "cs9-node", "glance_clouds": ["region-a"],
                  "glance_properties": {"hw_machine_type": "q35"}},
    },
    "kvm-host-rocky9": {
        "network": {
            "interfaces": [{}, {"name": "eth1", "bootproto": "static", "address": "10.40.0.5/24",
                                "gateway": "10.40.0.1", "nameservers": ["10.40.0.2"]}],
            "vlans": [{}, {}, {"parent": "eth0", "id": 30, "bootproto": "static", "address": "10.30.0.5/24",
                               "gateway": "10.30.0.1", "nameservers": ["10.30.0.2"]}],
        },
    },
    "pxe-rack-rocky9": {
        "install": {"pxe": {"inst_repo": "http://mirror.internal.example.com/rocky/9/BaseOS/x86_64/os/"},
                    "machines": [{"interface": "eth0", "site": "dc1"}]},
        "container": {"registry": ["registry.internal.example.com:5000/base/rack:1", "registry.dc2.internal.example.com/base/rack:1"],
                      "prepull": {"image": "registry.internal.example.com:5000/base/rack:1",
                                  "mirrors": {"dc1": ["mirror1.dc1.internal.example.com:5000"]}}},
    },
}
# Schema fields an EL spec cannot carry at all (refused whatever their value).
NOT_FOR_EL = {"repos[].suites[]": "Debian repositories only"}


# ---------------------------------------------------------------- the schema's string fields

SCHEMA = json_schema()


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _branches(node: dict) -> list[dict]:
    """The alternatives a value may take (anyOf, and a oneOf inside it: a value or a list of them)."""
    node = _resolve(node)
    branches = [_resolve(branch) for branch in node.get("anyOf", [node])]
    return [_resolve(inner) for branch in branches for inner in branch.get("oneOf", [branch])]


def _map_values(branch: dict) -> dict | None:
    """The schema of a map's values (additionalProperties, or the one patternProperties entry of checked keys)."""
    if isinstance(branch.get("additionalProperties"), dict):
        return branch["additionalProperties"]
    patterns = list(branch.get("patternProperties", {}).values())
    return patterns[0] if len(patterns) == 1 else None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def schema_string_fields(node: dict | None = None, path: str = "") -> dict[str, dict]:
    """Every field that takes a string, as `users[].ssh_keys[]` -> its schema; map keys are `.<key>`."""
    found: dict[str, dict] = {}
    for branch in _branches(SCHEMA if node is None else node):
        if branch.get("type") == "string":
            found[path] = branch
        for name, sub in branch.get("properties", {}).items():
            found |= schema_string_fields(sub, _join(path, name))
        if "items" in branch:
            found |= schema_string_fields(branch["items"], path + "[]")
        if (values := _map_values(branch)) is not None:
            found[path + ".<key>"] = {"type": "string"}
            found |= schema_string_fields(values, path + ".*")
    return found


STRING_FIELDS = schema_string_fields()
FREE_TEXT = {path for path, node in STRING_FIELDS.items() if node.get("x-free-text")}


def format_loc(loc: tuple) -> str:
    """A field path as the builder reports it: users[0].ssh_keys[0]; an odd key is JSON-quoted: sysctls["x\\ny"]."""
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z0-9_.@-]+", p):
            out += f".{p}"
        else:
            out += f"[{json.dumps(p)}]"
    return out.lstrip(".")


@dataclass(frozen=True)
class Field:
    loc: tuple  # where the string sits in the YAML data
    schema_path: str
    is_key: bool = False  # the string is a map key (sysctls)


def data_string_fields(data: Any, node: dict | None = None, loc: tuple = (), path: str = "") -> Iterator[Field]:
    """Every string in `data`, walked alongside the schema (dict keys of a map included)."""
    kind = {str: "string", list: "array", dict: "object"}.get(type(data))
    branch = next((b for b in _branches(SCHEMA if node is None else node) if b.get("type") == kind), None)
    if branch is None:  # a number, a boolean or null
        return
    if kind == "string":
        yield Field(loc, path)
    elif kind == "array":
        for index, item in enumerate(data):
            yield from data_string_fields(item, branch["items"], loc + (index,), path + "[]")
    elif "properties" in branch:
        for key, value in data.items():
            yield from data_string_fields(value, branch["properties"][key], loc + (key,), _join(path, key))
    else:  # a map such as sysctls: its keys are strings too
        for key, value in data.items():
            yield Field(loc + (key,), path + ".<key>", is_key=True)
            yield from data_string_fields(value, _map_values(branch), loc + (key,), path + ".*")


# ---------------------------------------------------------------- specs and cases


def merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: merge(base[k], v) if k in base else v for k, v in extra.items()}}
    if isinstance(base, list) and isinstance(extra, list):
        return [merge(b, e) for b, e in zip(base, extra, strict=False)] + base[len(extra):] + extra[len(base):]
    return extra


@cache
def example_data(name: str) -> dict:
    data = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    return merge(data, EXTRAS[name])


def with_value(data: dict, field: Field, value: str) -> dict:
    data = copy.deepcopy(data)
    *parents, last = field.loc
    container = data
    for part in parents:
        container = container[part]
    if field.is_key:
        items = list(container.items())
        container.clear()
        container.update((value if key == last else key, v) for key, v in items)
    else:
        container[last] = value
    return data


def line_of(text: str, loc: tuple) -> int:
    """The line of the key (or list item) at `loc`, read from PyYAML's own nodes."""
    node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    line = 1
    for part in loc:
        if isinstance(part, int):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            key, node = next((k, v) for k, v in node.value if k.value == part)
            line = key.start_mark.line + 1
    return line


@dataclass(frozen=True)
class Case:
    example: str
    field: Field
    mode: str  # "replace" or "append"
    nasty: str

    @property
    def value(self) -> str:
        return self.nasty if self.mode == "replace" else self.original + self.nasty

    @property
    def original(self) -> str:
        data = example_data(self.example)
        if self.field.is_key:
            return self.field.loc[-1]
        for part in self.field.loc:
            data = data[part]
        return data

    @property
    def loc(self) -> tuple:
        """Where the nasty value sits (a renamed map key is the new key)."""
        return self.field.loc[:-1] + (self.value,) if self.field.is_key else self.field.loc

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    def text(self) -> str:
        return yaml.dump(with_value(example_data(self.example), self.field, self.value),
                         Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)

    def __str__(self) -> str:
        return f"{self.example}:{format_loc(self.field.loc)}{' (key)' if self.field.is_key else ''}:{self.mode}:{self.nasty!r}"


def cases() -> list[Case]:
    """The first string of each schema field (and map key), in the first example that has one."""
    out, fields_of = [], {}
    for example in EXTRAS:
        for f in data_string_fields(example_data(example)):
            fields_of.setdefault((f.schema_path, f.is_key), (example, f))
    for example, f in fields_of.values():
        out += [Case(example, f, mode, nasty) for nasty in NASTY for mode in ("replace", "append")]
    return out


CASES = cases()


# ---------------------------------------------------------------- what a kickstart is made of


def kickstart_shape(text: str) -> tuple:
    """The commands (as pykickstart reads them), the section headers and the package list."""
    handler = makeVersion("RHEL9")
    KickstartParser(handler).readKickstartFromString(text)
    commands = {name: str(command) for name, command in handler.commands.items() if command.seen}
    sections = [(s.type, s.interp, s.inChroot, s.errorOnFail, s.logfile) for s in handler.scripts]
    headers = [line for line in text.splitlines() if line.lstrip().startswith("%")]
    return commands, sections, headers, str(handler.packages)


def post_body(text: str) -> str:
    handler = makeVersion("RHEL9")
    KickstartParser(handler).readKickstartFromString(text)
    (script,) = handler.scripts
    return script.script


BLOB = re.compile(r"^(?:builder_put .* |printf '%s' )([A-Za-z0-9+/]+={0,2})(?: \| base64 -d.*)?$", re.M)


def blobs(script: str) -> list[bytes]:
    return [base64.b64decode(blob, validate=True) for blob in BLOB.findall(script)]


HEREDOC = re.compile(r"^builder_put [^\n]* <<'(BUILDER_EOF\S*)'\n(.*?)^\1$", re.M | re.S)


def heredoc_bodies(script: str) -> list[str]:
    return [body for _, body in HEREDOC.findall(script)]


@cache
def unmodified_kickstart(example: str) -> str:
    spec, _, _ = load_spec_text(yaml.safe_dump(example_data(example), sort_keys=False))
    return render_kickstart(spec, spec_sha256(spec))


@cache
def unmodified_shape(example: str) -> tuple:
    return kickstart_shape(unmodified_kickstart(example))


# ---------------------------------------------------------------- the tests


def test_every_string_field_is_exercised():
    """A new string field in the schema must get a sample in EXTRAS (or a reason in NOT_FOR_EL)."""
    exercised = {case.field.schema_path for case in CASES}
    assert set(STRING_FIELDS) - exercised - set(NOT_FOR_EL) == set()
    assert set(NOT_FOR_EL) <= set(STRING_FIELDS) - exercised
    assert FREE_TEXT, "the schema marks no field x-free-text: the free-text branch would never run"


@pytest.mark.parametrize("example", EXTRAS)
def test_examples_with_extras_are_valid_el_kickstarts(example):
    text = unmodified_kickstart(example)
    assert validate_kickstart(text, "RHEL9") == []
    assert heredoc_bodies(text), "generated bodies are heredocs"
    data = example_data(example)
    if data.get("files") or data.get("post_commands") or data.get("rc_local", {}).get("commands"):
        assert BLOB.search(text), "free text is base64"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_no_value_adds_a_kickstart_section_or_command(case: Case):
    text = case.text()
    try:
        spec, _, _ = load_spec_text(text, "bad.yaml")
    except SpecError as exc:
        reported = {(p.line, p.path) for p in exc.problems}
        assert (line_of(text, case.loc), case.path) in reported, str(exc)
        return
    assert case.field.schema_path in FREE_TEXT, f"{case.path} accepted {case.value!r} but is not free text"

    kickstart = render_kickstart(spec, spec_sha256(spec))
    assert validate_kickstart(kickstart, "RHEL9") == []
    assert kickstart_shape(kickstart) == unmodified_shape(case.example)
    body = post_body(kickstart)
    assert body == render_script(Baseline(spec))  # the whole baseline stayed inside the one %post
    assert any(case.value.encode() in blob for blob in blobs(body))
    # Free text never reaches a heredoc, and no heredoc line can start a kickstart section.
    for text in heredoc_bodies(body):
        assert case.value not in text
        assert not any(line.lstrip().startswith("%") for line in text.splitlines())


def cli_sample() -> list[Case]:
    """One refused case per nasty value, each on a different field: the CLI part is slow."""
    refused = [c for c in CASES if c.field.schema_path not in FREE_TEXT and c.mode == "append"]
    fields = list(dict.fromkeys(c.field for c in refused))
    step = len(fields) // len(NASTY)
    picked = []
    for i, nasty in enumerate(NASTY):
        field = fields[i * step]
        picked.append(next(c for c in refused if c.field == field and c.nasty == nasty))
    return picked


@pytest.mark.parametrize("case", cli_sample(), ids=str)
def test_build_refuses_and_writes_nothing(case: Case, tmp_path):
    spec = tmp_path / "spec.yaml"
    text = case.text()
    spec.write_text(text)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "builder.cli", "build", str(spec), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{spec}:{line_of(text, case.loc)}: {case.path}: " in result.stderr
    assert not out.exists()
