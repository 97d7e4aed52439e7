"""The systems a spec can target: one table of targets, each pointing at its distribution in its family's module
(builder.families.el, builder.families.debian), which holds what differs between families."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .families import Distribution, DistributionFamily, Family, facts
from .families import debian as _debian
from .families import el as _el

__all__ = ["TARGETS", "Family", "Target", "TargetInfo"]


class Target(StrEnum):
    CENTOS_STREAM_8 = "centos-stream-8"
    CENTOS_STREAM_9 = "centos-stream-9"
    CENTOS_STREAM_10 = "centos-stream-10"
    ROCKY_8 = "rocky-8"
    ROCKY_9 = "rocky-9"
    ROCKY_10 = "rocky-10"
    ALMA_8 = "alma-8"
    ALMA_9 = "alma-9"
    ALMA_10 = "alma-10"
    RHEL_8 = "rhel-8"
    RHEL_9 = "rhel-9"
    RHEL_10 = "rhel-10"
    DEBIAN_12 = "debian-12"

    @property
    def info(self) -> TargetInfo:
        return TARGETS[self]


@dataclass(frozen=True)
class TargetInfo:
    distribution: Distribution
    major: int

    @property
    def distro(self) -> str:
        """The os_distro-style name (Glance's os_distro)."""
        return self.distribution.name

    @property
    def codename(self) -> str | None:
        """The release's codename, where the family names releases so (the suite of the Debian archive)."""
        return self.distribution.codename(self.major)

    @property
    def family(self) -> Family:
        return self.distribution.family

    @property
    def facts(self) -> DistributionFamily:
        """The family's module object: what the builders read instead of branching on the distribution."""
        return facts(self.family)

    @property
    def kickstart_version(self) -> str | None:
        """pykickstart's version name (RHEL8, RHEL9, RHEL10); None: no kickstart."""
        return self.facts.kickstart_version(self.major)

    @property
    def release_package(self) -> str | None:
        """The EL distribution's release package: /etc/os-release, its release files and keys, system-release."""
        return self.distribution.release_package

    @property
    def dnf_variables(self) -> dict[str, str]:
        """The dnf variables the distribution's release package defines beside $releasever and $basearch
        (/etc/dnf/vars/): a repository URL copied from its repo files may use them."""
        return self.distribution.variables(self.major)


TARGETS: dict[Target, TargetInfo] = {
    Target.CENTOS_STREAM_8: TargetInfo(_el.CENTOS, 8),
    Target.CENTOS_STREAM_9: TargetInfo(_el.CENTOS, 9),
    Target.CENTOS_STREAM_10: TargetInfo(_el.CENTOS, 10),
    Target.ROCKY_8: TargetInfo(_el.ROCKY, 8),
    Target.ROCKY_9: TargetInfo(_el.ROCKY, 9),
    Target.ROCKY_10: TargetInfo(_el.ROCKY, 10),
    Target.ALMA_8: TargetInfo(_el.ALMA, 8),
    Target.ALMA_9: TargetInfo(_el.ALMA, 9),
    Target.ALMA_10: TargetInfo(_el.ALMA, 10),
    Target.RHEL_8: TargetInfo(_el.RHEL, 8),
    Target.RHEL_9: TargetInfo(_el.RHEL, 9),
    Target.RHEL_10: TargetInfo(_el.RHEL, 10),
    Target.DEBIAN_12: TargetInfo(_debian.DEBIAN, 12),
}
