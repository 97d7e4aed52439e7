"""The Debian family: Debian 12 (bookworm), the test bench."""
from __future__ import annotations

from . import (
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
    RefusedField,
    RepoFiles,
    RepoFormat,
)

DEBIAN = Distribution(Family.DEBIAN, "debian", dib=DibDistro("debian", "{codename}"), codenames=((12, "bookworm"),))

# The baseline's names on Debian.
PATHS = FamilyPaths(
    admin_group="sudo", sshd_unit="ssh.service", chrony_unit="chrony.service",
    chrony_conf="/etc/chrony/chrony.conf", chrony_drift="/var/lib/chrony/chrony.drift",
    rc_local="/etc/rc.local", locale_conf="/etc/default/locale",
)

# Debian 12's PAM hashes with yescrypt while its login.defs says SHA512 (chpasswd and newusers read login.defs);
# its chrony package reads drop-ins from conf.d; its installer names the host on 127.0.1.1 and the ip6 multicast
# groups in /etc/hosts, and /etc/timezone names the zone; the console keymap is console-setup's, not the baseline's.
BASELINE = BaselineRules(
    encrypt_method="YESCRYPT", chrony_confdir="/etc/chrony/conf.d", locale_gen=True, keymap_file=None,
    network_keyfiles=False, hosts_self_address="127.0.1.1", hosts_ip6_multicast=True, timezone_file="/etc/timezone",
    rc_local_lock=None, rc_local_link=None, selinux=False,
)

# APT's sources: ours are deb822 files in sources.list.d; a repository checked with no key of its own is checked
# with the archive keyring.
REPO_FILES = RepoFiles(
    RepoFormat.APT, directory="/etc/apt/sources.list.d", suffix=".sources", key_dir="/etc/apt/keyrings",
    key_name="{id}.asc", main_file="/etc/apt/sources.list",
    default_keyring="/usr/share/keyrings/debian-archive-keyring.gpg",
)

NO_INTERFACES = ("{target} images take their network from DHCP/cloud-init; interface layouts are written as "
                 "NetworkManager keyfiles on EL targets only")

# classic toolset name -> its Debian name.
TOOLSET_NAMES = {"nc": "netcat-openbsd", "vim": "vim", "mtr": "mtr-tiny", "openssl-devel": "libssl-dev", "ntpdate": "chrony"}

MISSING = {
    "ntpdate": Missing("chrony", "use chrony for time sync (ntpdate is only a transitional package)"),
    "vim-enhanced": Missing("vim", "that is the EL name"),
    "nmap-ncat": Missing("ncat", "that is the EL name"),
    "nc": Missing("netcat-openbsd", "nc is provided by netcat-openbsd on Debian"),
    "openssl-devel": Missing("libssl-dev", "that is the EL name"),
    "openssh-clients": Missing("openssh-client", "that is the EL name"),
    "bind-utils": Missing("dnsutils", "that is the EL name"),
    "iproute": Missing("iproute2", "that is the EL name"),
    "policycoreutils-python-utils": Missing("(none)", "SELinux is not part of the Debian baseline"),
    "yum-utils": Missing("apt-utils", "that is an EL tool"),
}

# apt's fixed options while the bootstrap upgrades the tree (besides where it reads the spec's sources): no
# recommends (minbase installs none), and a changed configuration file kept as the package ships it.
APT_OPTIONS = (
    ("APT::Install-Recommends", "false"),
    ("Dpkg::Options::", "--force-confdef"),
    ("Dpkg::Options::", "--force-confold"),
)

FAMILY = DistributionFamily(
    id=Family.DEBIAN,
    paths=PATHS,
    toolset_names=TOOLSET_NAMES,
    missing=((0, MISSING),),
    bootstrapper=Bootstrapper("debootstrap", ("debootstrap",), APT_OPTIONS),
    dib_root_element="builder-root-debian",
    # Debian 12's growpart alone (cloud-utils is a metapackage that also pulls cloud-image-utils, which DIB's growroot
    # element maps growpart to).
    growpart_package="cloud-guest-utils",
    host=HostFacts(
        os_release_ids=frozenset({"debian", "ubuntu"}),
        install_command="apt-get install",
        tool_packages={
            "chroot": "coreutils", "mount": "mount", "umount": "mount", "losetup": "mount", "partx": "util-linux",
            "sgdisk": "gdisk", "qemu-img": "qemu-utils", "qemu-system-x86_64": "qemu-system-x86", "mformat": "mtools",
            "mcopy": "mtools", "ssh": "openssh-client", "ssh-keygen": "openssh-client", "createrepo_c": "createrepo-c",
            "rpmdb": "rpm",
        },
    ),
    kickstart=False,
    baseline=BASELINE,
    package_format=PackageFormat.DPKG,
    repo_files=REPO_FILES,
    package_groups=False,
    docker_engine=True,
    no_kickstart=Reason("a Debian spec is for images only",
                        "target an EL release (centos-stream-9, rocky-9, ...) for a kickstart"),
    no_kickstart_iso=Reason("an installer ISO carries a kickstart, and a Debian spec has none",
                            "target an EL release for a kickstart ISO"),
    refused_fields=(
        RefusedField("kickstart", "{target} has no kickstart (it is built as images only)",
                     "remove the kickstart section, or target an EL release such as centos-stream-9"),
        *(RefusedField(f"network.{name}", NO_INTERFACES, f"remove network.{name}") for name in ("interfaces", "vlans", "bridges")),
        RefusedField("selinux", "SELinux is not part of the {target} baseline", "remove the selinux field"),
    ),
    distributions=(DEBIAN,),
)
