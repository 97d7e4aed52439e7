"""The artifacts rendered in memory, one file each: ks.cfg (kickstart) and prepull.sh (prepull)."""
from __future__ import annotations

from pathlib import Path

from .manifest import ArtifactRecord, record_for
from .output import write_atomic

KICKSTART = "ks.cfg"
PREPULL = "prepull.sh"


def kickstart_bytes(item) -> bytes:
    from .install.kickstart import render_kickstart

    return render_kickstart(item.spec, item.sha256).encode()


def prepull_bytes(item) -> bytes:
    from .baseline import Baseline
    from .baseline.script import render_prepull_installer

    return render_prepull_installer(Baseline(item.spec)).encode()


def plan_kickstart(item, directory: Path, options) -> list[str]:
    data = kickstart_bytes(item)  # rendered and validated now: a dry run fails where the build would
    return [f"kickstart: would write {directory / KICKSTART} ({len(data)} bytes, "
            f"valid for pykickstart {item.spec.target.info.kickstart_version})"]


def build_kickstart(item, directory: Path, options) -> list[ArtifactRecord]:
    return [write_file("kickstart", directory, KICKSTART, kickstart_bytes(item))]


def plan_prepull(item, directory: Path, options) -> list[str]:
    data = prepull_bytes(item)
    prepull = item.spec.container.prepull
    sites = (f", through the mirrors of the site it is given ({', '.join(prepull.mirrors)}; default "
             f"{prepull.site or 'none: the origin'})") if prepull.mirrors else ""
    return [f"prepull: would write {directory / PREPULL} ({len(data)} bytes; pulls {prepull.image}{sites})"]


def build_prepull(item, directory: Path, options) -> list[ArtifactRecord]:
    return [write_file("prepull", directory, PREPULL, prepull_bytes(item))]


def write_file(kind: str, directory: Path, name: str, data: bytes) -> ArtifactRecord:
    write_atomic(directory / name, data)
    return record_for(kind, directory, directory / name)
