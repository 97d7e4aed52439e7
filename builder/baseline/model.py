"""Normalise a spec into the baseline for its target family.

The spec says what the user wants; the Baseline says what that means on the
target (package and unit names, file paths, implied ports and services).
Nothing here changes the spec: derived values are computed, not written back.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..families import FAMILIES, FamilyPaths
from ..packages import toolset
from ..spec import CLASSIC_NAMES_ARGS, BootProto, SELinux, Spec
from ..targets import Family, TargetInfo
from . import repos
from .items import PACKAGE_ITEMS, Item, not_applicable_items
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

# sshd settings every baseline sets, whatever the spec says: no login with an empty password, and a client
# that stops answering is dropped (one unanswered keepalive after 300 s idle: gone within 10 minutes).
# ClientAliveCountMax is 1, not 0: since OpenSSH 8.2, 0 turns the disconnection off.
SSHD_FIXED_SETTINGS = (("PermitEmptyPasswords", "no"), ("ClientAliveInterval", "300"), ("ClientAliveCountMax", "1"))
# Kernel settings every baseline sets (a spec's sysctl of the same name wins): the kernel's defaults, made
# explicit so that no package lowers them (systemd-coredump's 50-coredump.conf sets fs.suid_dumpable = 2).
SYSCTL_DEFAULTS = (("fs.suid_dumpable", "0"), ("kernel.randomize_va_space", "2"))

# A spec user's home directory, and what the baseline takes away from the login scripts at its top (.bashrc,
# .profile, ...): group write and execute, and everything for others (so 0644 becomes 0640).
HOME_MODE = "0700"
SUDOERS_DIR_MODE = "0750"
DOTFILE_MODES_TAKEN = "/g=wx,o=rwx"
DOTFILE_CHMOD = "g-wx,o-rwx"
SSHD_BLOCK_BEGIN = "# BEGIN builder"
SSHD_BLOCK_END = "# END builder"


def locale_charset(locale: str) -> str:
    """The charmap localedef compiles a locale with: UTF-8 for xx_YY.UTF-8 (also with an @modifier), else Latin-1."""
    return "UTF-8" if locale.split("@")[0].lower().endswith((".utf-8", ".utf8")) else "ISO-8859-1"


# The baseline's names per family, from the family modules (builder.families.el, .debian).
FAMILY = {family: facts.paths for family, facts in FAMILIES.items()}


def is_group(name: str) -> bool:
    """@group or @^environment (dnf comps), not a package name."""
    return name.startswith("@")


def _unit(name: str) -> str:
    return name if "." in name else f"{name}.service"


EL_NO_LANGPACK = "glibc-minimal-langpack"


def el_langpack(locale: str) -> str:
    """The one glibc langpack an EL system with `locale` needs (glibc requires one: without a choice, dnf picks any)."""
    lang = locale.split(".")[0].split("_")[0]
    return EL_NO_LANGPACK if lang in ("C", "POSIX") else f"glibc-langpack-{lang}"


@dataclass(frozen=True)
class Baseline:
    spec: Spec
    context: str = "rootfs"
    """What the baseline is rendered for: "rootfs" (a kickstart install, qcow2 or unpacked tree) or "container"."""

    @cached_property
    def not_applicable(self) -> dict[Item, str]:
        """Baseline items that have no meaning in this context -> why."""
        return not_applicable_items(self.spec, self.context)

    @property
    def info(self) -> TargetInfo:
        return self.spec.target.info

    @property
    def family(self) -> Family:
        return self.info.family

    @property
    def paths(self) -> FamilyPaths:
        return FAMILY[self.family]

    # ------------------------------------------------------------ packages
    @cached_property
    def packages(self) -> tuple[str, ...]:
        """Packages the baseline needs, in a stable order, without groups."""
        spec = self.spec
        names: list[str] = list(self.paths.required_packages)
        if spec.packages.toolset:
            names += toolset(self.info)
        if spec.firewall.enabled:
            names.append("firewalld")
        if self.family is Family.EL:
            if self.selinux_port_label:
                names.append("policycoreutils-python-utils")
            if (langpack := el_langpack(spec.locale)) != EL_NO_LANGPACK:
                names.append(langpack)
        elif self.locale_needs_generation:
            names.append("locales")
        names += self.prepull_packages
        unused = {name for name, item in PACKAGE_ITEMS.items() if item in self.not_applicable}
        names = [n for n in names if n not in unused]
        names += spec.packages.install
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
        if container is None or container.prepull is None or Item.PREPULL in self.not_applicable:
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
    def prepull_packages(self) -> list[str]:
        if self.prepull is None:
            return []
        return ["podman"] if self.prepull.engine == "podman" else ["docker.io"]

    @property
    def prepull_units(self) -> tuple[str, ...]:
        return ("docker.service", PREPULL_UNIT) if self.prepull and self.prepull.engine == "docker" else (
            (PREPULL_UNIT,) if self.prepull else ())

    @property
    def locale_needs_generation(self) -> bool:
        return self.family is Family.DEBIAN and self.spec.locale.split(".")[0] not in ("C", "POSIX")

    # ------------------------------------------------------------ security
    @property
    def selinux(self) -> SELinux | None:
        if self.family is not Family.EL:
            return None
        return self.spec.selinux or SELinux.ENFORCING

    @property
    def selinux_port_label(self) -> bool:
        """A non-22 sshd port needs ssh_port_t, or sshd cannot bind it."""
        return (self.selinux not in (None, SELinux.DISABLED) and self.spec.sshd.enabled
                and self.spec.sshd.port != 22)

    @property
    def kernel_args(self) -> tuple[str, ...]:
        args: list[str] = []
        if self.spec.network.classic_names:
            args += CLASSIC_NAMES_ARGS
        if self.selinux is SELinux.DISABLED and self.info.major >= 9:
            args.append("selinux=0")
        return tuple(args)

    @property
    def firewall_ports(self) -> tuple[str, ...]:
        ports = list(self.spec.firewall.ports)
        if self.spec.sshd.enabled and self.spec.firewall.enabled:
            ports.append(f"{self.spec.sshd.port}/tcp")
        return tuple(dict.fromkeys(ports))

    @property
    def firewall_services_removed(self) -> tuple[str, ...]:
        """Services firewalld's default zone allows that the spec does not ask for (docs/baseline.md).

        ssh: the sshd port is opened as a port, so the ssh service would only keep 22/tcp open
        after sshd moved off it; cockpit (EL's zone): nothing listens unless asked for;
        dhcpv6-client: only where an interface takes its address from DHCP (IPv6 auto).
        """
        if not self.spec.firewall.enabled:
            return ()
        net = self.spec.network
        devices = [*net.interfaces, *net.vlans, *net.bridges]
        dhcp = not devices or any(d.bootproto is BootProto.DHCP for d in devices)  # no devices: the installer's DHCP
        removed = ["ssh", "cockpit"] + ([] if dhcp else ["dhcpv6-client"])
        return tuple(s for s in removed if s not in self.spec.firewall.services)

    @property
    def sshd_settings(self) -> tuple[tuple[str, str], ...]:
        s = self.spec.sshd
        root = s.permit_root_login
        yes_no = lambda v: "yes" if v else "no"  # noqa: E731
        return (
            ("Port", str(s.port)),
            ("PermitRootLogin", root if isinstance(root, str) else yes_no(root)),
            ("UseDNS", yes_no(s.use_dns)),
            ("GSSAPIAuthentication", yes_no(s.gssapi_authentication)),
            ("PasswordAuthentication", yes_no(s.password_authentication)),
            *SSHD_FIXED_SETTINGS,
        )

    # ------------------------------------------------------------ services
    @property
    def services_enabled(self) -> tuple[str, ...]:
        units = []
        if self.spec.sshd.enabled:
            units.append(self.paths.sshd_unit)
        units.append(self.paths.chrony_unit)
        if self.spec.firewall.enabled:
            units.append("firewalld.service")
        units += [_unit(u) for u in self.spec.services.enable]
        return tuple(dict.fromkeys(units))

    @property
    def services_disabled(self) -> tuple[str, ...]:
        units = [_unit(u) for u in self.spec.services.disable]
        if not self.spec.firewall.enabled:
            units.append("firewalld.service")
        if not self.spec.sshd.enabled:
            units.append(self.paths.sshd_unit)
        return tuple(dict.fromkeys(units))

    # ------------------------------------------------------------ files
    @property
    def hosts_file(self) -> str:
        lines = ["127.0.0.1   localhost localhost.localdomain", "::1         localhost localhost.localdomain ip6-localhost ip6-loopback"]
        if self.spec.hostname and self.family is Family.DEBIAN:
            short = self.spec.hostname.split(".")[0]
            names = " ".join(dict.fromkeys([self.spec.hostname, short]))
            lines.append(f"127.0.1.1   {names}")
        if self.family is Family.DEBIAN:
            lines += ["ff02::1     ip6-allnodes", "ff02::2     ip6-allrouters"]
        for entry in self.spec.hosts:
            lines.append(f"{entry.address:<11} {' '.join(entry.names)}")
        return "\n".join(lines) + "\n"

    @property
    def chrony_conf(self) -> str | None:
        if not self.spec.time.servers:
            return None
        lines = ["# Managed by builder: time sync for the server baseline"]
        lines += [f"server {server} iburst" for server in self.spec.time.servers]
        lines += [
            f"driftfile {self.paths.chrony_drift}",
            "makestep 1.0 3",
            "rtcsync",
            "logdir /var/log/chrony",
        ]
        if self.family is Family.DEBIAN:
            lines.insert(1, "confdir /etc/chrony/conf.d")
        return "\n".join(lines) + "\n"

    @property
    def limits_file(self) -> str:
        n = self.spec.limits.nofile
        return (
            "# Managed by builder. '*' does not match root, so root is listed too.\n"
            f"*    soft nofile {n}\n*    hard nofile {n}\nroot soft nofile {n}\nroot hard nofile {n}\n"
        )

    @property
    def systemd_limits_file(self) -> str:
        return ("# Managed by builder: limits.d covers login sessions only; this covers services.\n"
                f"[Manager]\nDefaultLimitNOFILE={self.spec.limits.nofile}\n")

    @property
    def sysctls(self) -> dict[str, str]:
        """The baseline's kernel settings, then the spec's (which win over a baseline one of the same name)."""
        settings = {key: value for key, value in SYSCTL_DEFAULTS if key not in self.spec.sysctls}
        settings.update((key, str(value)) for key, value in self.spec.sysctls.items())
        return settings

    @property
    def sysctl_file(self) -> str:
        return "# Managed by builder\n" + "".join(f"{k} = {v}\n" for k, v in self.sysctls.items())

    @property
    def sshd_dropin(self) -> str:
        body = "".join(f"{k} {v}\n" for k, v in self.sshd_settings)
        return ("# Managed by builder. sshd takes the FIRST value it reads, and this file sorts\n"
                "# before the distribution's drop-ins (50-redhat.conf), so these settings win.\n" + body)

    @property
    def sshd_main_block(self) -> str:
        """The block the main sshd_config carries right after its drop-in Include: the drop-in's settings again.

        sshd reads the drop-in first and keeps the first value, so the block changes nothing for
        sshd; it is there for scanners that read only sshd_config (SSG's OVAL for Debian 12).
        """
        # Not Port: every Port line adds a listening socket, and a second one on the same port fails to bind.
        body = "".join(f"{k} {v}\n" for k, v in self.sshd_settings if k != "Port")
        return (f"{SSHD_BLOCK_BEGIN}: the settings of {SSHD_DROPIN} but Port (that file is read first,\n"
                "# through the Include above, and wins), repeated for scanners that read only this file.\n"
                f"{body}{SSHD_BLOCK_END}\n")

    @property
    def locale_file(self) -> str:
        return f"LANG={self.spec.locale}\n"

    @property
    def rc_local_body(self) -> str | None:
        if not self.spec.rc_local.commands:
            return None
        head = "#!/bin/bash\n# Managed by builder: rc.local runs once at the end of boot (rc-local.service).\n"
        if self.family is Family.EL:
            head += "touch /var/lock/subsys/local\n"
        return head + "".join(c if c.endswith("\n") else c + "\n" for c in self.spec.rc_local.commands)

    def repo_file(self, repo) -> tuple[str, str]:
        """(path, content) of the system's repository file for one spec repo (see repos.py)."""
        return repos.repo_file(repo, self.family)

    @property
    def repo_files(self) -> tuple[tuple[str, str], ...]:
        """(path, content) of every file the repos step writes: the embedded keys, then the repository files."""
        return repos.key_files(self.spec.repos, self.family) + tuple(self.repo_file(r) for r in self.spec.repos)

    def user_groups(self, user) -> tuple[str, ...]:
        """Supplementary groups of a spec user: the family's admin group first, if admin."""
        return tuple(dict.fromkeys(([self.paths.admin_group] if user.admin else []) + list(user.groups)))

    @property
    def locale_gen_entry(self) -> str | None:
        """The /etc/locale.gen line that makes the spec's locale (Debian), or None."""
        if not self.locale_needs_generation:
            return None
        return f"{self.spec.locale} {locale_charset(self.spec.locale)}"

    @property
    def encrypt_method(self) -> str | None:
        """login.defs' ENCRYPT_METHOD (chpasswd, newusers), the same as PAM's: Debian 12's PAM hashes with
        yescrypt while its login.defs says SHA512; EL's two agree (SHA512) and are left alone (None)."""
        return "YESCRYPT" if self.family is Family.DEBIAN else None

    @property
    def sudoers_files(self) -> tuple[tuple[str, str], ...]:
        return tuple(f for f in (self.sudoers_file(user) for user in self.spec.users) if f)

    def sudoers_file(self, user) -> tuple[str, str] | None:
        """(path, content) of the sudoers drop-in for a key-only admin."""
        if not (user.admin and user.sudo_nopasswd):
            return None
        return f"{SUDOERS_PREFIX}{user.name}", f"# Managed by builder\n{user.name} ALL=(ALL) NOPASSWD: ALL\n"

    # ------------------------------------------------------------ network
    @property
    def nm_keyfiles(self) -> tuple[tuple[str, str], ...]:
        """NetworkManager keyfiles (path, content) for every configured interface (EL).

        pykickstart cannot express two VLANs on one parent device (its duplicate
        check compares --device only, pykickstart#51), so the full layout is
        written as keyfiles; the kickstart's network lines cover install time.
        """
        if self.family is not Family.EL:
            return ()
        net = self.spec.network
        port_of = {port: bridge.name for bridge in net.bridges for port in bridge.ports}
        out = []
        for dev, kind in ([(e, "ethernet") for e in net.interfaces] + [(v, "vlan") for v in net.vlans]
                          + [(b, "bridge") for b in net.bridges]):
            out.append((f"{NM_KEYFILE_DIR}{dev.name}.nmconnection",
                        _keyfile(dev, kind, port_of.get(dev.name))))
        return tuple(out)


def _keyfile(dev, kind: str, master: str | None) -> str:
    import uuid

    lines = ["[connection]", f"id={dev.name}", f"uuid={uuid.uuid5(uuid.NAMESPACE_URL, 'builder:' + dev.name)}",
             f"type={kind}", f"interface-name={dev.name}", "autoconnect=true"]
    if master:
        lines += [f"master={master}", "slave-type=bridge"]
    if kind == "ethernet" and dev.mtu:
        lines += ["", "[ethernet]", f"mtu={dev.mtu}"]
    if kind == "vlan":
        lines += ["", "[vlan]", f"parent={dev.parent}", f"id={dev.id}"]
        if dev.mtu:
            lines.append(f"mtu={dev.mtu}")
    if kind == "bridge":
        lines += ["", "[bridge]", f"stp={'true' if dev.stp else 'false'}"]
    if not master:
        proto = str(dev.bootproto)
        method = {"dhcp": "auto", "static": "manual", "none": "disabled"}[proto]
        lines += ["", "[ipv4]", f"method={method}"]
        if proto == "static":
            lines.append(f"address1={dev.address}" + (f",{dev.gateway}" if dev.gateway else ""))
        if dev.nameservers:
            lines.append("dns=" + "".join(f"{ns};" for ns in dev.nameservers))
        lines += ["", "[ipv6]", f"method={'auto' if proto == 'dhcp' else 'disabled'}"]
    return "\n".join(lines) + "\n"
