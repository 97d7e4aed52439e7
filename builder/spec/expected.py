"""What a field expects, in words and with an example, for a value of the wrong type.

pydantic says "Input should be a valid dictionary or instance of Disk"; a user wants to read what the
field takes and how to write it. Both are derived from the model itself (the field's type, its
bounds, its default, the hint of its string check), so a new field needs nothing here. No value the
user wrote is echoed (a spec may hold secrets): examples come from the model only.
"""
from __future__ import annotations

import inspect
import re
import types
import typing
from enum import Enum
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

# pydantic's error types that say a value has the wrong type (not a wrong value of the right type).
TYPE_ERRORS = frozenset({
    "dict_type", "model_type", "model_attributes_type", "int_type", "int_parsing", "int_from_float", "bool_type",
    "bool_parsing", "string_type", "list_type", "float_type", "float_parsing", "enum", "literal_error", "iterable_type",
    "tuple_type", "set_type", "union_tag_invalid", "union_tag_not_found", "is_instance_of",
})


def expected(root: type[BaseModel], loc: tuple[str | int, ...]) -> str | None:
    """'expected ..., e.g. `key: value`' for the field at `loc` (keys and list indexes) of `root`; None if not found."""
    found = _field_at(root, loc)
    if found is None:
        return None
    annotation, info = found
    key = next((str(part) for part in reversed(loc) if isinstance(part, str)), "value")
    what, example = _describe(annotation, info, key)
    shown = f"- {example}" if isinstance(loc[-1], int) else f"{key}: {example}"
    return f"expected {what}, e.g. `{shown}`"


def _field_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[Any, FieldInfo | None] | None:
    annotation: Any = root
    info: FieldInfo | None = None
    for part in loc:
        annotation = _plain(annotation)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            if typing.get_origin(annotation) not in (list, tuple, set, frozenset) or not args:
                return None
            annotation, info = args[0], None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part)
            if info is None:
                return None
            annotation = info.annotation
        elif typing.get_origin(annotation) is dict:
            annotation, info = typing.get_args(annotation)[1], None
        else:
            return None
    return annotation, info


def _plain(annotation: Any) -> Any:
    """The type without Annotated and without `| None`; the first arm of another union."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            arms = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = arms[0]
        else:
            return annotation


def _metadata(annotation: Any, info: FieldInfo | None) -> list[object]:
    found = list(info.metadata) if info is not None else []
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = [a for a in typing.get_args(annotation) if a is not type(None)][0]
    while typing.get_origin(annotation) is typing.Annotated:
        found += typing.get_args(annotation)[1:]
        annotation = typing.get_args(annotation)[0]
    return found


def _describe(annotation: Any, info: FieldInfo | None, name: str = "text") -> tuple[str, str]:
    """(what the field `name` takes, an example value as YAML)."""
    default = info.default if info is not None and info.default not in (PydanticUndefined, None) else None
    plain = _plain(annotation)
    origin = typing.get_origin(plain)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and bool in typing.get_args(annotation):
        literals = [a for arm in typing.get_args(annotation) for a in typing.get_args(arm) if isinstance(a, str)]
        return "true, false" + "".join(f" or {v}" for v in literals), "false" if default is None else _yaml(default)
    if isinstance(plain, type) and issubclass(plain, BaseModel):
        names = list(plain.model_fields)
        required = [n for n, f in plain.model_fields.items() if f.is_required()]
        first = (required or names)[0]
        _, value = _describe(plain.model_fields[first].annotation, plain.model_fields[first], first)
        return f"a mapping (of {', '.join(names)})", f"{{{first}: {value}}}"
    if origin in (list, tuple, set, frozenset):
        item = typing.get_args(plain)[0] if typing.get_args(plain) else str
        what, value = _describe(item, None, name)
        what = re.sub(r"^an? ([^(]*?)( \(|$)", r"\1s\2", what.replace("a mapping (", "mappings (", 1), count=1)
        if default:
            return f"a list of {what}", _yaml(list(default))
        return f"a list of {what}", f"[{value}]"
    if origin is dict:
        key_what, _ = _describe(typing.get_args(plain)[0], None)
        value_what, value = _describe(typing.get_args(plain)[1], None)
        return f"a mapping of {key_what} to {value_what}", f"{{name: {value}}}"
    if origin is typing.Literal:
        values = [str(v) for v in typing.get_args(plain)]
        return f"one of {', '.join(values)}", values[0]
    if isinstance(plain, type) and issubclass(plain, Enum):
        values = [str(m.value) for m in plain]
        return f"one of {', '.join(values)}", str(default.value if isinstance(default, Enum) else values[0])
    if plain is bool:
        return "true or false", "true" if default is None else _yaml(default)
    if plain is int:
        low = high = None
        for meta in _metadata(annotation, info):
            low = getattr(meta, "ge", None) if isinstance(meta, annotated_types.Ge) else low
            high = getattr(meta, "le", None) if isinstance(meta, annotated_types.Le) else high
        bounds = f" from {low} to {high}" if low is not None and high is not None else f" of at least {low}" if low is not None else ""
        return f"a whole number{bounds}", str(default if isinstance(default, int) else low if low is not None else 1)
    if plain is float:
        return "a number", str(default if default is not None else 1.5)
    if plain is str:
        checked, hint = _string_check(annotation, info)
        like = re.search(r"like '?([^' ,]+)'?", hint or "")
        example = _yaml(default) if isinstance(default, str) and default else _yaml(like[1]) if like else f"<{checked or name}>"
        return f"{'a ' + checked if checked else 'text'}{f' ({hint})' if hint else ''}", example
    return "a value of another type", "..."


def _string_check(annotation: Any, info: FieldInfo | None) -> tuple[str | None, str | None]:
    """What a string check built by fields._matcher calls the value and its hint ('interface name', 'like eth0 or
    br10'), read from the check itself."""
    for meta in _metadata(annotation, info):
        func = getattr(meta, "func", None)
        if func is not None and func.__closure__:
            names = inspect.getclosurevars(func).nonlocals
            if "what" in names:
                return names["what"], names.get("hint") or None
    return None, None


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, str) and (value == "" or re.fullmatch(r"[0-9.]+|true|false|yes|no|on|off|null|~", value, re.I)
                                   or value[0] in "'\"{[&*!|>%@`#" or ": " in value):
        return f'"{value}"'
    return str(value)
