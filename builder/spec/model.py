"""The declarative spec's structure (pydantic models) and its JSON schema.

Loading (with file and line for every problem) is `spec.load`, the rules between
fields `spec.checks`. Models are frozen; derived values live in `baseline.Baseline`.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, WithJsonSchema, field_validator
from pydantic.json_schema import SkipJsonSchema

from ..targets import Target
from . import fields as f
from .keys import check_armor, is_url, load_key_file

SPEC_VERSION = 1

PLAINTEXT_HINT = (
    "plaintext passwords are refused: give password_hash instead; make one with "
    "`openssl passwd -6` (it prompts, so the password stays out of your shell history)"
)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _refuse_plaintext(value: Any) -> Any:
    if value is not None:
        raise ValueError(PLAINTEXT_HINT)
    return value


PlaintextPassword = SkipJsonSchema[Any]


class KeyFile(Model):
    """A signing key from a key file the spec names, read when the spec is loaded and embedded in the artifacts."""

    path: str
    """The key file as the spec names it, relative to the spec file."""
    armor: Annotated[str, AfterValidator(check_armor)]
    """The file's text: one or more ASCII-armored OpenPGP public keys."""


GpgKey = Annotated[
    Annotated[f.Url, Tag("gpgkey-url")] | Annotated[KeyFile, Tag("gpgkey-file")],
    Discriminator(lambda value: "gpgkey-url" if isinstance(value, str) and is_url(value) else "gpgkey-file"),
    BeforeValidator(load_key_file),
    WithJsonSchema({"type": "string", "description": (
        "The repository's signing key: a URL (http(s)://... on the mirror, or file:///... already on the system), "
        "or a key file relative to the spec file (an ASCII-armored public key, embedded in the artifacts)")}),
]


class Repo(Model):
    """A package repository (an internal mirror is the normal case)."""

    name: f.Name
    """Required. The system's repository is builder-NAME (EL repo id; file builder-NAME.repo or .sources), so it never
    clashes with an id of the distribution's own repo files, which the baseline disables."""
    baseurl: f.Url
    """Required. The repository's URL on your mirror (EL: the directory with repodata/; Debian: the archive root)."""
    gpgcheck: bool = True
    """Check package signatures (EL: needs gpgkey; Debian: false writes `Trusted: yes`)."""
    gpgkey: GpgKey | None = None
    """A URL, or a key file relative to the spec file (embedded). Debian without one: the Debian archive keyring."""
    # Debian only
    suites: list[f.DebSuite] = []
    """Debian only, required there: the suites to use, like [bookworm, bookworm-updates]."""
    components: list[f.DebSuite] = ["main"]
    """Debian only: the archive components, like [main, contrib] (default [main])."""


class HostEntry(Model):
    address: f.IPAddress
    """Required: the IP address, like 10.0.0.5."""
    names: Annotated[list[f.Hostname], Field(min_length=1)]
    """Required: one or more host names for the address, like [db1.example.com, db1]."""


class BootProto(StrEnum):
    DHCP = "dhcp"
    STATIC = "static"
    NONE = "none"


class IPConfig(Model):
    bootproto: BootProto = BootProto.DHCP
    """dhcp (the default), static (needs address) or none (no address: a bridge port or VLAN parent)."""
    address: f.Interface | None = None
    """Static IPv4 address with prefix, like 10.0.0.11/24 (bootproto: static)."""
    gateway: f.IPAddress | None = None
    """Default gateway, like 10.0.0.1."""
    nameservers: list[f.IPAddress] = []
    """DNS servers, like [10.0.0.2, 10.0.0.3]."""
    mtu: Annotated[int, Field(ge=576, le=9216)] | None = None
    """MTU in bytes, 576 to 9216 (9000 for jumbo frames); unset: the driver's default."""


class Ethernet(IPConfig):
    name: f.DeviceName
    """Required: the interface name, like eth0 (with network.classic_names) or ens3."""


class Vlan(IPConfig):
    parent: f.DeviceName
    """Required: the interface the VLAN runs on, like eth0 or bond0."""
    id: Annotated[int, Field(ge=1, le=4094)]
    """Required: the VLAN id, 1 to 4094; the device is PARENT.ID, like eth0.100."""

    @property
    def name(self) -> str:
        return f"{self.parent}.{self.id}"


class Bridge(IPConfig):
    name: f.DeviceName
    """Required: the bridge's name, like br0."""
    ports: Annotated[list[f.PortName], Field(min_length=1)]
    """Required: the interfaces the bridge enslaves, like [eth1] (at least one)."""
    stp: bool = False
    """Run the spanning tree protocol on the bridge (off by default)."""


class Network(Model):
    classic_names: bool = True
    """Keep eth0-style names (net.ifnames=0 biosdevname=0 on the kernel command line)."""
    interfaces: list[Ethernet] = []
    """Ethernet interfaces and their addresses (bootproto dhcp or static)."""
    vlans: list[Vlan] = []
    """VLAN interfaces (802.1Q), each on a parent interface."""
    bridges: list[Bridge] = []
    """Bridges (for KVM guests), each with its ports."""


class Packages(Model):
    toolset: bool = True
    """Install the classic ops toolset, mapped to the target's package names."""
    install: list[f.PackageName] = []
    """More packages to install, by the target's names, like [nginx, tmux]."""
    exclude: list[f.PackageName] = []
    """EL only (the kickstart's %packages): packages to keep out of the toolset and the install, like [telnet]."""


class User(Model):
    name: f.UserName
    """Required: the login name, like ops."""
    admin: bool = False
    """Member of the family's admin group (wheel on EL, sudo on Debian)."""
    groups: list[f.UserName] = []
    """Supplementary groups the user joins (created when missing), like [adm, systemd-journal]."""
    ssh_keys: list[f.SshKey] = []
    """Public keys for ~/.ssh/authorized_keys, like ['ssh-ed25519 AAAA... ops@example']."""
    password_hash: f.CryptHash | None = None
    """A crypt hash ($6$... or $y$...), made with `openssl passwd -6`; plaintext is refused. None: no password."""
    sudo_nopasswd: bool = False
    """sudo without a password (for key-only admins, who have no password to give)."""
    shell: f.AbsPath = "/bin/bash"
    """The login shell (default /bin/bash)."""
    password: PlaintextPassword = None

    _no_plaintext = field_validator("password", mode="before")(_refuse_plaintext)


class Root(Model):
    lock: bool = True
    """Lock root's password (the default): root logs in with an SSH key or not at all."""
    password_hash: f.CryptHash | None = None
    """root's crypt hash ($6$...), used only with lock: false; made with `openssl passwd -6`."""
    ssh_keys: list[f.SshKey] = []
    """Public keys for root's authorized_keys (sshd.permit_root_login decides whether they are accepted)."""
    password: PlaintextPassword = None

    _no_plaintext = field_validator("password", mode="before")(_refuse_plaintext)


class Sshd(Model):
    enabled: bool = True
    """Install, configure and enable sshd (the default)."""
    port: f.Port = 22
    """A non-22 port is labelled ssh_port_t (SELinux) and opened in the firewall."""
    permit_root_login: bool | Literal["prohibit-password", "forced-commands-only"] = False
    """PermitRootLogin: false (the default), true, prohibit-password or forced-commands-only."""
    use_dns: bool = False
    """UseDNS: look up each client's name (off by default: logins do not wait for DNS)."""
    gssapi_authentication: bool = False
    """GSSAPIAuthentication (Kerberos); off by default (it slows every login without Kerberos)."""
    password_authentication: bool = False
    """PasswordAuthentication; off by default (keys only)."""


class SELinux(StrEnum):
    ENFORCING = "enforcing"
    PERMISSIVE = "permissive"
    DISABLED = "disabled"


class Firewall(Model):
    enabled: bool = True
    """Run firewalld (the default); false disables it (CIS flags that)."""
    ports: list[f.FirewallPort] = []
    """Ports to open, each with its protocol, like [80/tcp, 6000-6010/udp]."""
    services: list[f.FirewallService] = []
    """firewalld services to open, like [http, https]."""


class Time(Model):
    servers: list[f.HostOrIP] = []
    """NTP servers for chrony; empty keeps the distribution's pool."""


class Limits(Model):
    nofile: Annotated[int, Field(ge=1024, le=1048576)] = 65536
    """Open files per process (soft and hard), 1024 to 1048576 (default 65536)."""


class RcLocal(Model):
    commands: list[f.FreeText] = []
    """Commands for an executable rc.local, run at the end of boot."""


class Services(Model):
    enable: list[f.UnitName] = []
    """systemd units to enable, like [nginx.service]."""
    disable: list[f.UnitName] = []
    """systemd units to disable, like [kdump.service]."""


class ExtraFile(Model):
    path: f.AbsPath
    """Required: the absolute path on the system, like /etc/motd (not a path the baseline manages)."""
    content: f.FreeText
    """Required: the file's text, written as given."""
    mode: f.FileMode = "0644"
    """Quoted octal permissions, like '0644' (the default) or '0600'."""
    owner: f.UserName = "root"
    """The owning user (default root)."""
    group: f.UserName = "root"
    """The owning group (default root)."""


class Partition(Model):
    mount: f.MountPoint
    """Required: the mount point, like / or /var, or swap or biosboot."""
    fstype: f.FsType = "xfs"
    """File system: xfs (the default), ext4, btrfs, vfat, swap, biosboot or efi."""
    size_mib: Annotated[int, Field(ge=1)]
    """Required: the size in MiB (the minimum with grow: true)."""
    grow: bool = False
    """Grow the partition into the free space left on the disk."""


class DiskLayout(StrEnum):
    LVM = "lvm"
    PLAIN = "plain"
    BTRFS = "btrfs"
    THINP = "thinp"
    CUSTOM = "custom"


class Disk(Model):
    device: f.DiskDevice | None = None
    """Required for a kickstart: the one disk it wipes and installs on. Name it so you can be sure:
    disk/by-path/... (the slot) or disk/by-id/... (the drive), as `ls -l /dev/disk/by-path` shows on the machine."""
    layout: DiskLayout = DiskLayout.LVM
    """The kickstart's autopart type: lvm (the default), plain, btrfs or thinp; custom: the partitions below."""
    partitions: list[Partition] = []
    """With layout: custom only, the partitions to make (one of them mounted at /)."""


class KickstartSettings(Model):
    install_source: Literal["cdrom"] | f.Url = "cdrom"
    """`cdrom`, or the URL of the installation tree (your internal BaseOS mirror)."""
    disk: Disk = Disk()
    """The disk the kickstart wipes and how it is partitioned (device is required for a kickstart)."""
    reboot: bool = True
    """Reboot when the install ends (the default); false leaves the installer at its last screen."""


class Machine(Model):
    """One server installed from this spec; it gets its own kickstart (hostname, address)."""

    hostname: f.Hostname
    """Required."""
    mac: f.MacAddress
    """Required: the MAC address the machine boots from (selects its PXE entry and kickstart)."""
    address: f.Interface | None = None
    """Static IPv4 address with prefix, like 10.0.0.11/24; none: DHCP."""
    gateway: f.IPAddress | None = None
    """The machine's default gateway, like 10.0.0.1 (with address)."""
    nameservers: list[f.IPAddress] = []
    """The machine's DNS servers, like [10.0.0.2]."""
    interface: f.DeviceName = "eth0"
    """The NIC that carries the address (or the VLAN's parent)."""
    vlan: Annotated[int, Field(ge=1, le=4094)] | None = None
    """Put the address on VLAN <vlan> of `interface` (the device `interface.vlan`)."""
    site: f.Name | None = None
    """The site (data centre) the machine is in: its kickstart pulls container.prepull.image through
    container.prepull.mirrors[site]; unset: container.prepull.site (none: straight from the origin registry)."""

    @field_validator("mac", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads 52:54:00:12:34:56 as a base-60 number
            raise ValueError('quote the MAC address, like mac: "52:54:00:12:34:56" (unquoted, YAML reads it as a number)')
        return value


class Pxe(Model):
    """Network installs: `builder publish --to pxe` writes the boot entries, `builder serve` serves them."""

    server_url: f.Url
    """Required: the http(s) URL the published tree is served at; inst.ks= points below it."""
    kernel: f.BootFile = "images/pxeboot/vmlinuz"
    """The installer kernel: a path on the TFTP/HTTP boot server, or an http(s) URL."""
    initrd: f.BootFile = "images/pxeboot/initrd.img"
    """The installer initrd: a path on the TFTP/HTTP boot server, or an http(s) URL."""
    inst_repo: f.Url | None = None
    """The installation tree for inst.repo=; defaults to kickstart.install_source."""


class Install(Model):
    """How the kickstart reaches the installer: PXE entries, per-machine kickstarts (EL targets)."""

    machines: list[Machine] = []
    """The servers to install, each with its hostname, MAC and address; each gets its own kickstart."""
    pxe: Pxe | None = None
    """PXE boot entries (pxelinux, GRUB, iPXE) for `builder publish --to pxe` and `builder serve`."""
    kernel_args: list[f.KernelArg] = []
    """Extra installer kernel arguments for every boot entry (PXE and the remastered ISO), like console=ttyS0."""


class Compression(StrEnum):
    GZIP = "gzip"
    ZSTD = "zstd"


class LayerContent(StrEnum):
    """What a container image layer holds; every path of the image is exactly one of these (in this order)."""

    DISTRIBUTION = "distribution"
    """Files of the distribution's own packages (dpkg Priority required/important), as installed."""
    PACKAGES = "packages"
    """Files of every other package (the spec's packages and the toolset), as installed."""
    PACKAGE_STATE = "package-state"
    """Files no package owns, as the package install left them (dpkg status, debconf, ld.so.cache, alternatives)."""
    CONFIGURATION = "configuration"
    """Whatever the baseline and the spec's files created or changed after the install."""


def layer_plan_problem(plan: list[list[LayerContent]] | tuple[tuple[LayerContent, ...], ...]) -> str | None:
    """Why `plan` is not a layer plan (each content once, in LayerContent's order, no empty layer), or None."""
    if any(not layer for layer in plan):
        return "a layer holds at least one content"
    flat = [content for layer in plan for content in layer]
    if flat != list(LayerContent):
        return "each layer content appears exactly once, in this order: " + ", ".join(LayerContent)
    return None


MOST_LAYERS = 64   # what Docker and podman handle well (Docker's overlay2 stops at 125 lower layers)


def layer_count_problem(plan: list[list[LayerContent]] | tuple[tuple[LayerContent, ...], ...], package_layers: int) -> str | None:
    """Why `plan` split into `package_layers` per layer of package files only is too many layers, or None."""
    splits = [set(layer) <= {LayerContent.DISTRIBUTION, LayerContent.PACKAGES} for layer in plan]
    most = sum(package_layers if split else 1 for split in splits)
    if package_layers > 1 and most > MOST_LAYERS:
        return (f"{package_layers} per layer of package files makes up to {most} layers, more than {MOST_LAYERS} "
                f"(Docker and podman slow down with many layers)")
    return None


class Prepull(Model):
    """The image nodes pull when they are set up, and where they pull it from (the origin registry, or their site's mirrors)."""

    image: f.ImageRef
    """The image every node pulls on first boot, HOST[:PORT]/REPO[:TAG] (your internal registry)."""
    plain_http: bool = False
    """The registry speaks plain HTTP (an internal registry without TLS); TLS is verified otherwise."""
    engine: Literal["podman", "docker"] = "podman"
    """The engine installed and enabled to pull: podman (EL 9/10 AppStream, Debian) or docker (docker.io, Debian only)."""
    attempts: Annotated[int, Field(ge=1, le=100)] = 10
    """Pull attempts before the node reports failure (with growing pauses between them)."""
    mirrors: dict[f.Name, Annotated[list[f.RegistryHost], Field(min_length=1)]] = {}
    """Registry mirrors per site, HOST[:PORT] each, like {dc1: [mirror1.dc1.example.com:5000]}: pull-through caches of
    the image's registry (Distribution's proxy.remoteurl) that serve the same repository names. A node in a site tries
    its site's mirrors in order, then the origin registry itself; plain_http applies to the mirrors too."""
    site: f.Name | None = None
    """The site of a node that names none of its own (every artifact but a machine's kickstart, which takes
    install.machines[].site; a running node's prepull.sh takes it as its argument). A node with no site pulls
    straight from the origin registry."""

    @property
    def origin(self) -> str:
        """The HOST[:PORT] of the registry `image` names: what the mirrors mirror."""
        return self.image.partition("/")[0]


# One reference, or a list of them; the union is told apart before validation so that a bad value is reported
# once, for what it is (not also as "not a list").
RegistryRefs = Annotated[
    Annotated[f.ImageRef, Tag("registry-one")] | Annotated[Annotated[list[f.ImageRef], Field(min_length=1)], Tag("registry-list")],
    Discriminator(lambda value: "registry-list" if isinstance(value, list | tuple) else "registry-one"),
]


class ContainerSettings(Model):
    sshd: bool = False
    """Keep sshd and its baseline settings in the container image (off: containers are reached through their runtime)."""
    size_budget_mib: Annotated[int, Field(ge=1, le=65536)] | None = None
    """Largest compressed image, in MiB; the build fails above it (default: base-images/)."""
    compression: Compression = Compression.GZIP
    """Layer compression: gzip (every engine) or zstd (podman 4+, Docker 23+; refused with prepull.engine: docker)."""
    layers: list[list[LayerContent]] | None = None
    """Layer plan, lowest first, each content once and in this order, like [[distribution, packages], [package-state, configuration]].

    One layer: [[distribution, packages, package-state, configuration]]; unset: base-images/ (package files, package state,
    configuration)."""
    package_layers: Annotated[int, Field(ge=1, le=MOST_LAYERS)] | None = None
    """The most layers a layer of package files only (distribution, packages) is split into, by source package, what is
    updated least lowest, so a security update re-sends only the layers of the packages it changes; 1: not split.
    Unset: base-images/."""
    registry: RegistryRefs | None = None
    """Where `builder publish --to registry` pushes the image: one HOST[:PORT]/REPO[:TAG], or a list of them (each
    region's registry, or several repositories on one registry), pushed to concurrently; `--registry` replaces it.
    The nodes pull from container.prepull.image (and its mirrors), not from this list."""
    prepull: Prepull | None = None
    """Nodes built from this spec pull this image on first boot (a systemd oneshot); `--only prepull` writes prepull.sh for running nodes."""

    @property
    def registries(self) -> tuple[str, ...]:
        """Every reference `registry` names, in order: one, several or none."""
        if self.registry is None:
            return ()
        return (self.registry,) if isinstance(self.registry, str) else tuple(self.registry)


class BlockDevice(StrEnum):
    MBR = "mbr"
    GPT = "gpt"
    EFI = "efi"


class CloudInit(StrEnum):
    OPENSTACK = "openstack"
    NONE = "none"


class Qcow2Settings(Model):
    """The KVM image built with diskimage-builder (builder build --only qcow2)."""

    disk_size_gib: Annotated[int, Field(ge=2, le=2048)] | None = None
    """Virtual disk size in GiB; unset: just large enough for the content (a cloud grows the disk; growroot/cloud-init grow the root partition)."""
    block_device: BlockDevice = BlockDevice.MBR
    """Partition layout: mbr (BIOS), gpt (BIOS + GPT) or efi (UEFI + BIOS); DIB's block-device-* elements."""
    compress: bool = True
    """Compress the qcow2 (zlib clusters, which every qemu reads): Glance stores it and every compute node downloads it."""
    cloud_init: CloudInit = CloudInit.OPENSTACK
    """openstack: cloud-init reads a config drive or the metadata service; none: no cloud-init."""
    glance_name: f.Name | None = None
    """Image name in Glance; unset: the spec's name."""
    glance_properties: dict[f.GlanceKey, f.GlanceValue] = {}
    """Extra Glance image properties (like hw_machine_type: q35), added to the ones builder publish sets."""
    glance_clouds: list[f.CloudName] = []
    """Clouds of clouds.yaml (one per region) that `builder publish --to glance` uploads to, each once; unset: OS_CLOUD."""


class Spec(Model):
    version: Literal[1]
    """Spec format version (required): 1."""
    name: f.Name
    """Artifact name: output goes to OUT/<name>/ (required)."""
    description: f.Label = ""
    """One line that says what the system is for (the image's description label)."""
    target: Annotated[Target, BeforeValidator(f.known_target)]
    """The system to build (required): an EL release (centos-stream-9, rocky-9, alma-10, ...) gets a kickstart,
    debian-12 is images only."""
    repos: list[Repo] = []
    """Package repositories written into the system (your internal mirror)."""
    hostname: f.Hostname | None = None
    """The system's host name, like web01.example.com; unset: DHCP's or the installer's (a machine's kickstart takes its own)."""
    hosts: list[HostEntry] = []
    """Extra /etc/hosts entries."""
    network: Network = Network()
    """Interfaces, VLANs and bridges (the kickstart and the qcow2; a container's network is its runtime's)."""
    packages: Packages = Packages()
    """What is installed besides the minimal system: the classic ops toolset and your packages."""
    users: list[User] = []
    """Login users; at least one needs an SSH key (or a password hash with password authentication)."""
    root: Root = Root()
    """root is locked unless lock: false and a password_hash are given."""
    sshd: Sshd = Sshd()
    """sshd hardening: port, root login, DNS and GSSAPI lookups, password logins (a drop-in read before the distribution's)."""
    selinux: SELinux | None = None
    """enforcing (the default on EL), permissive or disabled; not applicable to Debian."""
    firewall: Firewall = Firewall()
    """firewalld; the sshd port is opened for you."""
    locale: f.Locale = "en_US.UTF-8"
    """The system language, like en_US.UTF-8 (its langpack is installed on EL)."""
    keyboard: f.Keymap = "us"
    """The console keyboard layout, like us or de-nodeadkeys."""
    timezone: f.Timezone = "UTC"
    """An IANA time zone (checked against the tz database: Asia/Shanghai, not Asia/Beijing)."""
    time: Time = Time()
    """Time sync with chrony: the NTP servers."""
    limits: Limits = Limits()
    """Applied to login sessions (limits.d) AND systemd services (DefaultLimitNOFILE)."""
    sysctls: dict[f.SysctlKey, f.SysctlValue] = {}
    """Kernel parameters for /etc/sysctl.d (net.ipv4.tcp_tw_recycle is refused)."""
    rc_local: RcLocal = RcLocal()
    """Commands for an executable /etc/rc.d/rc.local, run at the end of boot."""
    services: Services = Services()
    """systemd units to enable or disable (sshd, chronyd and firewalld are handled for you)."""
    files: list[ExtraFile] = []
    """Extra files written into the system."""
    post_commands: list[f.FreeText] = []
    """Escape hatch: shell commands run after the baseline, as root, with bash -eu."""
    kickstart: KickstartSettings | None = None
    """Kickstart-only settings (EL targets): install source, disk layout."""
    install: Install | None = None
    """Delivering the kickstart (EL targets): machines, PXE boot entries, installer arguments."""
    container: ContainerSettings | None = None
    """Container base image settings (size budget, compression, registry) and the image nodes pre-pull."""

    qcow2: Qcow2Settings | None = None
    """qcow2-only settings: disk size, partition layout, compression, cloud-init, Glance."""

    @property
    def kickstart_settings(self) -> KickstartSettings:
        return self.kickstart or KickstartSettings()

    @property
    def qcow2_settings(self) -> Qcow2Settings:
        return self.qcow2 or Qcow2Settings()


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "builder spec"
    return schema
