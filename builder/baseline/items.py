"""The baseline items: ONE record per item, and every table about items derived from it.

A record says what the script does for its item (its steps, in rendering order), how
the item is checked offline on a file system and in a booted guest, which kickstart
command (and template block) owns it at install time, where it does not apply and why,
and which packages only it needs. The script's steps (script.py), the offline checks
(verify.py), the booted checks (booted.py), not_applicable_items and PACKAGE_ITEMS (model.py),
and the item table in docs/baseline.md are read from ITEMS; the order of ITEMS is the order the
script runs and the checks report. A record names its functions (resolved by those modules, which
import this one): the model reads this table, and the steps and checks take the model.

Adding an item: a name in names.Item, a step function in steps.py, a check in
file_checks.py (or verify_system.py), and one Record below (tests/test_items.py
requires a step and a check, or a reason for each one missing).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from . import paths, repos
from .names import Item

if TYPE_CHECKING:
    from ..spec import Spec

# Contexts a baseline is rendered or checked for: a full system (a kickstart install, a
# unpacked root filesystem), a qcow2 image, or a container image.
CONTEXTS = ("rootfs", "container", "qcow2")


@dataclass(frozen=True)
class Step:
    name: str
    """What `builder_step` prints (kept as it always was: the script's log is read by people and tests)."""
    render: str
    """The function in steps.py that renders its shell lines, f(Baseline) -> list[str]."""


@dataclass(frozen=True)
class Record:
    item: Item
    spec_field: str
    """The spec field(s) the item comes from, for the docs."""
    steps: tuple[Step, ...] = ()
    no_step: str = ""
    """Why the script has no step of its own for the item (required when `steps` is empty)."""
    writes: str = ""
    """What the steps write or run, for the docs."""
    check: str = ""
    """The offline check, on a file system (verify --rootfs, --image, --qcow2): "module.function" in this package
    (file_checks, verify_system or sealed), f(Check) -> Iterable[Result]."""
    no_check: str = ""
    checked: str = ""
    """What the check reads, for the docs."""
    booted: str = ""
    """The check in the booted qcow2 guest, if any: a function in booted.py, f(Baseline, Guest) -> Iterable[Result]."""
    kickstart: str = ""
    """The kickstart command(s) that own the item at install time (EL), or "" when only %post does it."""
    kickstart_block: str = ""
    """The block of kickstarts/base.ks.j2 that renders those commands (default: the item's name, '-' as '_')."""
    not_applicable: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Context -> why the item has no meaning there: the script skips it and the checks report n/a."""
    kept_by: str = ""
    """A spec setting (a dotted path, like container.sshd) that, when true, keeps the item where it would not apply."""
    packages: tuple[str, ...] = ()
    """Packages the baseline installs only for this item: left out where it does not apply."""
    contexts: tuple[str, ...] = CONTEXTS
    """Where the item exists at all (reported, n/a included); an image's seal exists only in a qcow2."""
    owns: tuple[str, ...] = ()
    """The paths its steps write or edit, on any family: a path ending in '/' owns the directory's files, one ending
    in '-' every file named so. A spec's files[] may not write one (OWNED_PATHS, owner_of)."""
    owned_hint: str = ""
    """What to do instead of a files[] entry at one of those paths (default: use the item's spec field)."""


    @property
    def template_block(self) -> str | None:
        """The kickstart template block of the item, or None when the kickstart has no command for it."""
        if not self.kickstart:
            return None
        return self.kickstart_block or self.item.value.replace("-", "_")


def _in_container(why: str) -> MappingProxyType[str, str]:
    return MappingProxyType({"container": why})


ITEMS: tuple[Record, ...] = (
    Record(
        Item.REPOS, "`repos`", (Step("repos", "repos"),),
        writes="`/etc/yum.repos.d/builder-NAME.repo` (repo id `builder-NAME`, `gpgcheck`, `gpgkey`) or "
               "`/etc/apt/sources.list.d/builder-NAME.sources` (`Signed-By`), an embedded key as "
               "`/etc/pki/rpm-gpg/RPM-GPG-KEY-builder-NAME` or `/etc/apt/keyrings/builder-NAME.asc`; every other "
               "definition disabled: `enabled=0` in each section of the other repo files (and of `dnf.conf` but `[main]`), `/etc/apt/sources.list` "
               "a comment, other APT sources renamed `*.disabled`",
        check="file_checks.check_repos",
        checked="file content; the enabled repositories (dnf's repo files and `dnf.conf`; APT's `sources.list`, "
                "`*.list`, `*.sources`) are the spec's, each defined once, each with its key",
        kickstart="`url`, `repo --name=builder-NAME`",
        owns=(*(f"{d}/" for d in repos.DNF_REPO_DIRS), repos.DNF_CONF, repos.DEBIAN_SOURCES, f"{repos.DEBIAN_SOURCES_DIR}/",
              f"{repos.EL_KEY_DIR}/RPM-GPG-KEY-{repos.REPO_ID_PREFIX}", f"{repos.DEBIAN_KEY_DIR}/{repos.REPO_ID_PREFIX}"),
        owned_hint="add the repository to repos instead: the system's repositories are the spec's repos, and the "
                   "baseline disables every other",
    ),
    Record(
        Item.PACKAGES, "`packages`", (Step("packages", "packages"),),
        writes="installs what is missing (no-op after `%packages`); the spec's `@group`s and `@^environment` are "
               "installed by `%packages` and by the image bootstrap's `dnf install`, from the mirror's comps data",
        check="file_checks.check_packages", checked="rpm db / dpkg status (packages; groups are not checked)",
        kickstart="`%packages` `@^minimal-environment` (or the spec's `@^environment`), the spec's `@group`s, list, `-excluded`",
    ),
    Record(
        Item.HOSTNAME, "`hostname`", (Step("hostname", "hostname"),),
        writes="`/etc/hostname` (and `/etc/hosts`, the hosts item)",
        check="file_checks.check_hostname", checked="file content", kickstart="`network --hostname`",
        kickstart_block="network",
        not_applicable=_in_container("a container's hostname is set by its runtime (docker run --hostname)"),
        owns=("/etc/hostname",),
    ),
    Record(
        Item.HOSTS, "`hosts`", no_step="written by the hostname step: /etc/hosts names the host",
        writes="`/etc/hosts`", check="file_checks.check_hosts", checked="file content",
        not_applicable=_in_container("a container's /etc/hosts is written by its runtime (docker run --add-host)"),
        owns=("/etc/hosts",),
    ),
    Record(
        Item.NETWORK, "`network`", (Step("network", "network"),),
        writes="NetworkManager keyfiles for every interface, VLAN and bridge (EL)",
        check="file_checks.check_network", checked="file content; booted: eth0 and its address",
        booted="booted_network", kickstart="`network` line per ethernet device",
        not_applicable=_in_container("a container's network is set up by its runtime"),
        owns=(paths.NM_KEYFILE_DIR,),
    ),
    Record(
        Item.LOCALE, "`locale`", (Step("locale", "locale"),),
        writes="`/etc/locale.conf` or `/etc/default/locale` (+ `locale-gen`); `/etc/vconsole.conf` (the keyboard item)",
        check="file_checks.check_locale", checked="file content, generated locale", kickstart="`lang`",
        owns=(*paths.LOCALE_CONF.values(), "/etc/locale.gen"),
    ),
    Record(
        Item.TIMEZONE, "`timezone`", (Step("timezone", "timezone"),),
        writes="`/etc/localtime` (+ `/etc/timezone` on Debian)",
        check="file_checks.check_timezone", checked="link target", kickstart="`timezone --utc`",
        owns=("/etc/localtime", "/etc/timezone"),
    ),
    Record(
        Item.KEYBOARD, "`keyboard`", no_step="written by the locale step (/etc/vconsole.conf, EL), beside the locale",
        writes="`/etc/vconsole.conf` (EL)", check="file_checks.check_keyboard", checked="`KEYMAP`",
        kickstart="`keyboard`", not_applicable=_in_container("a container has no console"),
        owns=("/etc/vconsole.conf",),
    ),
    Record(
        Item.TIME, "`time.servers`", (Step("time", "time_sync"),), writes="chrony config",
        check="file_checks.check_time", checked="file content",
        kickstart="`timesource` (EL 9+) / `timezone --ntpservers` (EL 8)",
        not_applicable=_in_container("a container takes its clock from the host"), packages=("chrony",),
        owns=(*paths.CHRONY_CONF.values(),),
    ),
    Record(
        Item.USERS, "`users`", (Step("users", "users"),),
        writes="`useradd`/`usermod` guarded, `authorized_keys`, sudoers drop-in for key-only admins "
               "(`/etc/sudoers.d` 0750); each home 0700, its dotfiles without group write or other access; "
               "login.defs `ENCRYPT_METHOD` as PAM's (Debian: `YESCRYPT`)",
        check="verify_system.check_users", checked="passwd, group, shadow, keys, home and dotfile modes, login.defs",
        kickstart="`user --iscrypted`, `sshkey`", kickstart_block="accounts",
        owns=(paths.SUDOERS_PREFIX, "/etc/login.defs"),
    ),
    Record(
        Item.ROOT, "`root`", (Step("root", "root"), Step("root ssh keys", "root_keys")),
        writes="root locked or its hash set, `/root/.ssh/authorized_keys`",
        check="verify_system.check_root", checked="shadow, keys and modes", kickstart="`rootpw --lock`, `sshkey`",
        kickstart_block="accounts",
        owns=("/root/.ssh/authorized_keys",),
    ),
    Record(
        Item.SSHD, "`sshd`", (Step("sshd", "sshd"),),
        writes="`/etc/ssh/sshd_config.d/10-builder.conf` (sorts before `50-redhat.conf`: first value wins), "
               "with `PermitEmptyPasswords no`, `ClientAliveInterval 300`, `ClientAliveCountMax 1` always; "
               "`sshd_config` 0600 repeats them but Port after its Include (for scanners that read only it)",
        check="verify_system.check_sshd",
        checked="effective config, Includes followed; `sshd_config` itself and its mode; "
                "booted: `sshd -T`, port, banner, root refused",
        booted="booted_sshd",
        not_applicable=_in_container("a container is reached through its runtime, not sshd "
                                     "(set container.sshd: true to keep sshd)"),
        kept_by="container.sshd", packages=("openssh-server",),
        owns=(paths.SSHD_CONFIG, paths.SSHD_DROPIN.rsplit("/", 1)[0] + "/"),
    ),
    Record(
        Item.SELINUX, "`selinux`", (Step("selinux", "selinux"),),
        writes="`/etc/selinux/config`; `semanage port -a -t ssh_port_t` for a non-22 port",
        check="verify_system.check_selinux", checked="config, `ports.local`", kickstart="`selinux --MODE`",
        not_applicable=_in_container("a container runs under the host's SELinux policy"),
        packages=("policycoreutils-python-utils",),
        owns=("/etc/selinux/config",),
    ),
    Record(
        Item.FIREWALL, "`firewall`", (Step("firewall", "firewall"),),
        writes="`firewall-offline-cmd --add-port`, `--add-service`, `--remove-service` (guarded by `--query-*`; "
               "the sshd port is always opened)",
        check="verify_system.check_firewall", checked="zone XML: ports and services open, services removed absent",
        kickstart="`firewall --enabled --port=PORT:tcp --service=S --remove-service=S`",
        not_applicable=_in_container("a container's ports are published by its runtime, not by firewalld"),
        packages=("firewalld",),
        owns=("/etc/firewalld/zones/",),
    ),
    Record(
        Item.KERNEL_ARGS, "`network.classic_names`, `selinux`",
        no_step="the bootloader's job: the kickstart's bootloader --append, DIB_BOOTLOADER_DEFAULT_CMDLINE in the qcow2",
        writes="(bootloader's job)",
        check="verify_system.check_kernel_args",
        checked="`/etc/default/grub`, BLS entries or `/etc/kernel/cmdline`; booted: `/proc/cmdline`",
        booted="booted_kernel_args", kickstart="`bootloader --append=\"net.ifnames=0 biosdevname=0 [selinux=0]\"`",
        not_applicable=_in_container("a container boots no kernel of its own"),
    ),
    Record(
        Item.LIMITS, "`limits.nofile`", (Step("limits", "limits"),),
        writes="`limits.d` (login sessions) AND `system.conf.d`/`user.conf.d` `DefaultLimitNOFILE` (services)",
        check="file_checks.check_limits", checked="file content; booted: systemd's default, sshd's limit",
        booted="booted_limits",
        not_applicable=_in_container("a container's limits are set by its runtime (docker run --ulimit nofile=N)"),
        owns=(*(path.rsplit("/", 1)[0] + "/" for path in (paths.LIMITS_FILE, paths.SYSTEMD_LIMITS_FILE, paths.USER_LIMITS_FILE)),),
    ),
    Record(
        Item.SYSCTLS, "`sysctls`", (Step("sysctls", "sysctls"),),
        writes="`/etc/sysctl.d/90-builder.conf`: `fs.suid_dumpable = 0`, `kernel.randomize_va_space = 2` "
               "(unless the spec sets them), then the spec's (`tcp_tw_recycle` refused: removed in Linux 4.12)",
        check="file_checks.check_sysctls", checked="file content; booted: `sysctl -n`", booted="booted_sysctls",
        not_applicable=_in_container("a container shares the host's kernel; set sysctls through the container runtime"),
        owns=(paths.SYSCTL_FILE.rsplit("/", 1)[0] + "/",),
    ),
    Record(
        Item.RC_LOCAL, "`rc_local.commands`", (Step("rc-local", "rc_local"),),
        writes="executable `rc.local` (with the spec's commands: carried base64)",
        check="file_checks.check_rc_local", checked="mode, shebang, content",
        not_applicable=_in_container("a container runs no init system, so rc.local never runs"),
        owns=(*paths.RC_LOCAL.values(),),  # EL's /etc/rc.local (a link to rc.d/rc.local) is Debian's file
    ),
    Record(
        Item.SERVICES, "`services`", (Step("services", "services"),),
        writes="`systemctl enable/disable` (sshd, chronyd, firewalld implied)",
        check="verify_system.check_services", checked="`*.wants` links, masks; booted: enabled and active",
        booted="booted_services",
        not_applicable=_in_container("a container runs its command, not systemd: no unit is enabled or started"),
    ),
    Record(
        Item.PREPULL_MIRRORS, "`container.prepull.mirrors`, `.site`; `install.machines[].site`",
        (Step("prepull-mirrors", "prepull_mirrors"),),
        writes="podman: `/etc/containers/registries.conf.d/50-builder-mirrors.conf`, the origin registry (`[[registry]]`) "
               "with the node's site's mirrors in order (`[[registry.mirror]]`), podman falling back to the origin; docker: "
               "none (its `registry-mirrors` serve Docker Hub only: the prepull script tries each mirror, then the origin)",
        check="file_checks.check_prepull_mirrors",
        checked="the drop-in's content; without a site, that there is none (docker: the prepull check reads the script)",
        not_applicable=_in_container("a container does not pull images at boot; the node that runs it does"),
        owns=(paths.MIRRORS_DROPIN,),
    ),
    Record(
        Item.PREPULL, "`container.prepull`", (Step("prepull", "prepull"),),
        writes="`/usr/local/libexec/builder-prepull` + `builder-prepull.service` (oneshot, enabled): pulls the image "
               "with retries; `/var/lib/builder-prepull/done` or `failed`",
        check="file_checks.check_prepull", checked="files, unit enabled", kickstart="(`%packages` gets podman)",
        kickstart_block="packages",
        not_applicable=_in_container("a container does not pull images at boot; the node that runs it does"),
        owns=(paths.PREPULL_SCRIPT, paths.PREPULL_UNIT_FILE),
    ),
    Record(
        Item.FILES, "`files`", (Step("files", "files"),), writes="files with mode and owner (carried base64)",
        check="file_checks.check_files", checked="content, mode, owner",
    ),
    Record(
        Item.POST_COMMANDS, "`post_commands`", (Step("post_commands", "post_commands"),),
        writes="run by `bash -eu -o pipefail` (carried base64)",
        check="file_checks.check_post_commands", checked="n/a: free-form",
    ),
    Record(
        Item.SEAL, "(qcow2 only)",
        no_step="sealing is the qcow2 build's last step (the builder-seal DIB element), after the script",
        writes="(builder-seal: empty machine-id, no host keys, empty logs, no package cache, "
               "nothing writable by others in `/usr/local/bin`)",
        check="sealed.check_seal",
        checked="machine-id, host keys, logs, package cache, `/usr/local/{bin,sbin}` modes; booted: regenerated",
        booted="booted_seal", contexts=("qcow2",),
    ),
    Record(
        Item.CLOUD_INIT, "`qcow2.cloud_init`",
        no_step="installed and configured by the builder-cloud-init DIB element, not the script",
        writes="(builder-cloud-init: ConfigDrive and OpenStack data sources)",
        check="sealed.check_cloud_init", checked="installed or not, data sources; booted: `cloud-init status`",
        booted="booted_cloud_init", contexts=("qcow2",),
    ),
)

# Derived tables. The records name their functions, and the modules above this one resolve them
# (script.py the steps, verify.py the offline checks, booted.py the booted ones): the steps and checks
# take a Baseline, and the Baseline model reads this table, so this module imports none of them.
STEPS: tuple[tuple[Item, Step], ...] = tuple((r.item, step) for r in ITEMS for step in r.steps)
CHECKS: tuple[tuple[Item, str], ...] = tuple((r.item, r.check) for r in ITEMS if r.check)
BOOTED_CHECKS: tuple[tuple[Item, str], ...] = tuple((r.item, r.booted) for r in ITEMS if r.booted)
# Every path an item writes (a '/' or '-' at the end: a prefix), with the item's record.
OWNED_PATHS: tuple[tuple[str, Record], ...] = tuple((path, r) for r in ITEMS for path in r.owns)


def owner_of(path: str) -> Record | None:
    """The record of the item that writes `path`, or None: a spec's files[] may write it."""
    for owned, record in OWNED_PATHS:
        if path == owned or (owned.endswith(("/", "-")) and path.startswith(owned)):
            return record
    return None


# Package -> the item it is installed for.
PACKAGE_ITEMS: MappingProxyType[str, Item] = MappingProxyType({p: r.item for r in ITEMS for p in r.packages})


def not_applicable_items(spec: Spec, context: str) -> dict[Item, str]:
    """Item -> why it does not apply to `context` (empty for a full system)."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}")
    return {r.item: r.not_applicable[context] for r in ITEMS
            if context in r.not_applicable and not (r.kept_by and _setting(spec, r.kept_by))}


def _setting(spec: Spec, path: str) -> object:
    value: object = spec
    for name in path.split("."):
        value = getattr(value, name, None)
    return value


def items_in(context: str) -> tuple[Record, ...]:
    """The records of the items that exist in `context` (applicable or not)."""
    return tuple(r for r in ITEMS if context in r.contexts)


def markdown_table() -> str:
    """The item table of docs/baseline.md (tests/test_items.py keeps the two equal)."""
    rows = ["| item | spec field | kickstart command (EL) | script writes / runs | check | in a container |",
            "|---|---|---|---|---|---|"]
    for r in ITEMS:
        container = "n/a" + (f" unless `{r.kept_by}: true`" if r.kept_by else "") if "container" in r.not_applicable else (
            "—" if "container" in r.contexts else "(not checked)")
        rows.append(f"| {r.item} | {r.spec_field} | {r.kickstart or '—'} | {r.writes} | {r.checked} | {container} |")
    return "\n".join(rows) + "\n"
