"""The systems a spec can target, and what differs between their families."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    EL = "el"
    DEBIAN = "debian"


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
    distro: str          # os_distro-style name
    major: int
    family: Family
    codename: str | None = None

    @property
    def kickstart_version(self) -> str | None:
        """pykickstart's version name (RHEL8, RHEL9, RHEL10); None: no kickstart."""
        return f"RHEL{self.major}" if self.family is Family.EL else None

    @property
    def is_el(self) -> bool:
        return self.family is Family.EL

    @property
    def release_package(self) -> str | None:
        """The EL distribution's release package: /etc/os-release, its release files and keys, system-release."""
        return RELEASE_PACKAGES.get(self.distro)

    @property
    def dnf_variables(self) -> dict[str, str]:
        """The dnf variables the distribution's release package defines beside $releasever and $basearch
        (/etc/dnf/vars/): a repository URL copied from its repo files may use them."""
        return {"stream": f"{self.major}-stream"} if self.distro == "centos" else {}


RELEASE_PACKAGES = {"centos": "centos-stream-release", "rocky": "rocky-release", "almalinux": "almalinux-release",
                    "rhel": "redhat-release"}

TARGETS: dict[Target, TargetInfo] = {
    Target.CENTOS_STREAM_8: TargetInfo("centos", 8, Family.EL),
    Target.CENTOS_STREAM_9: TargetInfo("centos", 9, Family.EL),
    Target.CENTOS_STREAM_10: TargetInfo("centos", 10, Family.EL),
    Target.ROCKY_8: TargetInfo("rocky", 8, Family.EL),
    Target.ROCKY_9: TargetInfo("rocky", 9, Family.EL),
    Target.ROCKY_10: TargetInfo("rocky", 10, Family.EL),
    Target.ALMA_8: TargetInfo("almalinux", 8, Family.EL),
    Target.ALMA_9: TargetInfo("almalinux", 9, Family.EL),
    Target.ALMA_10: TargetInfo("almalinux", 10, Family.EL),
    Target.RHEL_8: TargetInfo("rhel", 8, Family.EL),
    Target.RHEL_9: TargetInfo("rhel", 9, Family.EL),
    Target.RHEL_10: TargetInfo("rhel", 10, Family.EL),
    Target.DEBIAN_12: TargetInfo("debian", 12, Family.DEBIAN, codename="bookworm"),
}
