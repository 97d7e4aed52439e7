"""Render the baseline as ONE idempotent bash script.

The same script runs in a kickstart %post, in a diskimage-builder element and
in a container root filesystem. Running it twice changes nothing: files are
replaced only when their bytes or metadata differ, and every command is
guarded by a test of the state it would change. The steps and their order are
the item table's (items.py); how file bodies are carried is shell.py's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from shlex import quote

from . import steps
from .items import STEPS, Step
from .model import BASELINE_VERSION, Baseline
from .shell import PRELUDE
from .steps import install_packages, prepull


def step_function(step: Step) -> Callable[[Baseline], list[str]]:
    """The function of steps.py that an item record names for a step."""
    return getattr(steps, step.render)


def applicable_steps(b: Baseline) -> Iterator[tuple[str, list[str]]]:
    """(step name, shell lines) of every step that applies to the baseline's context and has work to do."""
    for item, step in STEPS:
        if item in b.not_applicable:
            continue
        lines = step_function(step)(b)
        if lines:
            yield step.name, lines


def render_script(b: Baseline) -> str:
    out = [PRELUDE.format(version=BASELINE_VERSION, target=b.spec.target.value)]
    if b.not_applicable:
        # Said here for the reader of the script; the build that chose the context prints them.
        notes = [f"# {item}: not applicable in a {b.context}: {why}" for item, why in b.not_applicable.items()]
        assert not any("\n" in note for note in notes)
        out.append("\n" + "\n".join(notes) + "\n")
    for name, lines in applicable_steps(b):
        out.append(f"\nbuilder_step {quote(name)}\n" + "\n".join(lines) + "\n")
    out.append("\nbuilder_step finished\n")
    script = "".join(out)
    assert "\x00" not in script
    return script


def render_prepull_installer(b: Baseline) -> str:
    """For a node that already runs: the engine, the pre-pull unit and its script, enabled and started."""
    if b.prepull is None:
        raise ValueError("the spec has no container.prepull")
    out = [PRELUDE.format(version=BASELINE_VERSION, target=b.spec.target.value)]
    # One engine package: the install loop runs once, as meant.
    install = install_packages(b, b.prepull_packages)
    install.insert(1, "# shellcheck disable=SC2043")
    for name, lines in (("packages", install), ("prepull", prepull(b))):
        out.append(f"\nbuilder_step {quote(name)}\n" + "\n".join(lines) + "\n")
    out.append("\nsystemctl start --no-block builder-prepull.service\n"
               "builder_step 'prepull started: journalctl -u builder-prepull.service shows its progress'\n")
    return "".join(out)
