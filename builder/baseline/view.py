"""The baseline as an item sees it: what every item may read (model.Baseline provides it).

A protocol, so that the items (items/), the checks' shared part (results.py) and the booted checks' guest
(booted.py) name the baseline without importing model.py, which reads the items: the imports stay one-way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..families import DistributionFamily
    from ..spec import SELinux, Spec
    from ..targets import Family, TargetInfo


class BaselineView(Protocol):
    @property
    def spec(self) -> Spec: ...

    @property
    def context(self) -> str:
        """"rootfs" (a kickstart install, qcow2 or unpacked tree) or "container"."""

    @property
    def not_applicable(self) -> dict[str, str]:
        """Item name -> why it has no meaning in this context."""

    @property
    def info(self) -> TargetInfo: ...

    @property
    def family(self) -> Family: ...

    @property
    def facts(self) -> DistributionFamily:
        """The family's module object (builder.families): its baseline rules, package and repository formats."""

    @property
    def paths(self) -> Any:
        """The family's paths and unit names (model.FamilyPaths)."""

    @property
    def packages(self) -> tuple[str, ...]: ...

    @property
    def prepull(self) -> Any:
        """The spec's container.prepull where it applies, or None."""

    @property
    def prepull_mirrors(self) -> tuple[str, ...]: ...

    @property
    def selinux(self) -> SELinux | None: ...
