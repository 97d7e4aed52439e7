"""The prepull-mirrors item: podman's registries.conf drop-in with the mirrors of the node's site
(`container.prepull.mirrors`, `.site`; a machine's own site in its kickstart)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..paths import MIRRORS_DROPIN
from ..prepull import mirrors_dropin
from ..results import Check, Result, failed, not_applicable, passed, same_file
from ..shell import put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "prepull-mirrors"


def step(b: BaselineView) -> list[str]:
    if b.prepull is None or b.prepull.engine != "podman" or not b.prepull_mirrors:
        return []  # docker: the prepull script tries the mirrors (prepull.py says why)
    return [put_generated(MIRRORS_DROPIN, mirrors_dropin(b.prepull, b.prepull_mirrors))]


def check(c: Check) -> Iterator[Result]:
    b = c.baseline
    if b.prepull is None:
        yield not_applicable(NAME, "no container.prepull in the spec")
    elif b.prepull.engine != "podman":
        yield not_applicable(NAME, f"{b.prepull.engine} pulls through the mirrors in the prepull script (checked there)")
    elif b.prepull_mirrors:
        yield same_file(c, NAME, MIRRORS_DROPIN, mirrors_dropin(b.prepull, b.prepull_mirrors))
    elif c.fs.exists(MIRRORS_DROPIN):
        yield failed(NAME, f"{MIRRORS_DROPIN} is there, and the node has no site: it should pull "
                     "straight from the origin registry")
    else:
        yield passed(NAME, "no site: no mirror drop-in, the node pulls straight from the origin registry")


UNIT = register(Unit(
    NAME, "`container.prepull.mirrors`, `.site`; `install.machines[].site`",
    (Step("prepull-mirrors", step),),
    writes="podman: `/etc/containers/registries.conf.d/50-builder-mirrors.conf`, the origin registry (`[[registry]]`) "
           "with the node's site's mirrors in order (`[[registry.mirror]]`), podman falling back to the origin; docker: "
           "none (its `registry-mirrors` serve Docker Hub only: the prepull script tries each mirror, then the origin)",
    check=check,
    checked="the drop-in's content; without a site, that there is none (docker: the prepull check reads the script)",
    not_applicable=in_container("a container does not pull images at boot; the node that runs it does"),
    owns=(MIRRORS_DROPIN,),
))
