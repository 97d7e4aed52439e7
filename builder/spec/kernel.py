"""Kernel and installer arguments the spec decides, so builder sets them itself."""
from __future__ import annotations

from .model import Spec

CLASSIC_NAMES_ARGS = ("net.ifnames=0", "biosdevname=0")
"""network.classic_names: eth0-style device names, on the installer's and the installed system's command line."""

# Installer arguments builder sets from the spec; a user's install.kernel_args may not fight over them.
MANAGED_ARGS = ("inst.ks", "inst.repo", "inst.stage2", "inst.ks.sendmac", "ip", "vlan", "nameserver",
                *(arg.partition("=")[0] for arg in CLASSIC_NAMES_ARGS), "initrd", "BOOT_IMAGE")


def inst_repo(spec: Spec) -> str | None:
    """inst.repo: install.pxe.inst_repo, else the kickstart's install tree URL."""
    pxe = spec.install.pxe if spec.install else None
    if pxe and pxe.inst_repo:
        return pxe.inst_repo
    source = spec.kickstart_settings.install_source
    return None if source == "cdrom" else source
