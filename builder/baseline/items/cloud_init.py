"""The cloud-init item (qcow2 only): the spec's `qcow2.cloud_init`, installed and configured by the builder-cloud-init
DIB element (ConfigDrive and OpenStack data sources), not the script."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...spec import CloudInit
from ..results import Check, Result, failed, passed
from .unit import Unit, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "cloud-init"


def check(c: Check) -> Iterator[Result]:
    root = c.fs.root
    installed = (root / "usr" / "bin" / "cloud-init").exists()
    if c.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
        sources = " ".join(p.read_text() for p in (root / "etc" / "cloud" / "cloud.cfg.d").glob("*.cfg")) if installed else ""
        yield (passed(NAME, "installed; data sources ConfigDrive and OpenStack")
               if "ConfigDrive" in sources and "OpenStack" in sources
               else failed(NAME, "cloud-init is missing or not set to the OpenStack data sources"))
    else:
        yield (failed(NAME, "cloud-init is installed but the spec says none") if installed
               else passed(NAME, "not installed (the spec says none)"))


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    if b.spec.qcow2_settings.cloud_init is CloudInit.OPENSTACK:
        status = guest.shell("cloud-init status --wait --long", timeout=300)
        ok = status.code == 0 and "ConfigDrive" in status.out
        yield (passed(NAME, "done, data source ConfigDrive (OpenStack config drive)") if ok
               else failed(NAME, " ".join(status.out.split())[:300] or f"exit {status.code}"))
    else:
        present = guest.shell("command -v cloud-init").code == 0
        yield (failed(NAME, "cloud-init is installed but the spec says none") if present
               else passed(NAME, "not installed (the spec says none)"))


UNIT = register(Unit(
    NAME, "`qcow2.cloud_init`",
    no_step="installed and configured by the builder-cloud-init DIB element, not the script",
    writes="(builder-cloud-init: ConfigDrive and OpenStack data sources)",
    check=check, checked="installed or not, data sources; booted: `cloud-init status`",
    booted=booted, contexts=("qcow2",),
))
