"""Which baseline items have no meaning in an artifact, and why: one table for the script and the checks."""
from __future__ import annotations

from ..spec import Spec

# Contexts a baseline is rendered or checked for: a full system (a kickstart install, a
# qcow2, an unpacked root filesystem) or a container image.
CONTEXTS = ("rootfs", "container", "qcow2")

# A container shares the host's kernel, clock, packet filter and SELinux policy, runs its
# command instead of an init system, and gets its hostname, hosts file and limits from its runtime.
CONTAINER_NA = {
    "hostname": "a container's hostname is set by its runtime (docker run --hostname)",
    "hosts": "a container's /etc/hosts is written by its runtime (docker run --add-host)",
    "network": "a container's network is set up by its runtime",
    "keyboard": "a container has no console",
    "time": "a container takes its clock from the host",
    "sshd": "a container is reached through its runtime, not sshd (set container.sshd: true to keep sshd)",
    "selinux": "a container runs under the host's SELinux policy",
    "firewall": "a container's ports are published by its runtime, not by firewalld",
    "kernel-args": "a container boots no kernel of its own",
    "limits": "a container's limits are set by its runtime (docker run --ulimit nofile=N)",
    "sysctls": "a container shares the host's kernel; set sysctls through the container runtime",
    "rc-local": "a container runs no init system, so rc.local never runs",
    "services": "a container runs its command, not systemd: no unit is enabled or started",
    "prepull": "a container does not pull images at boot; the node that runs it does",
}

# Packages the baseline installs only for an item; left out where the item does not apply
# (unless the spec names them in packages.install).
PACKAGE_ITEMS = {
    "chrony": "time",
    "firewalld": "firewall",
    "openssh-server": "sshd",
    "policycoreutils-python-utils": "selinux",
}


def not_applicable_items(spec: Spec, context: str) -> dict[str, str]:
    """item -> why it does not apply to `context` (empty for a full system)."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}")
    if context != "container":
        return {}
    na = dict(CONTAINER_NA)
    if spec.container is not None and spec.container.sshd:
        del na["sshd"]
    return na
