"""Cross-field checks: what each field alone cannot say is wrong.

Each check_* function yields Problems with a field path; `load.load_spec`
attaches file and line. They say what is wrong, why, and how to fix it.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet

from pydantic import ValidationError

from ..errors import Problem
from ..packages import missing_names, toolset_gaps
from .fields import port_problem
from .kernel import MANAGED_ARGS, inst_repo
from .machines import machine_spec
from .model import BootProto, Compression, DiskLayout, IPConfig, LayerContent, Machine, Repo, SELinux, Spec, layer_count_problem, layer_plan_problem

# A kickstart wipes the disk it installs on: the spec names it, builder never guesses (kinds refuses the kickstart
# of a spec that names none; a spec that asks for a kickstart, with a kickstart or install section, must).
NO_DISK = ("the spec names no disk (kickstart.disk.device), and a kickstart wipes the disk it installs on: builder does "
           "not guess which one")
DISK_HINT = ("name the disk in the spec, kickstart: {disk: {device: ...}}: on the machine (an installer or rescue shell), "
             "`ls -l /dev/disk/by-path/` gives the slot's name (disk/by-path/pci-0000:00:1f.2-ata-1), `ls -l /dev/disk/by-id/` "
             "the drive's, and `lsblk -o NAME,SIZE,TRAN,MODEL,SERIAL` tells them apart; a VM's virtio disk is vda")


def _p(path: str, message: str, hint: str | None = None, warning: bool = False) -> Problem:
    return Problem("", None, path, message, hint, warning)


Check = Callable[[Spec], Iterator[Problem]]
CHECKS: list[tuple[frozenset[str], Check]] = []


def reads(*sections: str) -> Callable[[Check], Check]:
    """Register a check with the top-level spec sections it reads.

    When some sections fail structural validation, the checks that read only
    the others still run, so one pass reports every problem it can.
    """
    def register(check: Check) -> Check:
        CHECKS.append((frozenset(sections), check))
        return check
    return register


def check_spec(spec: Spec, skip_sections: AbstractSet[str] = frozenset()) -> list[Problem]:
    problems: list[Problem] = []
    for sections, check in CHECKS:
        if not sections & skip_sections:
            problems.extend(check(spec))
    return problems


@reads("target", "kickstart", "network", "selinux")
def check_target(spec: Spec) -> Iterator[Problem]:
    """The fields the target's family refuses (builder.families: refused_fields), where the spec sets them."""
    for refused in spec.target.info.facts.refused_fields:
        if _is_set(spec, refused.field):
            yield _p(refused.field, refused.why.format(target=spec.target), refused.hint)


def _is_set(spec: Spec, field: str) -> bool:
    """A dotted field of the spec is set: not None and, for a list, not empty."""
    value: object = spec
    for name in field.split("."):
        value = getattr(value, name)
    return bool(value) if isinstance(value, (list, tuple)) else value is not None


@reads("network",)
def check_network(spec: Spec) -> Iterator[Problem]:
    net = spec.network
    names: dict[str, str] = {}
    devices = ([(f"network.interfaces[{i}]", e) for i, e in enumerate(net.interfaces)]
               + [(f"network.vlans[{i}]", v) for i, v in enumerate(net.vlans)]
               + [(f"network.bridges[{i}]", b) for i, b in enumerate(net.bridges)])
    for path, dev in devices:
        if dev.name in names:
            yield _p(path, f"interface {dev.name} is defined twice (first at {names[dev.name]})")
        names.setdefault(dev.name, path)
        yield from _check_ip(path, dev)
    for i, eth in enumerate(net.interfaces):
        if net.classic_names and not re.fullmatch(r"eth\d+", eth.name):
            yield _p(f"network.interfaces[{i}].name", f"with classic_names the NICs are eth0, eth1, ...; {eth.name} will not exist",
                     "use eth0-style names, or set network.classic_names: false")
    physical = {e.name for e in net.interfaces}
    for i, vlan in enumerate(net.vlans):
        if vlan.parent not in physical:
            yield _p(f"network.vlans[{i}].parent", f"{vlan.parent} is not one of network.interfaces",
                     "define the parent interface under network.interfaces (bootproto: none if it carries no address)")
    enslaved: dict[str, str] = {}
    for i, bridge in enumerate(net.bridges):
        for j, port in enumerate(bridge.ports):
            path = f"network.bridges[{i}].ports[{j}]"
            if port not in names or port == bridge.name:
                yield _p(path, f"{port} is not a defined interface or VLAN")
                continue
            if port in enslaved:
                yield _p(path, f"{port} is already a port of {enslaved[port]}")
            enslaved[port] = bridge.name
            port_dev = next(d for _, d in devices if d.name == port)
            if port_dev.bootproto is not BootProto.NONE:
                yield _p(path, f"{port} is a bridge port, so it cannot have its own address",
                         f"set bootproto: none on {port}; the bridge carries the address")


def _check_ip(path: str, dev: IPConfig) -> Iterator[Problem]:
    if dev.bootproto is BootProto.STATIC:
        if dev.address is None:
            yield _p(f"{path}.address", "a static interface needs an address (like 10.0.0.5/24)")
        elif dev.gateway is not None:
            net = ipaddress.ip_interface(dev.address).network
            if ipaddress.ip_address(dev.gateway) not in net:
                yield _p(f"{path}.gateway", f"the gateway is not inside {net}")
    else:
        for field in ("address", "gateway"):
            if getattr(dev, field) is not None:
                yield _p(f"{path}.{field}", f"only a static interface takes {field} (bootproto is {dev.bootproto})")
        if dev.nameservers and dev.bootproto is BootProto.NONE:
            yield _p(f"{path}.nameservers", "an interface without an address takes no nameservers")


@reads("packages", "target")
def check_packages(spec: Spec) -> Iterator[Problem]:
    missing = missing_names(spec.target.info)
    for field in ("install", "exclude"):
        for i, name in enumerate(getattr(spec.packages, field)):
            if name in missing:
                m = missing[name]
                yield _p(f"packages.{field}[{i}]", f"{name} does not exist on {spec.target}: {m.why}", f"use {m.replacement}")
    for i, name in enumerate(spec.packages.install):
        if name in spec.packages.exclude:
            yield _p(f"packages.install[{i}]", f"{name} is both installed and excluded")
    if spec.packages.exclude and not spec.target.info.facts.kickstart:
        yield _p("packages.exclude", f"excluding packages is a kickstart feature; {spec.target} has no kickstart")
    yield from _check_groups(spec)


def _check_groups(spec: Spec) -> Iterator[Problem]:
    """Groups and environments are dnf comps data: EL has them, Debian none; a system has one environment."""
    environment = None
    for i, name in enumerate(spec.packages.install):
        if not name.startswith("@"):
            continue
        if not spec.target.info.facts.package_groups:
            yield _p(f"packages.install[{i}]", f"{spec.target} has no package groups or environments ({name} is a dnf "
                     "comps group, which EL repositories have)", "list the packages themselves")
        elif name.startswith("@^"):
            if environment is not None:
                yield _p(f"packages.install[{i}]", f"a system has one environment, and {environment} is already listed",
                         "keep one @^environment and add what the others bring as @group")
            environment = environment or name


@reads("packages", "target")
def check_toolset(spec: Spec) -> Iterator[Problem]:
    """A classic toolset name with no package on the target is left out, and said so (unless its replacement is installed)."""
    if not spec.packages.toolset:
        return
    for name, m in toolset_gaps(spec.target.info).items():
        if m.replacement not in spec.packages.install:
            yield _p("packages.toolset", f"{name} (classic toolset) is not installed on {spec.target}: {m.why}",
                     f"add {m.replacement} to packages.install to have one, or set packages.toolset: false", warning=True)


# Kernel settings whose value is a port range, "LOW HIGH" (sysctl -p would fail on a bad one, at every boot).
PORT_RANGE_SYSCTLS = ("net.ipv4.ip_local_port_range",)


@reads("sysctls",)
def check_sysctl_ports(spec: Spec) -> Iterator[Problem]:
    for key, value in spec.sysctls.items():
        if key.replace("/", ".") not in PORT_RANGE_SYSCTLS:
            continue
        ports = str(value).split()
        if len(ports) != 2 or not all(p.isdigit() for p in ports):
            yield _p(f"sysctls.{key}", "a port range is two ports, the first at most the second", 'like "32768 60999"')
        elif problem := next(filter(None, map(port_problem, ports)), None):
            yield _p(f"sysctls.{key}", problem)
        elif int(ports[0]) > int(ports[1]):
            yield _p(f"sysctls.{key}", f"the range {ports[0]} {ports[1]} starts after it ends", f'write "{ports[1]} {ports[0]}"')


@reads("users", "root", "sshd")
def check_users(spec: Spec) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, user in enumerate(spec.users):
        if user.name == "root":
            yield _p(f"users[{i}].name", "configure root under the `root:` section, not as a user")
        if user.name in seen:
            yield _p(f"users[{i}].name", f"user {user.name} is listed twice")
        seen.add(user.name)
        if user.admin and not user.password_hash and not user.sudo_nopasswd:
            yield _p(f"users[{i}].admin", f"{user.name} has no password, so sudo will ask for one it cannot give",
                     "set sudo_nopasswd: true, or give a password_hash", warning=True)
        if user.sudo_nopasswd and not user.admin:
            yield _p(f"users[{i}].sudo_nopasswd", "sudo_nopasswd needs admin: true")
    if spec.root.lock and spec.root.password_hash:
        yield _p("root.password_hash", "root is locked, so this password would never be used",
                 "set root.lock: false to use it, or remove it")
    if not spec.root.lock and not spec.root.password_hash:
        # Without this the kickstart would say `rootpw --iscrypted None`.
        yield _p("root.lock", "root is not locked but has no password_hash to set",
                 "give root.password_hash (make one with `openssl passwd -6`), or set root.lock: true")
    if spec.root.ssh_keys and spec.sshd.permit_root_login is False:
        yield _p("root.ssh_keys", "sshd.permit_root_login is false, so these keys cannot log in", warning=True)


@reads("users", "root", "sshd")
def check_login_path(spec: Spec) -> Iterator[Problem]:
    """A user must never be locked out by their own spec."""
    if not spec.sshd.enabled:
        return
    password_ok = spec.sshd.password_authentication
    for user in spec.users:
        if user.ssh_keys or (password_ok and user.password_hash):
            return
    root_ssh = spec.sshd.permit_root_login is not False
    if root_ssh and (spec.root.ssh_keys or (password_ok and spec.root.password_hash and not spec.root.lock)):
        return
    yield _p("users", "nobody could log in over SSH: no user has an SSH key (or a password hash with password_authentication on)",
             "give a user ssh_keys, e.g. users: [{name: ops, admin: true, ssh_keys: ['ssh-ed25519 AAAA...']}]")


@reads("selinux", "firewall")
def check_selinux_firewall(spec: Spec) -> Iterator[Problem]:
    if spec.selinux is SELinux.DISABLED:
        yield _p("selinux", "SELinux disabled: the system loses mandatory access control", warning=True)
    if not spec.firewall.enabled:
        yield _p("firewall", "firewall disabled: every listening port is reachable", warning=True)
        if spec.firewall.ports or spec.firewall.services:
            yield _p("firewall.ports", "the firewall is disabled, so opening ports has no effect",
                     "set firewall.enabled: true, or remove ports and services")


@reads("services", "sshd")
def check_services(spec: Spec) -> Iterator[Problem]:
    enable = set(spec.services.enable)
    for i, unit in enumerate(spec.services.disable):
        if unit in enable:
            yield _p(f"services.disable[{i}]", f"{unit} is both enabled and disabled")
        if spec.sshd.enabled and unit.removesuffix(".service") in ("sshd", "ssh"):
            yield _p(f"services.disable[{i}]", "disabling sshd would lock you out", "set sshd.enabled: false if that is really meant")


@reads("files",)
def check_files(spec: Spec) -> Iterator[Problem]:
    """A path listed twice (the paths the baseline writes are its own rule: baseline/spec_rules.py)."""
    seen: set[str] = set()
    for i, extra in enumerate(spec.files):
        if extra.path in seen:
            yield _p(f"files[{i}].path", f"{extra.path} is listed twice")
        seen.add(extra.path)


KEY_HINT = ("give gpgkey: the key's URL (on your mirror, like http://mirror.internal.example.com/rocky/RPM-GPG-KEY-Rocky-9, "
            "or file:///etc/pki/rpm-gpg/... for a key the system already has), or a key file beside the spec, like keys/mirror.asc")


@reads("repos", "target")
def check_repos(spec: Spec) -> Iterator[Problem]:
    names: set[str] = set()
    for i, repo in enumerate(spec.repos):
        if repo.name in names:
            yield _p(f"repos[{i}].name", f"repository {repo.name} is listed twice")
        names.add(repo.name)
        by_suite = spec.target.info.facts.repo_files.by_suite
        if by_suite and not repo.suites:
            yield _p(f"repos[{i}].suites", "a Debian repository needs suites (like [bookworm, bookworm-updates])")
        if not by_suite and repo.suites:
            yield _p(f"repos[{i}].suites", "suites are for Debian repositories; an EL repository is one baseurl")
        yield from _check_repo_key(spec, i, repo)


def _check_repo_key(spec: Spec, i: int, repo: Repo) -> Iterator[Problem]:
    key = repo.gpgkey
    if not repo.gpgcheck:
        yield _p(f"repos[{i}].gpgcheck", f"packages from {repo.name} are installed without a signature check", warning=True)
    elif key is None and spec.target.info.facts.repo_files.default_keyring is None:
        yield _p(f"repos[{i}].gpgkey", "gpgcheck is on and the repository has no gpgkey: dnf would refuse every package "
                 "of it (or import no key at all)", KEY_HINT)
    if not spec.target.info.facts.repo_files.fetches_keys and isinstance(key, str) and not key.startswith("file:///"):
        yield _p(f"repos[{i}].gpgkey", "apt cannot fetch a key from a URL: its Signed-By names a keyring on the system",
                 "give a key file beside the spec (like keys/mirror.asc: it is embedded), or a file:///usr/share/keyrings/... "
                 "keyring the system already has")


@reads("qcow2",)
def check_glance_clouds(spec: Spec) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, cloud in enumerate(spec.qcow2_settings.glance_clouds):
        if cloud in seen:
            yield _p(f"qcow2.glance_clouds[{i}]", f"cloud {cloud} is listed twice", "each region is published to once: remove one")
        seen.add(cloud)


@reads("kickstart", "install", "target")
def check_kickstart_disk(spec: Spec) -> Iterator[Problem]:
    """A spec that asks for a kickstart (its kickstart section, or machines to install) names the disk it wipes."""
    if not spec.target.info.facts.kickstart or spec.kickstart_settings.disk.device is not None:
        return
    if spec.kickstart is not None:
        yield _p("kickstart.disk.device", NO_DISK, DISK_HINT)
    elif spec.install is not None:
        yield _p("install", f"the machines are installed with the kickstart, and {NO_DISK.removeprefix('the spec ')}",
                 DISK_HINT)


@reads("kickstart",)
def check_kickstart(spec: Spec) -> Iterator[Problem]:
    disk = spec.kickstart_settings.disk
    if disk.layout is DiskLayout.CUSTOM:
        mounts = [p.mount for p in disk.partitions]
        if "/" not in mounts:
            yield _p("kickstart.disk.partitions", "a custom layout needs a / partition")
        for i, mount in enumerate(mounts):
            if mounts.index(mount) != i and mount != "swap":
                yield _p(f"kickstart.disk.partitions[{i}].mount", f"{mount} appears twice")
    elif disk.partitions:
        yield _p("kickstart.disk.partitions", f"partitions are only used with layout: custom (layout is {disk.layout})",
                 "set kickstart.disk.layout: custom, or remove partitions")


@reads("install", "target", "kickstart")
def check_install(spec: Spec) -> Iterator[Problem]:
    install = spec.install
    if install is None:
        return
    if not spec.target.info.facts.kickstart:
        yield _p("install", f"{spec.target} has no kickstart, so there is nothing to install from",
                 "remove the install section, or target an EL release such as centos-stream-9")
        return
    macs: dict[str, int] = {}
    hostnames: dict[str, int] = {}
    for i, machine in enumerate(install.machines):
        path = f"install.machines[{i}]"
        if machine.mac.lower() in macs:
            yield _p(f"{path}.mac", f"this MAC address is also install.machines[{macs[machine.mac.lower()]}]'s")
        macs.setdefault(machine.mac.lower(), i)
        if machine.hostname.lower() in hostnames:
            yield _p(f"{path}.hostname", f"this host name is also install.machines[{hostnames[machine.hostname.lower()]}]'s")
        hostnames.setdefault(machine.hostname.lower(), i)
        if int(machine.mac.split(":")[0], 16) & 1:
            yield _p(f"{path}.mac", "a multicast MAC address cannot be a NIC's", "the first byte of a NIC's MAC is even")
        yield from _machine_address(path, machine)
    if install.machines and install.pxe is None:
        yield _p("install.machines", "machines are installed over PXE, and there is no install.pxe section",
                 "add install.pxe.server_url (where `builder serve` or your web server serves the tree)", warning=True)
    for i, arg in enumerate(install.kernel_args):
        if arg.split("=", 1)[0] in MANAGED_ARGS:
            yield _p(f"install.kernel_args[{i}]", f"{arg.split('=', 1)[0]} is set by builder",
                     "use install.pxe (server_url, inst_repo), install.machines or network.classic_names for it")
    if install.pxe is not None:
        if "$" in install.pxe.server_url:
            yield _p("install.pxe.server_url", "the installer does not expand $variables in inst.ks=")
        if not install.pxe.server_url.startswith(("http://", "https://")):
            yield _p("install.pxe.server_url", "the tree is served over HTTP: give an http(s) URL", "like http://10.0.0.5:8080")
        repo = inst_repo(spec)
        if repo is None:
            yield _p("install.pxe.inst_repo", "a network install needs an installation tree for inst.repo=",
                     "set install.pxe.inst_repo, or kickstart.install_source, to your mirror's BaseOS tree URL")
        elif "$" in repo:
            yield _p("install.pxe.inst_repo" if install.pxe.inst_repo else "kickstart.install_source",
                     "the installer does not expand $variables in inst.repo=", "write the release and architecture out")
        if spec.kickstart_settings.install_source == "cdrom":
            yield _p("kickstart.install_source", "a PXE-booted installer has no CD-ROM, and the kickstart's `cdrom` wins over inst.repo=",
                     "set kickstart.install_source to your mirror's BaseOS tree URL", warning=True)


def _machine_address(path: str, machine: Machine) -> Iterator[Problem]:
    if machine.address is None:
        for field in ("gateway", "nameservers"):
            if getattr(machine, field):
                yield _p(f"{path}.{field}", f"only a machine with an address takes {field} (without one it uses DHCP)")
    elif machine.gateway is not None:
        net = ipaddress.ip_interface(machine.address).network
        if ipaddress.ip_address(machine.gateway) not in net:
            yield _p(f"{path}.gateway", f"the gateway is not inside {net}")


@reads(*Spec.model_fields)
def check_machines_kickstarts(spec: Spec) -> Iterator[Problem]:
    """Each machine's spec (the baseline with its hostname and address) must pass every other check."""
    if spec.install is None or not spec.target.info.facts.kickstart:
        return
    base = {(p.path, p.message) for p in check_spec(spec.model_copy(update={"install": None}))}
    for i, machine in enumerate(spec.install.machines):
        if any(_machine_address("", machine)) or _machine_site_problem(spec, machine):
            continue  # check_install and check_machine_sites report it on the machine's own field
        try:
            derived = machine_spec(spec, machine)
        except ValidationError as exc:
            for err in exc.errors(include_input=False):
                where = ".".join(str(part) for part in err["loc"])
                yield _p(f"install.machines[{i}]", f"this machine's spec would be invalid: {where}: {err['msg']}")
            continue
        for problem in check_spec(derived):
            if not problem.warning and (problem.path, problem.message) not in base:
                yield _p(f"install.machines[{i}]", f"this machine's spec would be invalid: {problem.path}: {problem.message}",
                         problem.hint)


@reads("target", "container")
def check_container(spec: Spec) -> Iterator[Problem]:
    container = spec.container
    if container is None:
        return
    if isinstance(container.registry, list):
        for i, ref in enumerate(container.registry):
            if container.registry.index(ref) != i:
                yield _p(f"container.registry[{i}]", f"this reference is also container.registry[{container.registry.index(ref)}]")
    if container.layers is not None and (problem := layer_plan_problem(container.layers)):
        yield _p("container.layers", problem, "one layer: [[distribution, packages, package-state, configuration]]")
    elif container.layers is not None and (container.package_layers or 1) > 1:
        if not any(set(layer) <= {LayerContent.DISTRIBUTION, LayerContent.PACKAGES} for layer in container.layers):
            yield _p("container.package_layers", "does not apply: no layer of container.layers holds package files only "
                     "(distribution, packages), so there is nothing to split", "drop package_layers, or give the package "
                     "files a layer of their own: [[distribution, packages], [package-state, configuration]]")
        elif problem := layer_count_problem(container.layers, container.package_layers or 1):
            yield _p("container.package_layers", problem)
    if container.prepull is None:
        return
    if container.compression in (Compression.ZSTD, Compression.ZSTD_CHUNKED) and container.prepull.engine == "docker":
        yield _p("container.compression", f"the nodes pull with Docker, and Debian 12's docker.io (20.10) cannot pull "
                 f"{container.compression} layers (zstd:chunked is zstd to Docker, and only podman pulls it partially)",
                 "use compression: gzip, or prepull.engine: podman")
    if container.compression is Compression.ZSTD_CHUNKED and container.prepull.engine == "podman":
        yield _p("container.compression", "a node's podman fetches only the files it lacks when its /etc/containers/storage.conf "
                 'sets pull_options = {enable_partial_images = "true"}; builder does not write that file (otherwise the '
                 "node pulls whole zstd layers)", "README, Layer compression", warning=True)
    if container.prepull.engine == "docker" and not spec.target.info.facts.docker_engine:
        yield _p("container.prepull.engine", f"{spec.target} ships no docker engine in its own repositories",
                 "use engine: podman (in AppStream); docker-ce needs Docker's own repository")


@reads("container",)
def check_mirror_sites(spec: Spec) -> Iterator[Problem]:
    prepull = spec.container.prepull if spec.container else None
    if prepull is None:
        return
    for site, hosts in prepull.mirrors.items():
        for i, host in enumerate(hosts):
            if host.lower() == prepull.origin.lower():
                yield _p(f"container.prepull.mirrors.{site}[{i}]", f"{host} is the origin registry of prepull.image itself",
                         "list only the site's mirrors: the node falls back to the origin after them")
            elif hosts.index(host) != i:
                yield _p(f"container.prepull.mirrors.{site}[{i}]", f"{host} is also mirrors.{site}[{hosts.index(host)}]")
    if prepull.plain_http and prepull.engine == "docker":
        pulled_from = ", ".join([prepull.origin, *dict.fromkeys(h for hosts in prepull.mirrors.values() for h in hosts)])
        yield _p("container.prepull.plain_http", "docker reads plain HTTP registries from its own daemon.json, which builder "
                 f"does not write: the node's dockerd pulls over TLS from {pulled_from} unless told otherwise",
                 'list them under "insecure-registries" in the node\'s /etc/docker/daemon.json (loopback needs nothing), '
                 "or use engine: podman", warning=True)
    if prepull.site is not None and prepull.site not in prepull.mirrors:
        yield _p("container.prepull.site", f"site {prepull.site} has no entry in container.prepull.mirrors", _sites_hint(spec))


def _sites_hint(spec: Spec) -> str:
    prepull = spec.container.prepull if spec.container else None
    if prepull is None or not prepull.mirrors:
        return "list the site's mirrors in container.prepull.mirrors, like {dc1: [mirror1.dc1.example.com:5000]}"
    return f"the sites are {', '.join(prepull.mirrors)}; add this one to container.prepull.mirrors, or leave the site out"


def _machine_site_problem(spec: Spec, machine: Machine) -> str | None:
    """Why a machine's site names no mirrors the spec has (None when it names none, or a known one)."""
    if machine.site is None:
        return None
    prepull = spec.container.prepull if spec.container else None
    if prepull is None:
        return "the spec has no container.prepull, so a site has nothing to pull"
    if machine.site not in prepull.mirrors:
        return f"site {machine.site} has no entry in container.prepull.mirrors"
    return None


@reads("container", "install")
def check_machine_sites(spec: Spec) -> Iterator[Problem]:
    for i, machine in enumerate(spec.install.machines if spec.install else ()):
        if (problem := _machine_site_problem(spec, machine)) is not None:
            yield _p(f"install.machines[{i}].site", problem, _sites_hint(spec))
