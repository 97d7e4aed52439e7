"""The EL family: CentOS Stream, Rocky Linux, AlmaLinux and RHEL, releases 8, 9 and 10."""
from __future__ import annotations

from . import (
    X86_64_V2,
    X86_64_V3,
    BaselineRules,
    Bootstrapper,
    DibDistro,
    Distribution,
    DistributionFamily,
    Family,
    FamilyPaths,
    HostFacts,
    Missing,
    PackageFormat,
    Reason,
    ReleaseRule,
    RepoFiles,
    RepoFormat,
    RpmdbBackend,
)

# DIB's DISTRO_NAME puts these in pkg-map's redhat family (and names the EFI directory); DIB_RELEASE is the major
# version, CentOS Stream's with its -stream suffix.
CENTOS = Distribution(Family.EL, "centos", release_package="centos-stream-release",
                      dnf_variables=(("stream", "{major}-stream"),), dib=DibDistro("centos", "{major}-stream"))
ROCKY = Distribution(Family.EL, "rocky", release_package="rocky-release", dib=DibDistro("rocky", "{major}"))
ALMA = Distribution(Family.EL, "almalinux", release_package="almalinux-release", dib=DibDistro("almalinux", "{major}"))
# No DIB build: diskimage-builder's rhel element starts from a downloaded guest image, not from our tree.
RHEL = Distribution(Family.EL, "rhel", release_package="redhat-release")

# The baseline's names on EL.
PATHS = FamilyPaths(
    admin_group="wheel", sshd_unit="sshd.service", chrony_unit="chronyd.service",
    chrony_conf="/etc/chrony.conf", chrony_drift="/var/lib/chrony/drift",
    rc_local="/etc/rc.d/rc.local", locale_conf="/etc/locale.conf",
)

BASELINE = BaselineRules(
    encrypt_method=None, chrony_confdir=None, locale_gen=False, keymap_file="/etc/vconsole.conf",
    network_keyfiles=True, hosts_self_address=None, hosts_ip6_multicast=False, timezone_file=None,
    rc_local_lock="/var/lock/subsys/local", rc_local_link="/etc/rc.local", selinux=True,
)

# dnf's repo files: its default reposdir (the first is where ours go) and its main configuration (which may hold
# repo sections too).
REPO_FILES = RepoFiles(
    RepoFormat.DNF, directory="/etc/yum.repos.d", suffix=".repo", key_dir="/etc/pki/rpm-gpg", key_name="RPM-GPG-KEY-{id}",
    main_file="/etc/dnf/dnf.conf", other_dirs=("/etc/yum/repos.d", "/etc/distro.repos.d"),
)

# classic toolset name -> its EL name.
TOOLSET_NAMES = {"nc": "nmap-ncat", "vim": "vim-enhanced", "ntpdate": "chrony"}

# Packages EL dropped: name -> (the release that dropped it, what to use instead, why). The one table of them; the
# spec's checks report each in packages.install, packages.exclude and the toolset with the replacement as the hint.
DROPPED = {
    "ntpdate": (8, "chrony", "ntpdate was dropped in EL 8; chrony does time sync (makestep covers the boot-time jump)"),
    "ntp": (8, "chrony", "ntpd was dropped in EL 8; chronyd does time sync"),
    "screen": (8, "tmux", "screen was dropped in EL 8 (it is in EPEL only)"),
    "bridge-utils": (8, "iproute", "bridge-utils (brctl) was dropped in EL 8; iproute's `ip link` and `bridge` manage "
                     "bridges, and NetworkManager makes them from the spec's network.bridges"),
    "authconfig": (8, "authselect", "authconfig was dropped in EL 8; authselect replaces it"),
    "yum-cron": (8, "dnf-automatic", "yum-cron was dropped in EL 8; dnf-automatic replaces it"),
    "network-scripts": (9, "NetworkManager", "the ifcfg network-scripts were removed in EL 9 (deprecated in EL 8); "
                        "NetworkManager configures the network"),
    "mailx": (9, "s-nail", "mailx was replaced by s-nail in EL 9"),
}

# Names EL calls otherwise (and classic toolset names that are another package on EL).
RENAMED = {
    "nc": Missing("nmap-ncat", "nc is provided by nmap-ncat on EL"),
    "vim": Missing("vim-enhanced", "the full vim is vim-enhanced on EL"),
    "netcat": Missing("nmap-ncat", "netcat is nmap-ncat on EL"),
    "libssl-dev": Missing("openssl-devel", "that is the Debian name"),
    "mtr-tiny": Missing("mtr", "that is the Debian name"),
    "netcat-openbsd": Missing("nmap-ncat", "that is the Debian name"),
    "openssh-client": Missing("openssh-clients", "that is the Debian name"),
    "dnsutils": Missing("bind-utils", "that is the Debian name"),
    "iproute2": Missing("iproute", "that is the Debian name"),
}

# (from release, names with no package), derived from the two tables above.
MISSING = ((0, RENAMED),) + tuple(
    (since, {name: Missing(replacement, why) for name, (dropped, replacement, why) in DROPPED.items() if dropped == since})
    for since in sorted({dropped for dropped, _, _ in DROPPED.values()})
)

# Minimal builds in the base set (base-images/el*.yaml) and the full packages each set conflicts with: a spec that
# installs a full one gets it, and the minimal set is left out of the base set and excluded (excludepkgs), so dnf pulls
# the full builds instead of stopping at the conflict (dnf would need --allowerasing to swap them). curl-minimal and
# libcurl-minimal (EL 9, 10; EL 8 has libcurl-minimal only) conflict with curl and libcurl; coreutils-single with
# coreutils.
MINIMAL_BUILDS = (
    (("curl-minimal", "libcurl-minimal"), ("curl", "libcurl")),
    (("coreutils-single",), ("coreutils",)),
)

# dnf's [main] settings for the bootstrap (its dnf.conf and --setopt), in this order.
DNF_MAIN = (
    # The newest version of every package across all the spec's repositories, or a failure saying why: the host's
    # dnf defaults to best=False (EL's dnf.conf sets True), which would silently fall back to an older version.
    ("best", "True"),
    ("install_weak_deps", "False"),
    ("tsflags", "nodocs"),
    ("skip_if_unavailable", "False"),
    ("keepcache", "False"),
    # The release's modular platform ({major}: the target's), as mock sets it and EL's own dnf reads from os-release's
    # PLATFORM_ID: without it a non-EL host's dnf has no platform and filters AppStream's modules wrongly (EL 8's is
    # modular). DIB's dnf in the qcow2's chroot is the tree's own, with EL's dnf.conf and os-release: right already.
    ("module_platform_id", "platform:el{major}"),
)

# What DIB's bootloader element installs (its finalise.d asks pkg-map for grub-pc on an mbr or gpt disk, grub-efi
# and grub-efi-<arch> on an efi one; builder runs DIB with -a amd64), per release: builder-root-el puts these in place
# of DIB's own map, whose EL 9 entry (no grub2-efi-x64-modules) is keyed to DISTRO_NAME rhel/centos and DIB_RELEASE 9
# only, so Rocky, Alma, 9-stream and every 10 asked for a package EL 9 and 10 do not have in BaseOS or AppStream.
# The EFI image boots the signed grubx64.efi that grub2-efi-x64 puts in /boot/efi/EFI/<DISTRO_NAME> (DIB's bootloader
# runs grub2-install for x86_64-efi only when that directory is missing, the one use of the modules); grub2-pc is
# there on an efi disk too, for the BIOS boot DIB installs beside it (DIB's map says grub2, which is only grub2-pc's
# Provides). The names are those of the official images: osbuild's rhel-9/10 x86_64 UEFI and BIOS package sets,
# AlmaLinux's GenericCloud 9 and 10 package lists. EL 8 keeps DIB's grub2-efi-x64-modules (its BaseOS has it).
GRUB_EFI_X64 = "grub2-efi-x64 grub2-efi-x64-modules shim-x64"
DIB_BOOTLOADER = (
    (0, {"grub-pc": "grub2-tools grub2-pc", "grub-efi": "grub2-tools grub2-pc efibootmgr",
         "grub-efi-amd64": GRUB_EFI_X64, "grub-efi-x86_64": GRUB_EFI_X64}),
    (9, {"grub-efi-amd64": "grub2-efi-x64 shim-x64", "grub-efi-x86_64": "grub2-efi-x64 shim-x64"}),
)

NO_RHEL_TREE = Reason("a RHEL tree needs subscription content, which the bootstrap cannot fetch from a plain mirror",
                      "target CentOS Stream, Rocky or Alma (or use Red Hat's UBI images)")

# What each release's own rpm writes: EL 8's rpm 4.14 writes only Berkeley DB (from 8.5 on it also reads sqlite, read-only);
# EL 9 and 10 write sqlite. The build host's rpm (4.17 and later) writes only sqlite, so an EL 8 tree's database is
# converted after the bootstrap by the tree's own rpm (builder.bootstrap.dnf says how and why).
RPMDB_BACKENDS = ((0, RpmdbBackend.BDB), (9, RpmdbBackend.SQLITE))

FAMILY = DistributionFamily(
    id=Family.EL,
    paths=PATHS,
    toolset_names=TOOLSET_NAMES,
    missing=MISSING,
    # RHEL 9 is built for x86-64-v2, RHEL 10 for x86-64-v3 (their glibc refuses to start on less).
    host_cpu=((9, X86_64_V2), (10, X86_64_V3)),
    bootstrapper=Bootstrapper("dnf", ("dnf", "rpm", "rpmdb"), DNF_MAIN, host_reads_file_keys=True),
    dib_root_element="builder-root-el",
    growpart_package="cloud-utils-growpart",
    host=HostFacts(
        os_release_ids=frozenset({"rhel", "fedora", "centos", "rocky", "almalinux"}),
        install_command="dnf install",
        tool_packages={
            "chroot": "coreutils", "mount": "util-linux", "umount": "util-linux", "losetup": "util-linux",
            "partx": "util-linux", "sgdisk": "gdisk", "qemu-system-x86_64": "qemu-kvm", "mformat": "mtools",
            "mcopy": "mtools", "ssh": "openssh-clients", "ssh-keygen": "openssh-clients",
            "rpmdb": "rpm",
        },
    ),
    kickstart=True,
    baseline=BASELINE,
    package_format=PackageFormat.RPM,
    repo_files=REPO_FILES,
    package_groups=True,
    docker_engine=False,
    bootstrap_refusals=(ReleaseRule(NO_RHEL_TREE, distro=RHEL.name),),
    no_dib=Reason("diskimage-builder builds RHEL only from a downloaded guest image", "target CentOS Stream, Rocky or Alma"),
    # EL 10 moved the rpm database to /usr/lib/sysimage/rpm (/var/lib/rpm links there).
    rpmdb=((0, "/var/lib/rpm"), (10, "/usr/lib/sysimage/rpm")),
    dib_bootloader=DIB_BOOTLOADER,
    rpmdb_backends=RPMDB_BACKENDS,
    distributions=(CENTOS, ROCKY, ALMA, RHEL),
    minimal_builds=MINIMAL_BUILDS,
)
