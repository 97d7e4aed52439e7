"""The baseline checks on real root filesystem trees: a correct tree passes, each breakage fails clearly."""
from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from support.requirements import skip_or_fail
from support.rpmdb import build_rpms, copy_rpmdb, erase, make_rpmdb, why_not_rpm

from builder.baseline import Baseline
from builder.baseline.items import items_in
from builder.baseline.rootfs import RootFS, UnsafePath, sshd_global_settings
from builder.baseline.verify import Result, Status, verify_rootfs
from builder.spec import ContainerSettings, load_spec_text

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
HASH = "$6$saltsalt$Zm9vYmFyYmF6cXV4"
ITEMS = [item.name for item in items_in("rootfs")]

DEBIAN_SPEC = f"""
version: 1
name: web
target: debian-12
hostname: web01.example.com
hosts: [{{address: 10.0.0.5, names: [db.example.com]}}]
repos: [{{name: mirror, baseurl: "http://mirror.example.com/debian", suites: [bookworm]}}]
packages: {{install: [nginx]}}
users: [{{name: ops, admin: true, groups: [adm], password_hash: "{HASH}", ssh_keys: ["{KEY}"]}}]
sshd: {{port: 2222}}
timezone: Asia/Shanghai
time: {{servers: [ntp.example.com]}}
sysctls: {{net.ipv4.tcp_tw_reuse: 1}}
rc_local: {{commands: ["echo booted > /run/booted"]}}
services: {{enable: [nginx], disable: [apache2]}}
files: [{{path: /etc/app/app.conf, content: "token = s3cret\\n", mode: "0640", owner: root, group: adm}}]
"""

EL_SPEC = f"""
version: 1
name: db
target: centos-stream-9
users: [{{name: ops, admin: true, sudo_nopasswd: true, ssh_keys: ["{KEY}"]}}]
sshd: {{port: 2222}}
firewall: {{ports: [5432/tcp, 6000-6010/udp], services: [http]}}
"""


def baseline_of(text: str) -> Baseline:
    spec, _, _ = load_spec_text(text)
    return Baseline(spec)


def put(root: Path, path: str, content: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Path:
    host = root / path.lstrip("/")
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_bytes(content.encode() if isinstance(content, str) else content)
    os.chown(host, uid, gid)
    host.chmod(mode)
    return host


def link(root: Path, path: str, target: str) -> None:
    host = root / path.lstrip("/")
    host.parent.mkdir(parents=True, exist_ok=True)
    if host.is_symlink() or host.exists():
        host.unlink()
    host.symlink_to(target)


FIXTURES = Path(__file__).parent / "fixtures" / "verify"
# What git does not keep of the fixture trees: modes (0644 root:root unless listed), owners, symbolic links.
MODES: dict[str, tuple[int, int, int]] = {
    "/etc/shadow": (0o640, 0, 0),
    "/etc/ssh/sshd_config": (0o600, 0, 0),
    "/etc/ssh/sshd_config.d/10-builder.conf": (0o600, 0, 0),
    "/home/ops": (0o700, 1000, 1000),
    "/home/ops/.ssh": (0o700, 1000, 1000),
    "/home/ops/.ssh/authorized_keys": (0o600, 1000, 1000),
    "/home/ops/.bashrc": (0o640, 1000, 1000),
    "/etc/rc.local": (0o755, 0, 0),
    "/etc/rc.d/rc.local": (0o755, 0, 0),
    "/etc/app/app.conf": (0o640, 0, 4),  # group adm
    "/etc/sudoers.d": (0o750, 0, 0),
    "/etc/sudoers.d/90-builder-ops": (0o440, 0, 0),
    "/usr/local/libexec/builder-prepull": (0o755, 0, 0),
}
WANTS = "/etc/systemd/system/multi-user.target.wants"
LINKS: dict[str, dict[str, str]] = {
    "debian": {"/etc/localtime": "../usr/share/zoneinfo/Asia/Shanghai",
               **{f"{WANTS}/{unit}": f"/usr/lib/systemd/system/{unit}"
                  for unit in ("ssh.service", "chrony.service", "firewalld.service", "nginx.service")}},
    "el": {"/etc/localtime": "../usr/share/zoneinfo/UTC",
           **{f"{WANTS}/{unit}": f"/usr/lib/systemd/system/{unit}" for unit in ("sshd.service", "chronyd.service", "firewalld.service")}},
    "prepull-docker": {f"{WANTS}/builder-prepull.service": "/etc/systemd/system/builder-prepull.service"},
}
# EL_SPEC's baseline packages by their EL 9 names: the required ones, the classic ops toolset (no screen on EL 9,
# nc -> nmap-ncat, vim -> vim-enhanced), firewalld, semanage's package for the sshd port, and the langpack of en_US.
EL_PACKAGES = ("openssh-server", "chrony", "sudo", "wget", "net-tools", "lsof", "tcpdump", "nmap-ncat", "mtr", "vim-enhanced",
               "bash-completion", "lrzsz", "nmap", "telnet", "tree", "openssl-devel", "firewalld",
               "policycoreutils-python-utils", "glibc-langpack-en")


def lay_out(root: Path, *layers: str) -> Path:
    """The hand-written tree: tests/fixtures/verify/common, then each layer over it, with MODES and LINKS applied."""
    for layer in ("common", *layers):
        shutil.copytree(FIXTURES / layer, root, dirs_exist_ok=True)
        for path, target in LINKS.get(layer, {}).items():
            link(root, path, target)
    for path, (mode, uid, gid) in MODES.items():
        host = root / path.lstrip("/")
        if host.exists():
            os.chown(host, uid, gid)
            host.chmod(mode)
    return root


@pytest.fixture
def debian(tmp_path: Path) -> tuple[Baseline, Path]:
    return baseline_of(DEBIAN_SPEC), lay_out(tmp_path, "debian")


@pytest.fixture(scope="session")
def el_rpmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake EL root holding only an rpm database in which every EL_PACKAGES package is installed."""
    reason = why_not_rpm()
    if reason:
        skip_or_fail(reason)
    base = tmp_path_factory.mktemp("el-rpmdb")
    make_rpmdb(base / "root", build_rpms(EL_PACKAGES, base / "rpmbuild"))
    return base / "root"


@pytest.fixture
def el(tmp_path: Path, el_rpmdb: Path) -> tuple[Baseline, Path]:
    """The EL tree with its rpm database (the packages item reads it): without rpm, skipped, and failed in strict mode."""
    root = lay_out(tmp_path, "el")
    copy_rpmdb(el_rpmdb, root)
    return baseline_of(EL_SPEC), root


def by_status(results: list[Result], status: Status) -> list[Result]:
    return [r for r in results if r.status is status]


def failures(b: Baseline, root: Path, context: str = "rootfs") -> list[str]:
    return [str(r) for r in by_status(verify_rootfs(b, root, context), Status.FAIL)]


def assert_one_failure(b: Baseline, root: Path, item: str, *words: str) -> Result:
    failed = by_status(verify_rootfs(b, root), Status.FAIL)
    assert len(failed) == 1, "\n".join(map(str, failed))
    assert failed[0].item == item
    for word in words:
        assert word in failed[0].detail
    return failed[0]


# ---------------------------------------------------------------- correct trees


def test_correct_debian_tree_passes(debian):
    b, root = debian
    results = verify_rootfs(b, root)
    assert by_status(results, Status.FAIL) == []
    assert sorted({r.item for r in results}) == sorted(ITEMS), "every item yields a result"
    assert {r.item for r in by_status(results, Status.NA)} == {"keyboard", "selinux", "network", "prepull-mirrors", "prepull", "post-commands"}
    assert all(r.detail for r in results)


def test_correct_el_tree_passes(el):
    b, root = el
    results = verify_rootfs(b, root)
    assert by_status(results, Status.FAIL) == [], "\n".join(map(str, results))
    assert {r.item for r in results} == set(ITEMS)
    na = {r.item: r.detail for r in by_status(results, Status.NA)}
    assert "time" in na and "pool is kept" in na["time"]
    assert "packages" not in na, "the tree's rpm database is read"
    passed = [r.detail for r in by_status(results, Status.PASS)]
    assert "5432/tcp is open" in passed and "6000-6010/udp is open" in passed and "service http is allowed" in passed
    assert "tcp port 2222 is labelled ssh_port_t" in passed


def test_container_context_marks_host_owned_items_not_applicable(el):
    b, root = el
    (root / "etc/default/grub").unlink()
    (root / "etc/selinux/config").unlink()
    container = Baseline(b.spec, context="container")
    results = verify_rootfs(container, root, "container")
    na = {r.item: r.detail for r in by_status(results, Status.NA)}
    for item in ("kernel-args", "selinux", "firewall", "time", "sysctls", "services", "sshd", "hostname", "limits"):
        assert "container" in na[item], item
    assert "container.sshd" in na["sshd"], "the reason says how to keep sshd"
    assert by_status(results, Status.FAIL) == []
    # The packages that serve only those items are not asked of a container.
    assert {"chrony", "firewalld", "openssh-server"} & set(container.packages) == set()
    assert {"chrony", "firewalld", "openssh-server"} <= set(b.packages)


def test_container_with_sshd_checks_sshd(el):
    b, root = el
    spec = b.spec.model_copy(update={"container": ContainerSettings(sshd=True)})
    container = Baseline(spec, context="container")
    results = verify_rootfs(container, root, "container")
    assert any(r.item == "sshd" and r.status is Status.PASS for r in results), "container.sshd keeps the sshd checks"
    assert "openssh-server" in container.packages


def test_a_baseline_is_checked_in_its_own_context(el):
    b, root = el
    with pytest.raises(ValueError):
        verify_rootfs(b, root, "container")


def test_firewall_disabled_means_unit_not_enabled(tmp_path):
    b = baseline_of(DEBIAN_SPEC + "firewall: {enabled: false}\n")
    lay_out(tmp_path, "debian")
    (tmp_path / "etc/systemd/system/multi-user.target.wants/firewalld.service").unlink()  # the script disabled it
    results = verify_rootfs(b, tmp_path)
    assert [str(r) for r in results if r.item == "firewall"] == ["pass firewall: disabled (firewalld.service is not enabled)"]
    assert by_status(results, Status.FAIL) == []
    link(tmp_path, "/etc/systemd/system/multi-user.target.wants/firewalld.service", "/lib/systemd/system/firewalld.service")
    failed = failures(b, tmp_path)
    assert len(failed) == 2 and "firewalld.service is enabled" in failed[0] + failed[1]


def test_unknown_context_is_refused(el):
    b, root = el
    with pytest.raises(ValueError):
        verify_rootfs(b, root, "vm")


# ---------------------------------------------------------------- sshd


def test_sshd_later_dropin_cannot_override(debian):
    b, root = debian
    put(root, "/etc/ssh/sshd_config.d/99-late.conf", "PermitRootLogin yes\nPort 2222\n")
    assert failures(b, root) == []


def test_sshd_earlier_dropin_overrides_and_fails(debian):
    b, root = debian
    put(root, "/etc/ssh/sshd_config.d/05-early.conf", "passwordauthentication = yes\n")
    result = assert_one_failure(b, root, "sshd", "PasswordAuthentication is yes", "05-early.conf")
    assert "expected no" in result.detail


def test_sshd_extra_port_fails(debian):
    b, root = debian
    put(root, "/etc/ssh/sshd_config.d/60-extra.conf", "Port 22\n")
    assert_one_failure(b, root, "sshd", "22", "2222")


def test_sshd_include_is_required(debian):
    b, root = debian
    put(root, "/etc/ssh/sshd_config", "PasswordAuthentication no\n")  # EL 8 style: no Include
    failed = [r.detail for r in by_status(verify_rootfs(b, root), Status.FAIL)]
    assert any("Port is not set" in d for d in failed)
    assert any("PermitRootLogin is not set" in d for d in failed)


def test_sshd_config_itself_is_private_and_carries_the_settings(debian):
    """A scanner that reads only sshd_config (SSG) must see the drop-in's values there, in a 0600 file."""
    b, root = debian
    config = root / "etc/ssh/sshd_config"
    config.chmod(0o644)
    assert_one_failure(b, root, "sshd", "/etc/ssh/sshd_config has mode 0644", "expected 0600")
    config.chmod(0o600)
    text = config.read_text()
    config.write_text(text.replace("PermitEmptyPasswords no\n", ""))
    assert_one_failure(b, root, "sshd", "PermitEmptyPasswords is not set in /etc/ssh/sshd_config itself, expected no")
    config.write_text(text.replace("#PasswordAuthentication yes", "PasswordAuthentication yes"))
    assert_one_failure(b, root, "sshd", "PasswordAuthentication is no and yes in /etc/ssh/sshd_config itself")
    config.write_text(text.replace("#Port 22", "Port 2222"))
    assert_one_failure(b, root, "sshd", "/etc/ssh/sshd_config itself sets Port 2222")


def test_sshd_fixed_settings_are_checked_where_sshd_reads_them(debian):
    b, root = debian
    put(root, "/etc/ssh/sshd_config.d/05-early.conf", "ClientAliveCountMax 0\n")
    assert_one_failure(b, root, "sshd", "ClientAliveCountMax is 0", "expected 1")


def test_sshd_parsing_follows_relative_includes_and_stops_at_match(tmp_path):
    put(tmp_path, "/etc/ssh/sshd_config", textwrap.dedent("""\
        # comment
        Include conf.d/*.conf extra.conf
        useDNS no
        Match Address 10.0.0.0/8
        Include /etc/ssh/match.conf
        GSSAPIAuthentication yes
        """))
    put(tmp_path, "/etc/ssh/conf.d/b.conf", "PermitRootLogin no\n")
    put(tmp_path, "/etc/ssh/conf.d/a.conf", "PermitRootLogin \"prohibit-password\"\nMatch User x\nUseDNS yes\n")
    put(tmp_path, "/etc/ssh/conf.d/.hidden.conf", "Port 1\n")
    put(tmp_path, "/etc/ssh/extra.conf", "Port=2200\n")
    put(tmp_path, "/etc/ssh/match.conf", "Port 1\n")
    settings = sshd_global_settings(RootFS(tmp_path))
    assert [v.value for v in settings["permitrootlogin"]] == ["prohibit-password", "no"]
    assert settings["permitrootlogin"][0].source == "/etc/ssh/conf.d/a.conf"
    assert [v.value for v in settings["usedns"]] == ["no"], "a Match block in an included file ends at its end"
    assert [v.value for v in settings["port"]] == ["2200"]
    assert "gssapiauthentication" not in settings


# ---------------------------------------------------------------- the resolver


def test_symlink_climbing_out_of_root_is_refused(debian):
    b, root = debian
    link(root, "/etc/hostname", "../../../../../../../../etc/hostname")
    result = assert_one_failure(b, root, "hostname", "outside the root filesystem")
    host_name = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "\0"
    assert host_name not in result.detail


def test_absolute_symlink_stays_inside_root(debian):
    b, root = debian
    (root / "etc/hosts").rename(root / "etc/hosts.real")
    link(root, "/etc/hosts", "/etc/hosts.real")
    assert failures(b, root) == []
    assert RootFS(root).resolve("/etc/hosts") == root.resolve() / "etc/hosts.real"


def test_absolute_symlink_to_host_path_reads_the_tree(tmp_path):
    put(tmp_path, "/etc/passwd", "tree-only\n")
    link(tmp_path, "/data/pw", "/etc/passwd")
    link(tmp_path, "/data/dir", "/etc")
    fs = RootFS(tmp_path)
    assert fs.read_text("/data/pw") == "tree-only\n"
    assert fs.read_text("/data/dir/../etc/passwd") == "tree-only\n"
    with pytest.raises(UnsafePath):
        fs.resolve("/data/dir/../../x")


def test_symlink_loop_is_refused(debian):
    b, root = debian
    link(root, "/etc/hosts", "/etc/hosts.loop")
    link(root, "/etc/hosts.loop", "/etc/hosts")
    assert_one_failure(b, root, "hosts", "too many levels of symbolic links")


def test_fifo_is_not_read(debian):
    b, root = debian
    (root / "etc/hosts").unlink()
    os.mkfifo(root / "etc/hosts")
    assert_one_failure(b, root, "hosts", "not a regular file")


# ---------------------------------------------------------------- other breakages


def test_rc_local_not_executable_fails(debian):
    b, root = debian
    (root / "etc/rc.local").chmod(0o644)
    assert_one_failure(b, root, "rc-local", "not executable", "0644")


def test_missing_unit_symlink_fails(debian):
    b, root = debian
    (root / "etc/systemd/system/multi-user.target.wants/nginx.service").unlink()
    assert_one_failure(b, root, "services", "nginx.service is not enabled")


def test_disabled_unit_enabled_fails_and_mask_passes(debian):
    b, root = debian
    link(root, "/etc/systemd/system/multi-user.target.wants/apache2.service", "/lib/systemd/system/apache2.service")
    assert_one_failure(b, root, "services", "apache2.service is enabled")
    link(root, "/etc/systemd/system/apache2.service", "/dev/null")
    assert failures(b, root) == []


def test_unit_enabled_under_another_link_name_counts(debian):
    b, root = debian
    wants = root / "etc/systemd/system/multi-user.target.wants"
    (wants / "ssh.service").unlink()
    link(root, "/etc/systemd/system/sockets.target.wants/sshd.service", "/lib/systemd/system/ssh.service")
    assert failures(b, root) == []


def test_wrong_password_hash_fails_without_printing_it(debian):
    b, root = debian
    other = "$6$othersalt$YmFyYmF6"
    put(root, "/etc/shadow", f"root:*:1::::::\nops:{other}:1::::::\n", 0o640)
    assert_one_failure(b, root, "users", "ops:", "password hash")
    everything = " ".join(r.detail for r in verify_rootfs(b, root))
    assert HASH not in everything and other not in everything and "saltsalt" not in everything


def test_authorized_keys_mode_owner_and_content(debian):
    b, root = debian
    keys = root / "home/ops/.ssh/authorized_keys"
    keys.chmod(0o644)
    os.chown(keys, 0, 0)
    result = assert_one_failure(b, root, "users", "mode 0644, expected 0600", "owned by uid 0, expected 1000")
    keys.write_text('from="10.0.0.0/8" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w other-comment\n')
    keys.chmod(0o600)
    os.chown(keys, 1000, 1000)
    assert failures(b, root) == [], "options and another comment do not make a different key"
    keys.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther ops@example\n")
    assert_one_failure(b, root, "users", "SSH key 1 (ops@example)")
    (root / "home/ops/.ssh").chmod(0o755)
    assert "/home/ops/.ssh has mode 0755, expected 0700" in failures(b, root)[0]
    assert result.detail.startswith("ops: ")


def test_sudoers_dropin_mode(el):
    b, root = el
    assert "pass users: ops: passwordless sudo through /etc/sudoers.d/90-builder-ops" in map(str, verify_rootfs(b, root))
    (root / "etc/sudoers.d/90-builder-ops").chmod(0o644)
    assert_one_failure(b, root, "users", "ops: /etc/sudoers.d/90-builder-ops has mode 0644, expected 0440")
    (root / "etc/sudoers.d/90-builder-ops").chmod(0o440)
    (root / "etc/sudoers.d").chmod(0o755)
    assert_one_failure(b, root, "users", "/etc/sudoers.d has mode 0755, expected 0750")


def test_home_and_its_login_scripts_are_the_users_alone(debian):
    b, root = debian
    (root / "home/ops").chmod(0o755)
    assert_one_failure(b, root, "users", "ops: /home/ops has mode 0755, expected 0700")
    (root / "home/ops").chmod(0o700)
    (root / "home/ops/.bashrc").chmod(0o644)
    assert_one_failure(b, root, "users", "/home/ops/.bashrc has mode 0644")
    (root / "home/ops/.bashrc").chmod(0o600)
    put(root, "/home/ops/notes.txt", "not a login script\n", 0o644, 1000, 1000)
    assert failures(b, root) == []
    os.chown(root / "home/ops", 0, 0)
    (root / "home/ops").chmod(0o755)
    assert failures(b, root) == [], "a home the user does not own (a system account's) is left alone"


def test_login_defs_hashes_like_pam(debian):
    b, root = debian
    assert "pass users: ENCRYPT_METHOD YESCRYPT in /etc/login.defs (as PAM hashes)" in map(str, verify_rootfs(b, root))
    put(root, "/etc/login.defs", "ENCRYPT_METHOD YESCRYPT\nENCRYPT_METHOD SHA512\n")
    assert_one_failure(b, root, "users", "ENCRYPT_METHOD in /etc/login.defs is 'SHA512', expected 'YESCRYPT'")


def test_login_defs_left_alone_on_el(el):
    b, root = el  # EL's login.defs and PAM agree already (SHA512)
    assert b.encrypt_method is None and not any("ENCRYPT_METHOD" in r.detail for r in verify_rootfs(b, root))


def test_user_not_in_admin_group_fails(debian):
    b, root = debian
    put(root, "/etc/group", "root:x:0:\nadm:x:4:ops\nsudo:x:27:\nops:x:1000:\n")
    assert_one_failure(b, root, "users", "not a member of sudo")


def test_unlocked_root_fails(debian):
    b, root = debian
    put(root, "/etc/shadow", f"root:{HASH}:1::::::\nops:{HASH}:1::::::\n", 0o640)
    assert_one_failure(b, root, "root", "not locked")


def test_extra_file_mode_owner_content_never_echoed(debian):
    b, root = debian
    path = root / "etc/app/app.conf"
    path.write_text("token = leaked\n")
    path.chmod(0o644)
    result = assert_one_failure(b, root, "files", "/etc/app/app.conf", "content differs", "mode is 0644, expected 0640")
    assert "leaked" not in result.detail and "s3cret" not in result.detail
    os.chown(path, 0, 0)
    assert "group is gid 0, expected adm (4)" in failures(b, root)[0]


def test_changed_managed_file_names_the_line(debian):
    b, root = debian
    sysctls = root / "etc/sysctl.d/90-builder.conf"
    sysctls.write_text(sysctls.read_text().replace("tcp_tw_reuse = 1", "tcp_tw_reuse = 0"))
    assert_one_failure(b, root, "sysctls", "line 4", "tcp_tw_reuse = 1")


def test_baseline_sysctls_come_first_and_a_spec_value_wins():
    b = baseline_of(DEBIAN_SPEC)
    assert b.sysctl_file == ("# Managed by builder\nfs.suid_dumpable = 0\nkernel.randomize_va_space = 2\n"
                             "net.ipv4.tcp_tw_reuse = 1\n")
    b = baseline_of(DEBIAN_SPEC.replace("sysctls: {net.ipv4.tcp_tw_reuse: 1}", "sysctls: {fs.suid_dumpable: 2}"))
    assert b.sysctls == {"kernel.randomize_va_space": "2", "fs.suid_dumpable": "2"}


def test_missing_package_and_locale(debian):
    b, root = debian
    status = (root / "var/lib/dpkg/status").read_text().replace("Package: nginx\nStatus: install ok installed",
                                                                 "Package: nginx\nStatus: deinstall ok config-files")
    put(root, "/var/lib/dpkg/status", status)
    assert_one_failure(b, root, "packages", "not installed: nginx")
    put(root, "/etc/locale.gen", "# en_US.UTF-8 UTF-8\n")
    assert any("en_US.UTF-8 is not enabled in /etc/locale.gen" in f for f in failures(b, root))


def test_an_unset_or_missing_setting_is_said_so_not_shown_as_none(debian):
    b, root = debian
    put(root, "/etc/default/locale", "LC_ALL=C\n")
    assert_one_failure(b, root, "locale", "LANG is not set in /etc/default/locale, expected LANG=en_US.UTF-8")
    (root / "etc/default/locale").unlink()
    assert_one_failure(b, root, "locale", "/etc/default/locale is missing, expected LANG=en_US.UTF-8")


def test_an_unset_or_missing_el_setting_is_said_so(el):
    b, root = el
    (root / "etc/vconsole.conf").unlink()
    (root / "etc/selinux/config").write_text("SELINUXTYPE=targeted\n")
    details = failures(b, root)
    assert any("/etc/vconsole.conf is missing, expected KEYMAP=" in d for d in details), details
    assert any("SELINUX is not set in /etc/selinux/config, expected SELINUX=" in d for d in details), details
    assert not any("None" in d for d in details), details


def test_timezone_symlink_target(debian):
    b, root = debian
    link(root, "/etc/localtime", "/usr/share/zoneinfo/Etc/UTC")
    assert_one_failure(b, root, "timezone", "expected .../zoneinfo/Asia/Shanghai")
    link(root, "/etc/localtime", "/usr/share/zoneinfo/Asia/Shanghai")
    (root / "usr/share/zoneinfo/Asia/Shanghai").unlink()
    assert_one_failure(b, root, "timezone", "does not exist")


def test_firewall_port_missing(el):
    b, root = el
    xml = (root / "etc/firewalld/zones/public.xml").read_text().replace('port="2222"', 'port="22"')
    put(root, "/etc/firewalld/zones/public.xml", xml)
    assert_one_failure(b, root, "firewall", "2222/tcp is not open")


def test_firewall_service_the_spec_does_not_ask_for(el):
    b, root = el
    assert "ssh" in b.firewall_services_removed and "cockpit" in b.firewall_services_removed
    results = [str(r) for r in verify_rootfs(b, root) if r.item == "firewall"]
    assert "pass firewall: service ssh is not allowed" in results and "pass firewall: service cockpit is not allowed" in results
    xml = (root / "etc/firewalld/zones/public.xml").read_text().replace("</zone>", '  <service name="ssh"/>\n</zone>')
    put(root, "/etc/firewalld/zones/public.xml", xml)
    assert_one_failure(b, root, "firewall", "service ssh is allowed in the public zone, and the spec does not ask for it")


def test_selinux_mode_and_port_label(el):
    b, root = el
    put(root, "/etc/selinux/config", "SELINUX=permissive\n")
    (root / "var/lib/selinux/targeted/active/ports.local").unlink()
    failed = failures(b, root)
    assert len(failed) == 2
    assert "'permissive', expected 'enforcing'" in failed[0] and "sshd could not bind it" in failed[1]


def test_the_port_label_is_read_from_the_store_the_config_names(el):
    b, root = el
    put(root, "/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=mls\n")
    assert_one_failure(b, root, "selinux", "not labelled ssh_port_t in /var/lib/selinux/mls/active/ports.local")
    (root / "var/lib/selinux/targeted").rename(root / "var/lib/selinux/mls")
    assert failures(b, root) == []


def test_kernel_args_from_boot_entries(el):
    b, root = el
    (root / "etc/default/grub").unlink()
    assert [r.status for r in verify_rootfs(b, root) if r.item == "kernel-args"] == [Status.NA]
    put(root, "/boot/grub2/grubenv", "kernelopts=root=/dev/vda1 ro net.ifnames=0 biosdevname=0\n")
    put(root, "/boot/loader/entries/a.conf", "title A\noptions $kernelopts\n")
    put(root, "/boot/loader/entries/b.conf", "title B\noptions root=/dev/vda1 net.ifnames=0\n")
    assert_one_failure(b, root, "kernel-args", "biosdevname=0 is not in every /boot/loader/entries/*.conf")
    put(root, "/etc/kernel/cmdline", "root=/dev/vda1 biosdevname=0\n")
    assert failures(b, root) == []


def test_rpm_database_with_every_package_passes(el, el_rpmdb):
    b, root = el
    results = verify_rootfs(b, root)
    assert [str(r) for r in results if r.item == "packages"] == [f"pass packages: all {len(EL_PACKAGES)} baseline packages are installed"]
    assert by_status(results, Status.FAIL) == []


def test_rpm_erased_package_fails(el, el_rpmdb):
    b, root = el
    erase(root, "firewalld")
    assert_one_failure(b, root, "packages", "not installed: firewalld")
    erase(root, "sudo", "glibc-langpack-en")
    assert_one_failure(b, root, "packages", "not installed: sudo, firewalld, glibc-langpack-en")


def test_rpm_database_location(el, el_rpmdb):
    b, root = el
    sysimage = root / "usr/lib/sysimage"
    sysimage.mkdir(parents=True)
    (root / "var/lib/rpm").rename(sysimage / "rpm")  # EL 10
    link(root, "/var/lib/rpm", "../../usr/lib/sysimage/rpm")
    assert failures(b, root) == []
    shutil.rmtree(sysimage)
    before = sorted(root.rglob("*"))
    assert_one_failure(b, root, "packages", "no rpm database in /usr/lib/sysimage/rpm or /var/lib/rpm")
    assert sorted(root.rglob("*")) == before, "the check created no database"


def test_root_must_be_a_directory(tmp_path):
    from builder.errors import BuilderError

    with pytest.raises(BuilderError):
        verify_rootfs(baseline_of(EL_SPEC), tmp_path / "missing")


def test_verify_leaves_the_tree_untouched(el):
    """Checks only read: not one byte, mode or mtime changes, rpm database included."""
    b, root = el

    def snapshot() -> dict[str, tuple]:
        out = {}
        for path in sorted(root.rglob("*")):
            st = path.lstat()
            out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_uid, st.st_gid)
        return out

    before = snapshot()
    verify_rootfs(b, root)
    assert snapshot() == before


def test_prepull_unit_and_script_are_checked(tmp_path):
    b = baseline_of(DEBIAN_SPEC + "container: {prepull: {image: 'registry.example.com:5000/base/node:1', engine: docker}}\n")
    lay_out(tmp_path, "debian", "prepull-docker")
    assert "docker.io" in b.packages
    results = [r for r in verify_rootfs(b, tmp_path) if r.item == "prepull"]
    assert [r.status for r in results] == [Status.PASS] * 3, results
    (tmp_path / "etc/systemd/system/multi-user.target.wants/builder-prepull.service").unlink()
    assert any("builder-prepull.service is not enabled" in f for f in failures(b, tmp_path))


def test_seal_refuses_a_group_writable_program_on_path(debian):
    b, root = debian
    put(root, "/usr/local/bin/dib-init-system", "#!/bin/bash\n", 0o775)
    seal = [r for r in verify_rootfs(b, root, "qcow2") if r.item == "seal" and "/usr/local" in r.detail]
    assert [(r.status, r.detail) for r in seal] == [(Status.FAIL, "group or world writable on PATH: /usr/local/bin/dib-init-system")]
    (root / "usr/local/bin/dib-init-system").chmod(0o755)
    link(root, "/usr/local/sbin/tool", "/usr/bin/true")  # a symlink's own mode means nothing
    seal = [r for r in verify_rootfs(b, root, "qcow2") if r.item == "seal" and "/usr/local" in r.detail]
    assert [r.status for r in seal] == [Status.PASS]
