"""The artifacts rendered in memory, one file each: ks.cfg (kickstart) and prepull.sh (prepull)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .manifest import ArtifactRecord, record_for
from .output import write_atomic

if TYPE_CHECKING:
    from .bootstrap.plan import Plan

KICKSTART = "ks.cfg"
PREPULL = "prepull.sh"


def kickstart_bytes(plan: Plan) -> bytes:
    from .install.kickstart import kickstart_for

    return kickstart_for(plan).encode()


def prepull_bytes(plan: Plan) -> bytes:
    from .baseline.script import render_prepull_installer

    return render_prepull_installer(plan.baseline).encode()


def plan_kickstart(plan: Plan, directory: Path, options) -> list[str]:
    data = kickstart_bytes(plan)  # rendered and validated now: a dry run fails where the build would
    return [f"kickstart: would write {directory / KICKSTART} ({len(data)} bytes, "
            f"valid for pykickstart {plan.target.kickstart_version})"]


def build_kickstart(plan: Plan, directory: Path, options) -> list[ArtifactRecord]:
    return [write_file("kickstart", directory, KICKSTART, kickstart_bytes(plan))]


def plan_prepull(plan: Plan, directory: Path, options) -> list[str]:
    data = prepull_bytes(plan)
    assert plan.spec.container is not None and plan.spec.container.prepull is not None  # the prepull kind's refusal
    prepull = plan.spec.container.prepull
    sites = (f", through the mirrors of the site it is given ({', '.join(prepull.mirrors)}; default "
             f"{prepull.site or 'none: the origin'})") if prepull.mirrors else ""
    return [f"prepull: would write {directory / PREPULL} ({len(data)} bytes; pulls {prepull.image}{sites})"]


def build_prepull(plan: Plan, directory: Path, options) -> list[ArtifactRecord]:
    return [write_file("prepull", directory, PREPULL, prepull_bytes(plan))]


def write_file(kind: str, directory: Path, name: str, data: bytes) -> ArtifactRecord:
    write_atomic(directory / name, data)
    return record_for(kind, directory, directory / name)
