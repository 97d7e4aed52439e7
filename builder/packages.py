"""Package names: the classic ops toolset and what each name is called on a target (the family module's tables)."""
from __future__ import annotations

from .families import Missing
from .targets import TargetInfo

__all__ = ["TOOLSET", "Missing", "missing_names", "toolset", "toolset_gaps"]

# The CentOS 7 era toolset, by its classic names. Time sync is chrony now (ntpdate is gone).
# A name with no package on the target (toolset_gaps) is left out and reported when the spec is loaded.
TOOLSET = (
    "wget", "net-tools", "screen", "lsof", "tcpdump", "nc", "mtr", "vim", "bash-completion",
    "lrzsz", "nmap", "telnet", "tree", "openssl-devel", "ntpdate",
)


def missing_names(info: TargetInfo) -> dict[str, Missing]:
    return info.facts.missing_names(info.major)


def toolset_gaps(info: TargetInfo) -> dict[str, Missing]:
    """Classic toolset names that get no package on the target: why, and what to use instead."""
    names, missing = info.facts.toolset_names, missing_names(info)
    return {name: missing[name] for name in TOOLSET if name not in names and name in missing}


def toolset(info: TargetInfo) -> list[str]:
    names, gaps = info.facts.toolset_names, toolset_gaps(info)
    return [names.get(name, name) for name in TOOLSET if name not in gaps]
