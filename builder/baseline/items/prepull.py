"""The prepull item: the unit and script that pull the spec's `container.prepull` image at boot, and its engine."""
from __future__ import annotations

import stat
from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..paths import PREPULL_SCRIPT, PREPULL_UNIT, PREPULL_UNIT_FILE
from ..prepull import prepull_script, prepull_unit
from ..results import Check, Result, enabled_units, failed, mode_of, not_applicable, passed, same_file
from ..shell import put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "prepull"


def prepull_packages(b: BaselineView) -> list[str]:
    """The container engine the node pulls with."""
    if b.prepull is None:
        return []
    return ["podman"] if b.prepull.engine == "podman" else ["docker.io"]


def prepull_units(b: BaselineView) -> tuple[str, ...]:
    return ("docker.service", PREPULL_UNIT) if b.prepull and b.prepull.engine == "docker" else (
        (PREPULL_UNIT,) if b.prepull else ())


def step(b: BaselineView) -> list[str]:
    if b.prepull is None:
        return []
    return [put_generated(PREPULL_SCRIPT, prepull_script(b.prepull, b.prepull_mirrors), "0755"),
            put_generated(PREPULL_UNIT_FILE, prepull_unit(b.prepull))] + [f"builder_enable {quote(unit)}" for unit in prepull_units(b)]


def check(c: Check) -> Iterator[Result]:
    b = c.baseline
    if b.prepull is None:
        yield not_applicable(NAME, "no container.prepull in the spec")
        return
    yield same_file(c, NAME, PREPULL_SCRIPT, prepull_script(b.prepull, b.prepull_mirrors))
    yield same_file(c, NAME, PREPULL_UNIT_FILE, prepull_unit(b.prepull))
    st = c.fs.stat(PREPULL_SCRIPT)
    if st is not None and not st.st_mode & stat.S_IXUSR:
        yield failed(NAME, f"{PREPULL_SCRIPT} is not executable (mode {mode_of(st)})")
    yield (passed(NAME, f"{PREPULL_UNIT} is enabled") if PREPULL_UNIT in enabled_units(c)
           else failed(NAME, f"{PREPULL_UNIT} is not enabled: the node will not pull {b.prepull.image} at boot"))


UNIT = register(Unit(
    NAME, "`container.prepull`", (Step("prepull", step),),
    writes="`/usr/local/libexec/builder-prepull` + `builder-prepull.service` (oneshot, enabled): pulls the image "
           "with retries; `/var/lib/builder-prepull/done` or `failed`",
    check=check, checked="files, unit enabled", kickstart="(`%packages` gets podman)",
    kickstart_block="packages",
    not_applicable=in_container("a container does not pull images at boot; the node that runs it does"),
    packages=prepull_packages, package_order=80,
    owns=(PREPULL_SCRIPT, PREPULL_UNIT_FILE),
))
