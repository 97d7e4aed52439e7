"""The time item: chrony, with the spec's `time.servers` in its configuration."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..paths import CHRONY_CONF
from ..results import Check, Result, not_applicable, same_file
from ..shell import put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "time"


def chrony_conf(b: BaselineView) -> str | None:
    if not b.spec.time.servers:
        return None
    lines = ["# Managed by builder: time sync for the server baseline"]
    lines += [f"server {server} iburst" for server in b.spec.time.servers]
    lines += [
        f"driftfile {b.paths.chrony_drift}",
        "makestep 1.0 3",
        "rtcsync",
        "logdir /var/log/chrony",
    ]
    if b.facts.baseline.chrony_confdir:
        lines.insert(1, f"confdir {b.facts.baseline.chrony_confdir}")
    return "\n".join(lines) + "\n"


def step(b: BaselineView) -> list[str]:
    conf = chrony_conf(b)
    return [put_generated(b.paths.chrony_conf, conf)] if conf else []


def check(c: Check) -> Iterator[Result]:
    conf = chrony_conf(c.baseline)
    if conf is None:
        yield not_applicable(NAME, "no time servers in the spec: the distribution's pool is kept")
    else:
        yield same_file(c, NAME, c.baseline.paths.chrony_conf, conf)


UNIT = register(Unit(
    NAME, "`time.servers`", (Step("time", step),), writes="chrony config",
    check=check, checked="file content",
    kickstart="`timesource` (EL 9+) / `timezone --ntpservers` (EL 8)",
    not_applicable=in_container("a container takes its clock from the host"),
    packages=lambda b: ("chrony",), package_order=20,
    owns=(*CHRONY_CONF.values(),),
))
