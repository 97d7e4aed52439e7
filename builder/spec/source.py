"""Load YAML while remembering the line of every key and list item.

Errors name `file:line`, never the offending text itself: a spec may carry
secrets, and a YAML snippet in an error message would print them.

Input is bounded before it is parsed: a spec file is a regular file of at most
MAX_SPEC_BYTES, and YAML aliases are refused while the text is scanned, before
any node is built, so a few hundred bytes cannot expand into billions of items.
Nesting is bounded the same way (MAX_DEPTH).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from ..errors import Problem, SpecError
from .files import Refused, read_regular

MAX_SPEC_BYTES = 1 << 20
MAX_DEPTH = 64
"""Nested mappings and lists: a spec needs fewer than 10; libyaml's own bound (1000) holds only with the C loader."""
_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
ALIAS_HINT = "write the value out where it is used: YAML anchors (&name) may not be referred to (*name) in a spec"

Loc = tuple[str | int, ...]

# libyaml's parser when PyYAML was built with it: same marks, several times faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Source:
    """Parsed YAML data and where each value sits in the file."""

    file: str
    text: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_.@-]+", str(part)):
            out += ("." if out else "") + str(part)
        else:  # a user-given key with odd characters: quoted, so it cannot break the report's line
            out += f"[{json.dumps(str(part))}]"
    return out


def load_file(path: str | Path) -> Source:
    path = Path(path)
    try:
        raw = read_regular(path, MAX_SPEC_BYTES)
    except Refused as exc:
        raise SpecError([Problem(str(path), None, "", f"not read as a spec: it {exc}", hint=exc.hint)]) from None
    except OSError as exc:
        raise SpecError([Problem(str(path), None, "", f"cannot read spec: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError([Problem(str(path), line, "", "spec is not valid UTF-8")]) from None
    return load_text(text, str(path))


def load_text(text: str, file: str = "<spec>") -> Source:
    loader = _Loader(text)
    problems: list[Problem] = []
    source = Source(file=file, text=text, data=None)
    try:
        _scan(text, file)
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Problem(file, 1, "", "spec is empty")])
        source.lines[()] = node.start_mark.line + 1
        source.data = _convert(loader, node, (), source, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        if mark and _char_at(text, mark.line, mark.column) == "\t":
            raise SpecError([Problem(file, line, "", f"invalid YAML: a tab character (column {mark.column + 1}): "
                                     "YAML indents with spaces, never tabs", hint="replace the tab with spaces")]) from None
        raise SpecError([Problem(file, line, "", f"invalid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        raise SpecError([Problem(file, None, "", f"invalid YAML: {type(exc).__name__}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise SpecError(problems)
    return source


def _scan(text: str, file: str) -> None:
    """Scan the tokens (nothing is composed yet) and refuse the first alias and nesting deeper than MAX_DEPTH: an
    alias is a reference that construction expands, so nested ones multiply (10 aliases of 10 aliases of ... in
    430 bytes: 10^7 items)."""
    depth = 0
    for token in yaml.scan(text, Loader=_Loader):
        if isinstance(token, yaml.AliasToken):
            raise SpecError([Problem(file, token.start_mark.line + 1, "", "YAML aliases (*name) are not supported",
                                     hint=ALIAS_HINT)])
        depth += isinstance(token, _OPEN) - isinstance(token, _CLOSE)
        if depth > MAX_DEPTH:
            raise SpecError([Problem(file, token.start_mark.line + 1, "", f"nested deeper than {MAX_DEPTH} levels",
                                     hint="a spec's values are a few levels deep: look for an unclosed [ or {")])


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column : column + 1] if line < len(lines) else ""


def _convert(loader: SafeConstructor, node: yaml.Node, loc: Loc, source: Source, problems: list[Problem]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(source.file, line, format_path(loc), "YAML merge keys (<<) are not supported"))
                continue
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                problems.append(Problem(source.file, line, format_path(loc), "keys must be strings"))
                continue
            if key in out:
                problems.append(Problem(source.file, line, format_path(loc + (key,)), "duplicate key"))
                continue
            source.lines[loc + (key,)] = line
            out[key] = _convert(loader, value_node, loc + (key,), source, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            source.lines[loc + (index,)] = item.start_mark.line + 1
            items.append(_convert(loader, item, loc + (index,), source, problems))
        return items
    return loader.construct_object(node, deep=True)
