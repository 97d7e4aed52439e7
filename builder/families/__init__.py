"""Distribution families: what differs between EL and Debian, one module each (el.py, debian.py), as mkosi keeps
one module per distribution (mkosi/distributions/*.py).

A family module holds one `DistributionFamily` (its FAMILY) and the `Distribution`s it covers: paths and units,
package names, the bootstrapper and its fixed arguments, the DIB root element and its variables, the packages
DIB's bootloader installs per release, refusals per release, the packages that give a tool on a build host of the
family, the rpm database's place and format per release, what the baseline writes differently (`paths`,
`baseline`), the package database and repository-file formats and where the repository files are
(`package_format`, `repo_files`), and the spec fields its targets refuse (`refused_fields`).
Code above this layer reads the family object (`TargetInfo.facts`, `facts(Family.EL)`) instead of branching on
a distribution's name; `builder.targets` lists the targets and points each at its distribution here.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar


class Family(StrEnum):
    EL = "el"
    DEBIAN = "debian"


@dataclass(frozen=True)
class FamilyPaths:
    """What the baseline names differently per family (builder.baseline.model.FAMILY)."""

    admin_group: str
    sshd_unit: str
    chrony_unit: str
    chrony_conf: str
    chrony_drift: str
    rc_local: str
    locale_conf: str


@dataclass(frozen=True)
class BaselineRules:
    """What the baseline writes differently per family besides its paths (builder.baseline.items read them)."""

    encrypt_method: str | None          # login.defs' ENCRYPT_METHOD to set (PAM's), None: login.defs already agrees
    chrony_confdir: str | None          # chrony.conf's confdir line (the package's drop-in directory), if any
    locale_gen: bool                    # a locale is generated (/etc/locale.gen, locale-gen, package locales);
                                        # else a glibc langpack gives it
    keymap_file: str | None             # the console keymap's file (KEYMAP=), None: not the baseline's
    network_keyfiles: bool              # spec interfaces become NetworkManager keyfiles (else DHCP/cloud-init)
    hosts_self_address: str | None      # /etc/hosts' line naming the host itself (127.0.1.1), if the family has one
    hosts_ip6_multicast: bool           # /etc/hosts names ff02::1 and ff02::2
    timezone_file: str | None           # a file naming the timezone besides /etc/localtime, if any
    rc_local_lock: str | None           # the file rc.local touches (rc-local.service's subsys lock), if any
    rc_local_link: str | None           # a link to rc.local (paths.rc_local) the family also keeps, if any
    selinux: bool                       # SELinux is part of the baseline


class PackageFormat(StrEnum):
    """The package database a tree keeps and how its versions compare."""

    RPM = "rpm"
    DPKG = "dpkg"


class RpmdbBackend(StrEnum):
    """The database format a release's own rpm writes (its %_db_backend)."""

    SQLITE = "sqlite"   # rpm 4.16 and later by default; the only one rpm 4.17+ (the build host's) can write
    BDB = "bdb"         # Berkeley DB: a Packages file and one file per index


class RepoFormat(StrEnum):
    """The format of the repository definitions the package manager reads."""

    DNF = "dnf"     # ini .repo files: [id] sections, one baseurl each
    APT = "apt"     # sources.list one-line entries and deb822 .sources files: URIs, suites, components


@dataclass(frozen=True)
class RepoFiles:
    """Where the family's package manager reads repository definitions and keys (builder.baseline.repos writes
    and reads them)."""

    format: RepoFormat
    directory: str                      # where builder-NAME's definition goes
    suffix: str                         # its file name's suffix (.repo, .sources)
    key_dir: str                        # where an embedded key goes
    key_name: str                       # its file name ({id}: the repository's id)
    main_file: str                      # the package manager's own file that may define repositories too
    other_dirs: tuple[str, ...] = ()    # further directories whose definitions it reads
    default_keyring: str | None = None  # what checks a repository with gpgcheck on and no key (None: nothing does)

    def key_path(self, repo_id: str) -> str:
        return f"{self.key_dir}/{self.key_name.format(id=repo_id)}"

    @property
    def by_suite(self) -> bool:
        """A repository is a URI and its suites (APT), not one baseurl (dnf)."""
        return self.format is RepoFormat.APT

    @property
    def fetches_keys(self) -> bool:
        """The package manager fetches a key by URL (dnf's gpgkey); APT's Signed-By names a file on the system."""
        return self.format is RepoFormat.DNF


@dataclass(frozen=True)
class RefusedField:
    """A spec field the family's targets refuse when it is set: why ({target}: the spec's target) and the hint."""

    field: str                          # dotted, from the spec's top: network.interfaces
    why: str
    hint: str


@dataclass(frozen=True)
class Missing:
    """A package name with no package on the family: what to use instead, and why."""

    replacement: str
    why: str


@dataclass(frozen=True)
class CpuLevel:
    """An x86-64 micro-architecture level (the psABI's) a release's userland needs on the CPU that runs it: its glibc
    aborts on an older one. Its flags as /proc/cpuinfo names them (LZCNT is abm there)."""

    name: str
    flags: frozenset[str]


X86_64_V2 = CpuLevel("x86-64-v2", frozenset({"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}))
X86_64_V3 = CpuLevel("x86-64-v3", X86_64_V2.flags | {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})


@dataclass(frozen=True)
class Reason:
    """Why something is not made for a target, and what to do instead (builder.kinds turns it into a Refusal)."""

    why: str
    hint: str


@dataclass(frozen=True)
class ReleaseRule:
    """A reason that holds for a family's distribution `distro` (None: any) from release `since` up to `until`."""

    reason: Reason
    distro: str | None = None
    since: int = 0
    until: int = 1 << 16

    def applies(self, distro: str, major: int) -> bool:
        return self.distro in (None, distro) and self.since <= major <= self.until


@dataclass(frozen=True)
class DibDistro:
    """How diskimage-builder names a distribution: DISTRO_NAME (pkg-map's family and the EFI directory) and DIB_RELEASE
    ({major} and {codename} are the target's)."""

    name: str
    release: str

    def environment(self, major: int, codename: str | None) -> dict[str, str]:
        return {"DISTRO_NAME": self.name, "DIB_RELEASE": self.release.format(major=major, codename=codename or "")}


@dataclass(frozen=True)
class Distribution:
    """One distribution of a family (a target is one of its releases)."""

    family: Family
    name: str                                   # os_distro-style name (Glance's os_distro, TargetInfo.distro)
    release_package: str | None = None          # /etc/os-release, release files and keys (EL: system-release)
    dnf_variables: tuple[tuple[str, str], ...] = ()   # dnf variables its release package defines ({major} filled in)
    dib: DibDistro | None = None                # None: diskimage-builder cannot build it from our tree
    codenames: tuple[tuple[int, str], ...] = ()  # (release, its codename: the suite the tree is bootstrapped from)

    def variables(self, major: int) -> dict[str, str]:
        return {name: value.format(major=major) for name, value in self.dnf_variables}

    def codename(self, major: int) -> str | None:
        return dict(self.codenames).get(major)


@dataclass(frozen=True)
class Bootstrapper:
    """Which bootstrapper makes the family's base tree, the host tools it runs and its fixed arguments
    (builder.bootstrap holds the code that runs it)."""

    tool: str                                   # debootstrap | dnf (builder.bootstrap.BOOTSTRAPPERS; the image definition's)
    host_tools: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()   # dnf: its [main] settings; debootstrap: apt's -o options
    host_reads_file_keys: bool = False          # a repository's file:// gpgkey is read on the build host, not in the tree


@dataclass(frozen=True)
class HostFacts:
    """A build host of the family: how it is recognised, how it installs, and which package gives each tool."""

    os_release_ids: frozenset[str]              # os-release ID / ID_LIKE values of the family
    install_command: str
    tool_packages: Mapping[str, str]            # tool -> package; a tool not listed is its own package name


T = TypeVar("T")


def at_release(table: tuple[tuple[int, T], ...], major: int) -> T | None:
    """The value a per-release table ((from release, value), oldest first) gives release `major`, or None."""
    return next((value for since, value in reversed(table) if major >= since), None)


@dataclass(frozen=True)
class DistributionFamily:
    id: Family
    paths: FamilyPaths
    toolset_names: Mapping[str, str]            # classic toolset name -> its name on the family (the toolset only)
    missing: tuple[tuple[int, Mapping[str, Missing]], ...]  # (from release, names with no package) in release order
    bootstrapper: Bootstrapper
    dib_root_element: str                       # elements/builder-root-*: unpacks the tree, adds kernel and bootloader
    host: HostFacts
    kickstart: bool                             # pykickstart's RHEL<major> versions describe it
    baseline: BaselineRules
    package_format: PackageFormat               # the tree's package database, and how its versions compare
    repo_files: RepoFiles
    package_groups: bool                        # its repositories have dnf comps groups and environments (@group)
    docker_engine: bool                         # its own repositories ship a docker engine
    growpart_package: str                       # the package with growpart (cloud-utils'), which grows the qcow2's root
                                                # partition on boot (elements/builder-growroot)
    no_kickstart: Reason | None = None          # why a target of the family has no kickstart
    no_kickstart_iso: Reason | None = None      # why a target of the family has no kickstart ISO
    host_cpu: tuple[tuple[int, CpuLevel], ...] = ()    # (from release, the x86-64 level its userland needs), in order
    bootstrap_refusals: tuple[ReleaseRule, ...] = ()   # why no tree can be bootstrapped (first match)
    no_dib: Reason | None = None                # why a distribution without `dib` gets no qcow2
    rpmdb: tuple[tuple[int, str], ...] = ()     # (from release, the rpm database's place in the tree); () no rpm
    dib_bootloader: tuple[tuple[int, Mapping[str, str]], ...] = ()  # (from release, the names DIB's bootloader
                                                # element asks its pkg-map for -> the release's packages), in order;
                                                # () DIB's own map
    rpmdb_backends: tuple[tuple[int, RpmdbBackend], ...] = ()  # (from release, what its own rpm writes), in order
    refused_fields: tuple[RefusedField, ...] = ()    # spec fields its targets refuse (the spec's checks)
    distributions: tuple[Distribution, ...] = field(default=())
    # (minimal builds, the full packages they conflict with): a base set's minimal builds give way to the full ones
    # the spec installs (minimal_giving_way)
    minimal_builds: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()

    def kickstart_version(self, major: int) -> str | None:
        """pykickstart's version name (RHEL8, RHEL9, RHEL10); None: no kickstart."""
        return f"RHEL{major}" if self.kickstart else None

    def cpu_level(self, major: int) -> CpuLevel | None:
        """The x86-64 level release `major`'s userland needs of the build host's CPU (its scriptlets and chroot
        steps run there), or None."""
        return at_release(self.host_cpu, major)

    def missing_names(self, major: int) -> dict[str, Missing]:
        """Package names with no package on the family's release `major`, and what to use instead."""
        names: dict[str, Missing] = {}
        for since, table in self.missing:
            if major >= since:
                names.update(table)
        return names

    def bootstrap_refusal(self, distribution: Distribution, major: int) -> Reason | None:
        return next((rule.reason for rule in self.bootstrap_refusals if rule.applies(distribution.name, major)), None)

    def dib_refusal(self, distribution: Distribution) -> Reason | None:
        return self.no_dib if distribution.dib is None else None

    def rpmdb_path(self, major: int) -> str | None:
        """Where the release keeps its rpm database in the tree (None: the family has no rpm)."""
        return at_release(self.rpmdb, major)

    def rpmdb_backend(self, major: int) -> RpmdbBackend | None:
        """The database format release `major`'s own rpm writes (None: the family has no rpm)."""
        return at_release(self.rpmdb_backends, major)

    def minimal_giving_way(self, packages: Iterable[str]) -> tuple[str, ...]:
        """The minimal builds a tree leaves out because `packages` (the spec's) name a full package they conflict with:
        the spec wins, and the whole minimal set goes (a full curl with a minimal libcurl would still lack protocols)."""
        wanted = set(packages)
        return tuple(name for minimal, full in self.minimal_builds if wanted & set(full) for name in minimal)

    def bootloader_packages(self, major: int) -> dict[str, str]:
        """What DIB's bootloader element installs on release `major`: each name it asks its pkg-map for (grub-pc,
        grub-efi, grub-efi-<arch>) -> the packages, space-separated; {} leaves DIB's own map."""
        names: dict[str, str] = {}
        for since, table in self.dib_bootloader:
            if major >= since:
                names.update(table)
        return names

    def package_for(self, tool: str) -> str:
        """The package that gives `tool` on a build host of the family."""
        return self.host.tool_packages.get(tool, tool)


# A build host whose family os-release does not tell is taken for the tested one (Debian 12).
TESTED_HOST = Family.DEBIAN


def facts(family: Family) -> DistributionFamily:
    """The family's module object."""
    return FAMILIES[family]


def rpmdb_paths() -> tuple[str, ...]:
    """Every place a family's release keeps its rpm database, the newest release's first: where a tree of no known
    release is looked for one."""
    places = sorted(((since, path) for family in FAMILIES.values() for since, path in family.rpmdb), reverse=True)
    return tuple(dict.fromkeys(path for _since, path in places))


def host_family_of(ids: set[str]) -> Family | None:
    """The family whose os-release ids meet `ids` (a host's ID and ID_LIKE), if any."""
    return next((f.id for f in FAMILIES.values() if ids & f.host.os_release_ids), None)


def _families() -> dict[Family, DistributionFamily]:
    from . import debian, el

    return {f.id: f for f in (el.FAMILY, debian.FAMILY)}


FAMILIES: dict[Family, DistributionFamily] = _families()
