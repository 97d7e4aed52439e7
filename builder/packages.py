"""Package names: the classic ops toolset and what each name is called on a target."""
from __future__ import annotations

from dataclasses import dataclass

from .targets import Family, TargetInfo

# The CentOS 7 era toolset, by its classic names. Time sync is chrony now (ntpdate is gone).
# A name with no package on the target (toolset_gaps) is left out and reported when the spec is loaded.
TOOLSET = (
    "wget", "net-tools", "screen", "lsof", "tcpdump", "nc", "mtr", "vim", "bash-completion",
    "lrzsz", "nmap", "telnet", "tree", "openssl-devel", "ntpdate",
)

# classic name -> name on the family, applied to the toolset only.
_TOOLSET_NAMES: dict[Family, dict[str, str]] = {
    Family.EL: {"nc": "nmap-ncat", "vim": "vim-enhanced", "ntpdate": "chrony"},
    Family.DEBIAN: {"nc": "netcat-openbsd", "vim": "vim", "mtr": "mtr-tiny", "openssl-devel": "libssl-dev", "ntpdate": "chrony"},
}


@dataclass(frozen=True)
class Missing:
    replacement: str
    why: str


def _el_missing(major: int) -> dict[str, Missing]:
    table = {
        "ntpdate": Missing("chrony", "ntpdate is gone since EL 8; chrony does time sync (makestep covers the boot-time jump)"),
        "ntp": Missing("chrony", "ntpd is gone since EL 8"),
        "nc": Missing("nmap-ncat", "nc is provided by nmap-ncat on EL"),
        "vim": Missing("vim-enhanced", "the full vim is vim-enhanced on EL"),
        "screen": Missing("tmux", "screen was dropped in EL 8 (it is in EPEL only)"),
        "netcat": Missing("nmap-ncat", "netcat is nmap-ncat on EL"),
        "libssl-dev": Missing("openssl-devel", "that is the Debian name"),
        "mtr-tiny": Missing("mtr", "that is the Debian name"),
        "netcat-openbsd": Missing("nmap-ncat", "that is the Debian name"),
        "openssh-client": Missing("openssh-clients", "that is the Debian name"),
        "dnsutils": Missing("bind-utils", "that is the Debian name"),
        "iproute2": Missing("iproute", "that is the Debian name"),
    }
    if major >= 9:
        table["network-scripts"] = Missing("NetworkManager", "ifcfg network-scripts were removed in EL 9")
    return table


_DEBIAN_MISSING = {
    "ntpdate": Missing("chrony", "use chrony for time sync (ntpdate is only a transitional package)"),
    "vim-enhanced": Missing("vim", "that is the EL name"),
    "nmap-ncat": Missing("ncat", "that is the EL name"),
    "nc": Missing("netcat-openbsd", "nc is provided by netcat-openbsd on Debian"),
    "openssl-devel": Missing("libssl-dev", "that is the EL name"),
    "openssh-clients": Missing("openssh-client", "that is the EL name"),
    "bind-utils": Missing("dnsutils", "that is the EL name"),
    "iproute": Missing("iproute2", "that is the EL name"),
    "policycoreutils-python-utils": Missing("(none)", "SELinux is not part of the Debian baseline"),
    "yum-utils": Missing("apt-utils", "that is an EL tool"),
}


def missing_names(info: TargetInfo) -> dict[str, Missing]:
    return _el_missing(info.major) if info.family is Family.EL else _DEBIAN_MISSING


def toolset_gaps(info: TargetInfo) -> dict[str, Missing]:
    """Classic toolset names that get no package on the target: why, and what to use instead."""
    names, missing = _TOOLSET_NAMES[info.family], missing_names(info)
    return {name: missing[name] for name in TOOLSET if name not in names and name in missing}


def toolset(info: TargetInfo) -> list[str]:
    names, gaps = _TOOLSET_NAMES[info.family], toolset_gaps(info)
    return [names.get(name, name) for name in TOOLSET if name not in gaps]
