"""The Debian family: Debian 12 (bookworm), the test bench."""
from __future__ import annotations

from . import Bootstrapper, DibDistro, Distribution, DistributionFamily, Family, FamilyPaths, HostFacts, Missing, Reason

DEBIAN = Distribution(Family.DEBIAN, "debian", dib=DibDistro("debian", "{codename}"), codenames=((12, "bookworm"),))

# The baseline's names on Debian.
PATHS = FamilyPaths(
    admin_group="sudo", sshd_unit="ssh.service", chrony_unit="chrony.service",
    chrony_conf="/etc/chrony/chrony.conf", chrony_drift="/var/lib/chrony/chrony.drift",
    rc_local="/etc/rc.local", locale_conf="/etc/default/locale",
)

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
    host=HostFacts(
        os_release_ids=frozenset({"debian", "ubuntu"}),
        install_command="apt-get install",
        tool_packages={
            "chroot": "coreutils", "mount": "mount", "umount": "mount", "losetup": "mount", "partx": "util-linux",
            "sgdisk": "gdisk", "qemu-img": "qemu-utils", "qemu-system-x86_64": "qemu-system-x86", "mformat": "mtools",
            "mcopy": "mtools", "ssh": "openssh-client", "ssh-keygen": "openssh-client", "createrepo_c": "createrepo-c",
        },
    ),
    kickstart=False,
    no_kickstart=Reason("a Debian spec is for images only",
                        "target an EL release (centos-stream-9, rocky-9, ...) for a kickstart"),
    no_kickstart_iso=Reason("an installer ISO carries a kickstart, and a Debian spec has none",
                            "target an EL release for a kickstart ISO"),
    distributions=(DEBIAN,),
)
