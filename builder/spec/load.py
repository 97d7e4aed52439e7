"""Loading a spec: YAML with line numbers, structure, then cross-field checks.

`load_spec()` is the entry point for one file, `load_all()` for several. Every
problem is reported at once as `file:line: field.path: message`, and no value is
ever echoed (a spec may hold secrets).
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import Problem, SpecError, warn
from .checks import check_spec
from .digest import spec_sha256
from .expected import TYPE_ERRORS, expected
from .fields import targets_hint
from .mirrors import ENV as MIRRORS_ENV
from .mirrors import overrides_from_env, rewrite_spec_data
from .model import PLAINTEXT_HINT, SPEC_VERSION, Spec
from .source import Loc, Source, format_path, load_file, load_text


@dataclass(frozen=True)
class LoadedSpec:
    """A spec file loaded and checked: where it came from, the spec, and its warnings."""

    path: Path
    spec: Spec
    warnings: list[Problem]
    source: Source | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def sha256(self) -> str:
        return spec_sha256(self.spec)

    def where(self, path: str) -> str:
        """`file:line: field.path` of a spec field (the line of the nearest key the file has), as problems are reported."""
        if self.source is None:
            return f"{self.path}: {path}"
        return f"{self.path}:{_locate(self.source, Problem('', None, path, '')).line}: {path}"


def load_all(paths: list[str]) -> list[LoadedSpec]:
    """Load every spec, collecting every problem of every file before failing."""
    loaded, problems = [], []
    for path in paths:
        try:
            spec, _source, warnings = load_spec(path)
        except SpecError as exc:
            problems += exc.problems
            continue
        loaded.append(LoadedSpec(Path(path), spec, warnings, _source))
    problems += _shared_names(loaded)
    if problems:
        raise SpecError(problems)
    return loaded


def _shared_names(loaded: list[LoadedSpec]) -> list[Problem]:
    """Specs given together write to OUT/<name>/ each: two of one name would write into one directory."""
    first: dict[str, LoadedSpec] = {}
    problems = []
    for item in loaded:
        if item.spec.name in first:
            line = item.source.line_of(("name",)) if item.source else None
            problems.append(Problem(str(item.path), line, "name", f"{item.spec.name} is also the name of "
                                    f"{first[item.spec.name].path}", "each spec writes to OUT/<name>/: give the specs "
                                    "different names"))
        first.setdefault(item.spec.name, item)
    return problems


def load_spec(path: str | Path) -> tuple[Spec, Source, list[Problem]]:
    """Parse and check a spec file. Returns (spec, source, warnings); raises SpecError."""
    return spec_from_source(load_file(path))


def load_spec_text(text: str, file: str = "<spec>") -> tuple[Spec, Source, list[Problem]]:
    return spec_from_source(load_text(text, file))


def spec_from_source(source: Source) -> tuple[Spec, Source, list[Problem]]:
    if not isinstance(source.data, dict):
        raise SpecError([Problem(source.file, 1, "", "a spec is a YAML mapping (key: value)")])
    version = source.data.get("version")
    if version != SPEC_VERSION:
        line = source.line_of(("version",))
        msg = "missing" if version is None else f"unsupported spec version (this builder reads version {SPEC_VERSION})"
        raise SpecError([Problem(source.file, line, "version", msg, hint=f"start the spec with `version: {SPEC_VERSION}`")])
    for path, old, new in rewrite_spec_data(source.data, overrides_from_env()):
        warn(f"{source.file}: {path}: {old} -> {new} ({MIRRORS_ENV})")
    try:
        spec = Spec.model_validate(source.data, context=_context(source))
    except ValidationError as exc:
        errors = [_problem_from_pydantic(source, err) for err in exc.errors(include_input=False)]
        broken = {str(err["loc"][0]) for err in exc.errors(include_input=False) if err["loc"]}
        partial = _without_sections(source.data, broken, _context(source))
        if partial is not None:
            errors += [_locate(source, p) for p in check_spec(partial, broken) if not p.warning]
        raise SpecError(errors) from None
    problems = [_locate(source, p) for p in check_spec(spec)]
    if any(not p.warning for p in problems):
        raise SpecError([p for p in problems if not p.warning])
    return spec, source, [p for p in problems if p.warning]


def _context(source: Source) -> dict[str, Path]:
    """What validation reads besides the data: the directory key files are relative to."""
    return {"spec_dir": Path(source.file).parent}


def _without_sections(data: dict[str, Any], broken: set[str], context: dict[str, Path]) -> Spec | None:
    """The spec with its broken top-level sections left at their defaults, for the checks that do not read them."""
    partial = {key: value for key, value in data.items() if key not in broken}
    partial.setdefault("name", "partial")
    partial.setdefault("target", "centos-stream-9")  # a broken target: the checks that read it are skipped
    try:
        return Spec.model_validate(partial, context=context)
    except ValidationError:
        return None


def _locate(source: Source, problem: Problem) -> Problem:
    loc = tuple(int(p) if p.isdigit() else p for p in _split_path(problem.path))
    return Problem(source.file, source.line_of(loc), problem.path, problem.message, problem.hint, problem.warning)


def _split_path(path: str) -> list[str]:
    return [part for part in path.replace("[", ".").replace("]", "").split(".") if part]


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def _problem_from_pydantic(source: Source, err: ErrorDetails) -> Problem:
    # Keep list indexes, keys the user wrote and field names; drop pydantic's
    # union branch tags ('str', 'function-after[...]', '[key]').
    loc: Loc = ()
    for part in err["loc"]:
        if isinstance(part, int) or part in _KNOWN_KEYS or loc + (part,) in source.lines:
            loc += (part,)
    message = _MESSAGES.get(err["type"], err["msg"]).splitlines()[0]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if err["type"] in TYPE_ERRORS:  # pydantic's words name its types ("instance of Disk"): say what the field takes
        message = expected(Spec, loc) or "a value of the wrong type"
    hint = _unknown_key_hint(loc) if err["type"] == "extra_forbidden" else err.get("ctx", {}).get("hint")
    if err["type"] == "missing" and loc == ("target",):
        hint = f"the system to build, like target: rocky-9; {targets_hint()}"
    return Problem(source.file, source.line_of(loc), format_path(loc), message, hint)


def _all_field_names(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for sub in _models_in(field.annotation):
            names |= _all_field_names(sub, seen)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


_KNOWN_KEYS = _all_field_names(Spec)


def _unknown_key_hint(loc: Loc) -> str | None:
    key = loc[-1] if loc else ""
    if key == "password":
        return PLAINTEXT_HINT
    close = difflib.get_close_matches(str(key), sorted(_KNOWN_KEYS), n=1)
    return f"did you mean `{close[0]}`?" if close else None
