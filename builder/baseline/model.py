"""The baseline of one spec: a thin shell over the items (items/), with what several items share.

The spec says what the user wants; the Baseline says what that means on the target family
(`paths`), in its context (`not_applicable`), and what more than one item reads: the package
list, the SELinux mode, the pre-pull settings. Each item's own facts and file bodies live in
its module; the properties at the end delegate to them for callers outside the baseline.
Nothing here changes the spec: derived values are computed, not written back.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..families import FAMILIES, DistributionFamily, FamilyPaths
from ..spec import SELinux, Spec
from ..targets import Family, TargetInfo
from . import items
from .items.locale import EL_NO_LANGPACK, el_langpack, locale_charset  # noqa: F401 - re-exported (container/, bootstrap/)
from .items.unit import item_packages, not_applicable_items
from .paths import (  # noqa: F401 - re-exported: the baseline's paths, as model.X
    CHRONY_CONF,
    LIMITS_FILE,
    LOCALE_CONF,
    MIRRORS_DROPIN,
    NM_KEYFILE_DIR,
    PREPULL_SCRIPT,
    PREPULL_UNIT,
    PREPULL_UNIT_FILE,
    RC_LOCAL,
    SSHD_DROPIN,
    SUDOERS_PREFIX,
    SYSCTL_FILE,
    SYSTEMD_LIMITS_FILE,
    USER_LIMITS_FILE,
)

# Bump when the rendered script or the checks change meaning.
BASELINE_VERSION = 2


# The baseline's names per family, from the family modules (builder.families.el, .debian).
FAMILY = {family: facts.paths for family, facts in FAMILIES.items()}


def is_group(name: str) -> bool:
    """@group or @^environment (dnf comps), not a package name."""
    return name.startswith("@")


@dataclass(frozen=True)
class Baseline:
    spec: Spec
    context: str = "rootfs"
    """What the baseline is rendered for: "rootfs" (a kickstart install, qcow2 or unpacked tree) or "container"."""

    @cached_property
    def not_applicable(self) -> dict[str, str]:
        """Baseline items that have no meaning in this context -> why."""
        return not_applicable_items(self.spec, self.context)

    @property
    def info(self) -> TargetInfo:
        return self.spec.target.info

    @property
    def family(self) -> Family:
        return self.info.family

    @property
    def facts(self) -> DistributionFamily:
        return self.info.facts

    @property
    def paths(self) -> FamilyPaths:
        return FAMILY[self.family]

    @cached_property
    def packages(self) -> tuple[str, ...]:
        """Packages the baseline needs, in a stable order, without groups: each applicable item's (items/), then the
        spec's own list."""
        spec = self.spec
        names = [*item_packages(self), *spec.packages.install]
        return tuple(dict.fromkeys(n for n in names if not is_group(n) and n not in spec.packages.exclude))

    @property
    def groups(self) -> tuple[str, ...]:
        """The spec's dnf comps groups (@ID) and environment (@^ID), in its order: the kickstart's %packages and the
        bootstrap's dnf install take them as they are (EL: the spec's checks refuse them for Debian)."""
        return tuple(dict.fromkeys(n for n in self.spec.packages.install if is_group(n) and n not in self.spec.packages.exclude))

    @property
    def environment(self) -> str | None:
        """The spec's @^environment, if it names one (at most one: the spec's checks)."""
        return next((g for g in self.groups if g.startswith("@^")), None)

    @property
    def prepull(self):
        """The spec's pre-pull settings where they apply (a node, not a container image), or None."""
        container = self.spec.container
        if container is None or container.prepull is None or items.prepull.NAME in self.not_applicable:
            return None
        return container.prepull

    @property
    def prepull_mirrors(self) -> tuple[str, ...]:
        """The mirrors of the node's site, in order (container.prepull.site; a machine's own site in its kickstart).

        None (no site): the node pulls straight from the origin registry."""
        if self.prepull is None or self.prepull.site is None:
            return ()
        return tuple(self.prepull.mirrors.get(self.prepull.site, ()))

    @property
    def selinux(self) -> SELinux | None:
        """The SELinux mode (EL; None elsewhere): the selinux and kernel-args items read it."""
        if not self.facts.baseline.selinux:
            return None
        return self.spec.selinux or SELinux.ENFORCING

    # Item facts read outside the baseline (the kickstart's template, the qcow2, the container, the bootstrap, tests):
    # each is its item module's function.
    prepull_packages = property(items.prepull.prepull_packages)
    kernel_args = property(items.kernel_args.kernel_args)
    selinux_port_label = property(items.selinux.port_label)
    firewall_ports = property(items.firewall.firewall_ports)
    firewall_services_removed = property(items.firewall.firewall_services_removed)
    sshd_settings = property(items.sshd.sshd_settings)
    sshd_dropin = property(items.sshd.sshd_dropin)
    sshd_main_block = property(items.sshd.sshd_main_block)
    services_enabled = property(items.services.services_enabled)
    hosts_file = property(items.hostname.hosts_file)
    chrony_conf = property(items.time.chrony_conf)
    limits_file = property(items.limits.limits_file)
    systemd_limits_file = property(items.limits.systemd_limits_file)
    sysctls = property(items.sysctls.sysctls)
    sysctl_file = property(items.sysctls.sysctl_file)
    locale_file = property(items.locale.locale_file)
    rc_local_body = property(items.rc_local.rc_local_body)
    nm_keyfiles = property(items.network.nm_keyfiles)
    repo_files = property(items.repos.repo_files)
    encrypt_method = property(items.users.encrypt_method)

    def repo_file(self, repo) -> tuple[str, str]:
        return items.repos.repo_file(self, repo)

    def user_groups(self, user) -> tuple[str, ...]:
        return items.users.user_groups(self, user)

    def sudoers_file(self, user) -> tuple[str, str] | None:
        return items.users.sudoers_file(self, user)
