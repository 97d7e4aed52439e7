"""The EL baseline script, executed for real: each EL example's script run twice in a chroot whose tools are real.

No EL tree can be made here (no EL mirror is reachable), so the script runs in a Debian 12 tree
that holds the same tools EL's script calls, in Debian's builds: bash and coreutils, rpm and dnf,
shadow's useradd/usermod, firewalld's firewall-offline-cmd, semanage with a compiled policy store,
systemctl, sshd, chronyd and nmcli (tests/support/debootstrap.py, one cached tree copied per example).
The script is `render_script(Baseline(spec))`: the same script the kickstart %post and the qcow2
element run. Its package step is real too: `rpm -q` finds what is missing and `dnf -y install`
fetches it, with gpgcheck on, from a local repository of signed stand-in packages named like the
spec's (tests/support/rpmrepo.py) served on 127.0.0.1; the spec is a copy of the example with its
repositories pointed at that server and their `gpgkey` at its key.

What this proves, for every EL example: the script runs to the end under `set -euo pipefail` with
real tools (no command misspelt, no option these tools refuse, no path that must exist and does not);
a second run changes no file (every file of the tree hashed before and after; only the kernel's
runtime directories, /tmp, caches and logs are left out, and sqlite's shared-memory index of the rpm
database, which every `rpm -q` rewrites); `builder verify --rootfs` passes every item
that applies; `sshd -t` accepts the written config and `sshd -T` shows the spec's port, no root login,
no DNS, no GSSAPI, even beside EL's own 50-redhat.conf (EL 9/10) or EL 8's settings in the main file;
firewalld's offline tool reads back the spec's ports and services, no ssh (or cockpit) service when
the spec removes it, and `--check-config` passes; the sshd port is labelled ssh_port_t in the policy
store wherever SELinux is not disabled; every NetworkManager keyfile is loaded by nmcli's keyfile
reader; chronyd parses the chrony config (`chronyd -p`, no server contacted); the unit the baseline
writes passes `systemd-analyze verify`.

What a real EL tree provides that this test arranges (`arrange_el_tree`, each said there too):
- the rpm database at EL's path (/var/lib/rpm; EL 10: /usr/lib/sysimage/rpm, /var/lib/rpm a link to
  it). Debian's rpm keeps its database in ~/.rpmdb, so the script runs with a HOME of the test's own
  (in the tree's /tmp, outside the snapshot) whose .rpmmacros names EL's %_dbpath;
- the packages a minimal EL install has, recorded in that database from stand-ins (the release
  package with `system-release(releasever)`, systemd, NetworkManager, openssh-server, chrony, sudo,
  firewalld, policycoreutils); the stand-ins carry only the unit files EL names differently
  (sshd.service, chronyd.service, and libvirtd.service for the KVM host), the tools are Debian's,
  and Debian's ssh.service and chrony.service (whose aliases are EL's names) are disabled;
- EL's /etc/dnf/dnf.conf (Debian's skips unavailable repositories; EL's does not);
- the distribution's repository file, only for an example that names no repositories;
- EL's SELinux config (SELINUX=enforcing, SELINUXTYPE=targeted) and the policy store named
  `targeted` (Debian's is `default`; the script's semanage takes the store from the config);
- EL's sshd_config (EL 8: no drop-in Include, its settings in the main file; EL 9/10: the Include
  and /etc/ssh/sshd_config.d/50-redhat.conf); the host keys are Debian's, and so is the privilege
  separation directory the test makes before `sshd -t` (/run/sshd; EL's sshd uses /var/empty/sshd);
- EL 8's ifcfg file for each device the spec configures, as Anaconda writes it (the script removes it);
- EL's firewalld public zone (it allows cockpit, which the script removes).

What only a real EL tree can prove: EL's own builds of these tools (its rpm and dnf, firewalld,
semanage, and NetworkManager with its full validation: nmcli --offline
reports bad UUIDs, missing VLAN parents and invalid methods, but silently drops some bad values, such
as an out-of-range VLAN id or an invalid address); EL's selinux-policy-targeted and the relabel at
first boot; authselect and EL's PAM; dnf against the real mirror and the distribution's keys; the
real packages' scriptlets and presets; EL 8's own rpm 4.14 writing its Berkeley DB database (the
bootstrap's conversion is proven with a stand-in, Debian 11's rpm 4.16: tests/test_el8_rpmdb.py); the
services starting.

EL 8, 9 and 10 differ here in: the rpm database's path (EL 10: /usr/lib/sysimage/rpm) and format
(EL 8: Berkeley DB); sshd_config (EL 8 has no drop-in Include: the script adds it first and comments out
EL 8's own `PermitRootLogin yes`, `PasswordAuthentication yes`, `GSSAPIAuthentication yes`); /etc/rc.d/rc.local (owned by a
package a small install may lack: the script now creates it).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support.chroot import CHROOT_ENV, changes, in_chroot, snapshot
from support.debootstrap import el_tools_packages, make_rootfs, remove_tree, why_not_debootstrap
from support.requirements import not_applicable, skip_or_fail
from support.rpmrepo import GpgKey, Pkg, build_packages, make_repo, serve, why_not_repo

from builder.baseline import Baseline, render_script
from builder.spec import Spec, load_spec
from builder.targets import Family

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EL_EXAMPLES = [path for path in sorted((ROOT / "examples").glob("*.yaml"))
               if load_spec(path)[0].target.info.family is Family.EL]
# Kernel and runtime state, the test's own HOME (/tmp), caches and logs (dnf's among them): not the baseline's
# to keep still.
NOT_SNAPSHOTTED = {"proc", "sys", "dev", "run", "tmp", "var/cache", "var/log",
                   # sqlite's shared-memory index of the rpm database: every reader rewrites it (the script's
                   # `rpm -q`); the database itself is snapshotted.
                   "var/lib/rpm/rpmdb.sqlite-shm", "usr/lib/sysimage/rpm/rpmdb.sqlite-shm"}
RPM_HOME = "/tmp/rpm-home"
# What a minimal EL install has of the tools the script calls (@core): recorded before the first run, so
# the script's `rpm -q` finds them and its dnf installs the rest.
INSTALLED_BEFORE = ("systemd", "NetworkManager", "openssh-server", "chrony", "sudo", "firewalld", "policycoreutils")
# Units EL names differently from Debian (or that only the stand-in's real package would bring), carried by
# the stand-in packages: they run Debian's binaries.
STAND_IN_UNITS = {
    "openssh-server": ("sshd.service", "OpenSSH server daemon", "/usr/sbin/sshd -D"),
    "chrony": ("chronyd.service", "NTP client/server", "/usr/sbin/chronyd -f /etc/chrony.conf"),
    "libvirt": ("libvirtd.service", "libvirt legacy monolithic daemon", "/usr/sbin/libvirtd"),
}
# EL 8's sshd_config, its settings as shipped (comments left out): no Include, first value wins.
EL8_SSHD_CONFIG = """\
HostKey /etc/ssh/ssh_host_rsa_key
HostKey /etc/ssh/ssh_host_ecdsa_key
HostKey /etc/ssh/ssh_host_ed25519_key
SyslogFacility AUTHPRIV
PermitRootLogin yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication yes
ChallengeResponseAuthentication no
GSSAPIAuthentication yes
GSSAPICleanupCredentials no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_CTYPE LC_NUMERIC LC_TIME LC_COLLATE LC_MONETARY LC_MESSAGES
Subsystem sftp /usr/libexec/openssh/sftp-server
"""
# EL 9/10: the main file includes the drop-ins first; EL's own drop-in sorts after ours.
EL9_SSHD_CONFIG = """\
Include /etc/ssh/sshd_config.d/*.conf
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp /usr/libexec/openssh/sftp-server
"""
EL9_50_REDHAT = """\
SyslogFacility AUTHPRIV
ChallengeResponseAuthentication no
GSSAPIAuthentication yes
GSSAPICleanupCredentials no
UsePAM yes
X11Forwarding yes
PrintMotd no
"""
EL_DNF_CONF = """\
[main]
gpgcheck=1
installonly_limit=3
clean_requirements_on_remove=True
best=True
skip_if_unavailable=False
"""
EL_SELINUX_CONFIG = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
EL_PUBLIC_ZONE = """\
<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <description>For use in public areas.</description>
  <service name="ssh"/>
  <service name="dhcpv6-client"/>
  <service name="cockpit"/>
  <forward/>
</zone>
"""


def rpm_dbpath(spec: Spec) -> str:
    return "/usr/lib/sysimage/rpm" if spec.target.info.major >= 10 else "/var/lib/rpm"


def release_package(spec: Spec) -> Pkg:
    info = spec.target.info
    return Pkg(f"{info.distro}-release", version=str(info.major),
               provides=(f"system-release(releasever) = {info.major}", "system-release", "redhat-release"))


def stand_in(name: str) -> Pkg:
    if name not in STAND_IN_UNITS:
        return Pkg(name)
    unit, description, command = STAND_IN_UNITS[name]
    body = (f"[Unit]\nDescription={description}\n\n[Service]\nExecStart={command}\n\n"
            "[Install]\nWantedBy=multi-user.target\n").encode()
    return Pkg(name, files={f"/usr/lib/systemd/system/{unit}": body})


@dataclass(frozen=True)
class LocalRepo:
    urls: dict[str, str]
    """The repository of each release ("rocky-9"), as a mirror keeps one per release: its own release package and
    the stand-ins (so `builder verify` finds an EL 8 tree's rocky-release the newest its repository offers)."""
    rpms: dict[str, Path]
    """Package file by name (a release package by name and major: "rocky-release-9")."""
    key_name: str

    def url(self, info) -> str:
        return self.urls[f"{info.distro}-{info.major}"]

    def key_url(self, info) -> str:
        return self.url(info) + self.key_name


@pytest.fixture(scope="session")
def local_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRepo]:
    """One signed repository of stand-ins for every EL example, served on 127.0.0.1."""
    reason = why_not_repo()
    if reason:
        skip_or_fail(reason)
    specs = [load_spec(path)[0] for path in EL_EXAMPLES]
    names = set(INSTALLED_BEFORE).union(*(Baseline(spec).packages for spec in specs))
    base = tmp_path_factory.mktemp("el-repo")
    built = {name: rpm for name, rpm in zip(sorted(names), build_packages(map(stand_in, sorted(names)),
                                                                          base / "build"), strict=True)}
    # One rpmbuild run cannot make two packages of one name: rocky-release 8 and 9 are built apart.
    for release in {(p.name, p.version): p for p in map(release_package, specs)}.values():
        built[f"{release.name}-{release.version}"], = build_packages([release], base / f"build-{release.name}-{release.version}")
    key = GpgKey.generate()
    releases = {f"{spec.target.info.distro}-{spec.target.info.major}": release_package(spec) for spec in specs}
    common = {name: rpm for name, rpm in built.items() if name in names}
    try:
        for release, package in releases.items():
            make_repo([*common.values(), built[f"{package.name}-{package.version}"]], base / "www" / release, key)
        with serve(base / "www") as url:
            yield LocalRepo({release: f"{url}/{release}/" for release in releases}, built, key.public.name)
    finally:
        key.remove()


@pytest.fixture(scope="session")
def el_tools_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The Debian 12 tree with the tools the EL script calls (cached as a tarball by its package list)."""
    reason = why_not_debootstrap()
    if reason:
        skip_or_fail(reason)
    base = tmp_path_factory.mktemp("el-tools")
    try:
        make_rootfs(base / "root", el_tools_packages())
        yield base / "root"
    finally:
        remove_tree(base)


def spec_copy(example: Path, repo: LocalRepo, directory: Path) -> Path:
    """The example with its repositories at the local server and its key: what the script and verify read."""
    data = yaml.safe_load(example.read_text())
    info = load_spec(example)[0].target.info
    for entry in data.get("repos", []):
        entry["baseurl"] = repo.url(info)
        entry["gpgkey"] = repo.key_url(info)
    path = directory / example.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def arrange_el_tree(root: Path, spec: Spec, repo: LocalRepo) -> None:
    """Give the Debian tree what a real EL tree of the spec's release has and Debian lacks (see the docstring)."""
    info = spec.target.info
    dbpath = rpm_dbpath(spec)
    # Debian's rpm: %_dbpath is ~/.rpmdb. EL's is /var/lib/rpm (EL 10: /usr/lib/sysimage/rpm, linked from /var/lib/rpm).
    home = root / RPM_HOME.lstrip("/")
    home.mkdir(parents=True)
    (home / ".rpmmacros").write_text(f"%_dbpath {dbpath}\n%_db_backend sqlite\n")
    if dbpath != "/var/lib/rpm":
        (root / dbpath.lstrip("/")).mkdir(parents=True)
        (root / "var/lib/rpm").rmdir()  # Debian's rpm package ships it empty
        (root / "var/lib/rpm").symlink_to("../../usr/lib/sysimage/rpm")
    # The packages of a minimal install, recorded in the database; the stand-ins bring EL's unit names.
    installed = [repo.rpms[f"{info.distro}-release-{info.major}"], *(repo.rpms[n] for n in INSTALLED_BEFORE)]
    run(["rpm", "--root", str(root), "--define", f"_dbpath {dbpath}", "--define", "_db_backend sqlite", "-i",
         "--nodeps", "--noscripts", "--notriggers", "--nosignature", *map(str, installed)], "rpm -i (installed before)")
    # EL has no ssh.service or chrony.service: Debian's are disabled, so that their aliases (sshd.service,
    # chronyd.service) do not stand in front of the units EL names so.
    disabled = in_chroot(root, "systemctl", "disable", "--quiet", "ssh.service", "chrony.service")
    assert disabled.returncode == 0, disabled.stderr
    (root / "etc/dnf/dnf.conf").write_text(EL_DNF_CONF)
    if not spec.repos:
        # The distribution's own repository file (rocky.repo, almalinux-baseos.repo, ...), at the local server.
        (root / "etc/yum.repos.d").mkdir(parents=True, exist_ok=True)
        (root / f"etc/yum.repos.d/{info.distro}.repo").write_text(
            f"[baseos]\nname=baseos\nbaseurl={repo.url(info)}\nenabled=1\ngpgcheck=1\ngpgkey={repo.key_url(info)}\n")
    # SELinux: EL's config, and its policy store named as EL names it.
    (root / "etc/selinux/config").write_text(EL_SELINUX_CONFIG)
    for parent in ("etc/selinux", "var/lib/selinux"):
        (root / parent / "default").rename(root / parent / "targeted")
    # sshd: EL's main config (EL 8: no drop-in Include) and EL 9/10's own drop-in.
    sshd_dir = root / "etc/ssh/sshd_config.d"
    for stale in sshd_dir.glob("*.conf"):
        stale.unlink()
    if info.major >= 9:
        (root / "etc/ssh/sshd_config").write_text(EL9_SSHD_CONFIG)
        (sshd_dir / "50-redhat.conf").write_text(EL9_50_REDHAT)
    else:
        (root / "etc/ssh/sshd_config").write_text(EL8_SSHD_CONFIG)
    # EL 8's Anaconda writes an ifcfg file per device, which the keyfiles replace.
    if info.major == 8:
        for path, _ in Baseline(spec).nm_keyfiles:
            device = path.rsplit("/", 1)[1].removesuffix(".nmconnection")
            ifcfg = root / "etc/sysconfig/network-scripts" / f"ifcfg-{device}"
            ifcfg.parent.mkdir(parents=True, exist_ok=True)
            ifcfg.write_text(f"TYPE=Ethernet\nBOOTPROTO=dhcp\nNAME={device}\nDEVICE={device}\nONBOOT=yes\n")
    # firewalld: EL's public zone allows cockpit too.
    (root / "usr/lib/firewalld/zones/public.xml").write_text(EL_PUBLIC_ZONE)


@dataclass(frozen=True)
class ElRun:
    example: str
    spec_file: Path
    spec: Spec
    _root: Path
    first: subprocess.CompletedProcess[str]
    second_changed: list[str]
    second: subprocess.CompletedProcess[str]

    @property
    def root(self) -> Path:
        """The tree after the runs; a test that reads it fails here if the first run failed."""
        assert self.first.returncode == 0, (f"{self.example}: the baseline script exited {self.first.returncode}:\n"
                                            f"{self.first.stdout[-4000:]}\n{self.first.stderr[-4000:]}")
        return self._root


def script_env() -> dict[str, str]:
    return {**CHROOT_ENV, "HOME": RPM_HOME}


@pytest.fixture(scope="session", params=EL_EXAMPLES, ids=[path.stem for path in EL_EXAMPLES])
def el_run(request: pytest.FixtureRequest, el_tools_tree: Path, local_repo: LocalRepo) -> Iterator[ElRun]:
    """One EL example: its script run twice in a copy of the tools tree (removed after its tests)."""
    example: Path = request.param
    base = Path(tempfile.mkdtemp(prefix=f"el-{example.stem}-", dir=el_tools_tree.parent))
    try:
        root = base / "root"
        run(["cp", "-a", str(el_tools_tree), str(root)], "copying the tools tree")
        spec_file = spec_copy(example, local_repo, base)
        spec = load_spec(spec_file)[0]
        arrange_el_tree(root, spec, local_repo)
        script = render_script(Baseline(spec))
        first = in_chroot(root, "/bin/bash", "-s", stdin=script, env=script_env())
        before = snapshot(root, NOT_SNAPSHOTTED)
        second = in_chroot(root, "/bin/bash", "-s", stdin=script, env=script_env()) if first.returncode == 0 else first
        changed = changes(before, snapshot(root, NOT_SNAPSHOTTED))
        yield ElRun(example.stem, spec_file, spec, root, first, changed, second)
    finally:
        remove_tree(base)


def run(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def chroot_ok(r: ElRun, *argv: str, stdin: str | None = None) -> str:
    proc = in_chroot(r.root, *argv, stdin=stdin, env=script_env())
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


# ---------------------------------------------------------------- the runs


def test_the_script_installs_what_is_missing_from_the_signed_repository(el_run: ElRun):
    assert el_run.root.is_dir()
    wanted = Baseline(el_run.spec).packages
    missing = [name for name in wanted if name not in INSTALLED_BEFORE]
    if missing:
        assert "Importing GPG key" in el_run.first.stdout + el_run.first.stderr, el_run.first.stdout
    names = chroot_ok(el_run, "rpm", "-qa", "--qf", "%{NAME}\\n").split()
    assert set(wanted) <= set(names), sorted(set(wanted) - set(names))
    assert "gpg-pubkey" in names or not missing


def test_a_second_run_changes_nothing(el_run: ElRun):
    assert el_run.root.is_dir()
    assert el_run.second.returncode == 0, el_run.second.stdout + el_run.second.stderr
    assert "wrote" not in el_run.second.stdout, el_run.second.stdout
    assert el_run.second_changed == [], "the second run changed:\n" + "\n".join(el_run.second_changed[:50])


# ---------------------------------------------------------------- builder verify


def test_builder_verify_passes_every_item_that_applies(el_run: ElRun):
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "verify", str(el_run.spec_file), "--rootfs",
                           str(el_run.root)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    lines = [line.split(None, 2) for line in proc.stdout.splitlines()]
    statuses: dict[str, set[str]] = {}
    for words in lines:
        if len(words) >= 2 and words[0] in ("pass", "fail", "n/a"):
            statuses.setdefault(words[1], set()).add(words[0])
    assert proc.returncode == 0 and not any("fail" in s for s in statuses.values()), proc.stdout + proc.stderr
    # Every item the script has a step for, and that has something to do for this spec, passed.
    b = Baseline(el_run.spec)
    expected = {"packages", "users", "root", "sshd", "selinux", "firewall", "limits", "sysctls", "rc-local",
                "services", "locale", "timezone", "keyboard", "hosts"}
    expected |= {"repos"} if el_run.spec.repos else set()
    expected |= {"network"} if b.nm_keyfiles else set()
    expected |= {"time"} if b.chrony_conf else set()
    expected |= {"hostname"} if el_run.spec.hostname else set()
    expected |= {"prepull"} if b.prepull else set()
    expected |= {"prepull-mirrors"} if b.prepull_mirrors else set()
    expected |= {"files"} if el_run.spec.files else set()
    not_passed = {item: statuses.get(item) for item in expected if statuses.get(item) != {"pass"}}
    assert not_passed == {}, proc.stdout


# ---------------------------------------------------------------- the tools read what the script wrote


def test_sshd_accepts_the_config_and_uses_the_baseline_values(el_run: ElRun):
    if not el_run.spec.sshd.enabled:
        not_applicable("sshd is disabled in this spec")
    # Debian's sshd is built for /run/sshd as its privilege-separation directory (EL's: /var/empty/sshd).
    (el_run.root / "run/sshd").mkdir(parents=True, exist_ok=True)
    chroot_ok(el_run, "/usr/sbin/sshd", "-t")
    effective: dict[str, list[str]] = {}
    for line in chroot_ok(el_run, "/usr/sbin/sshd", "-T", "-C", "user=ops,host=x,addr=127.0.0.1").splitlines():
        key, _, value = line.partition(" ")
        effective.setdefault(key, []).append(value)
    want = {key.lower(): [value] for key, value in Baseline(el_run.spec).sshd_settings}
    want["port"] = [str(el_run.spec.sshd.port)]
    assert want["permitrootlogin"] == ["no"] and want["usedns"] == ["no"] and want["gssapiauthentication"] == ["no"]
    assert {key: effective.get(key) for key in want} == want


def test_firewalld_reads_back_the_spec_ports_and_services(el_run: ElRun):
    b = Baseline(el_run.spec)
    if not el_run.spec.firewall.enabled:
        not_applicable("the firewall is disabled in this spec")
    chroot_ok(el_run, "firewall-offline-cmd", "--check-config")
    listing = chroot_ok(el_run, "firewall-offline-cmd", "--list-all")
    fields = {key.strip(): value.split() for key, _, value in
              (line.partition(":") for line in listing.splitlines() if ":" in line)}
    assert set(b.firewall_ports) <= set(fields.get("ports", [])), listing
    assert set(el_run.spec.firewall.services) <= set(fields.get("services", [])), listing
    assert not set(b.firewall_services_removed) & set(fields.get("services", [])), listing
    assert "ssh" not in fields.get("services", []), listing


def test_the_sshd_port_is_labelled_where_selinux_is_not_disabled(el_run: ElRun):
    b = Baseline(el_run.spec)
    listing = chroot_ok(el_run, "semanage", "port", "-l")
    ssh_ports = next((line.split(None, 2)[2] for line in listing.splitlines() if line.startswith("ssh_port_t ")), "")
    ports = {p.strip() for p in ssh_ports.split(",")}
    if b.selinux_port_label:
        assert str(el_run.spec.sshd.port) in ports, listing
    else:
        assert ports == {"22"}, ssh_ports
    mode = re.search(r"(?m)^SELINUX=(\S+)$", (el_run.root / "etc/selinux/config").read_text())
    assert mode and mode[1] == b.selinux


def test_networkmanager_loads_every_keyfile(el_run: ElRun):
    keyfiles = Baseline(el_run.spec).nm_keyfiles
    if not keyfiles:  # no interfaces in this spec: the script wrote no profile
        connections = el_run.root / "etc/NetworkManager/system-connections"
        assert not connections.exists() or sorted(p.name for p in connections.iterdir()) == []
        return
    for path, _ in keyfiles:
        text = (el_run.root / path.lstrip("/")).read_text()
        # nmcli's keyfile reader and its connection validation (a bad uuid, a VLAN without parent: refused).
        out = chroot_ok(el_run, "nmcli", "--offline", "connection", "modify", stdin=text)
        device = path.rsplit("/", 1)[1].removesuffix(".nmconnection")
        assert re.search(r"(?m)^interface-name=" + re.escape(device) + "$", out), out
        # EL 8: NetworkManager would also load Anaconda's ifcfg file, a second profile for the device.
        assert not (el_run.root / "etc/sysconfig/network-scripts" / f"ifcfg-{device}").exists()


def test_chronyd_parses_the_config(el_run: ElRun):
    b = Baseline(el_run.spec)
    if b.chrony_conf is None:
        not_applicable("no time servers in this spec")
    printed = chroot_ok(el_run, "chronyd", "-p", "-f", b.paths.chrony_conf)
    for server in el_run.spec.time.servers:
        assert f"server {server} iburst" in printed


def test_systemd_accepts_the_units_the_baseline_writes(el_run: ElRun):
    b = Baseline(el_run.spec)
    if b.prepull is None:  # the baseline writes no unit for this spec, and the script wrote none
        assert not (el_run.root / "etc/systemd/system/builder-prepull.service").exists()
        assert not (el_run.root / "usr/local/libexec/builder-prepull").exists()
        return
    if shutil.which("systemd-analyze") is None:
        skip_or_fail("systemd-analyze is not installed (apt-get install systemd)")
    proc = subprocess.run(["systemd-analyze", "verify", f"--root={el_run.root}", "builder-prepull.service"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
