"""One way to fail: a collected list of problems, each tied to a spec location."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A problem found in a spec, reported as `file:line: field.path: message`."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        kind = "warning: " if self.warning else ""
        field = f"{self.path}: " if self.path else ""
        text = f"{where}: {field}{kind}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class BuilderError(Exception):
    """An error the user can act on; printed without a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text: str = self.args[0]
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class SpecError(BuilderError):
    """The spec is invalid; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


# How much builder says on stderr, set once from the command line (--quiet, --verbose): host.progress and warn read it.
VERBOSITY = {"quiet": False, "verbose": False}


def warn(message: str) -> None:
    """A warning or note about the input, on stderr; --quiet leaves it out (`builder validate` still says it)."""
    if not VERBOSITY["quiet"]:
        print(message, file=sys.stderr)


class UsageError(BuilderError):
    """Options that do not go together: nothing was done."""

    exit_code = 2


class PublishFailed(BuilderError):
    """Some targets of a publish failed; the others were published. Every publisher ends this way then, after each
    target's line and the summary (`results`: every target's, in order); exit 1. Its message, if any, sums up which
    failed and what to do (a publisher whose lines said it all has none)."""

    def __init__(self, results: Sequence[object], message: str = "", hint: str | None = None):
        super().__init__(message, hint)
        self.results = list(results)
