"""Machines in a spec, their kickstarts, and the PXE tree `builder publish --to pxe` writes."""
from __future__ import annotations

import hashlib
import json
import os
import re

import pytest
from support.install_spec import INSTALL_SPEC, MACS, REPO, install_spec, mac_key, reports, run
from support.serve import boots, report_token

from builder.baseline import Baseline
from builder.install.kickstart import validate_kickstart
from builder.spec import load_spec, machine_spec

SERVER = "http://10.0.2.2:8080"


def kickstart_lines(text: str, command: str) -> list[str]:
    return [line for line in text.splitlines() if line.split(" ", 1)[0] == command]


def published(tmp_path, *extra: str):
    spec = install_spec(tmp_path)
    root = tmp_path / "tree"
    result = run("publish", spec, "--to", "pxe", "--root", root, *extra)
    assert result.returncode == 0, result.stderr
    return spec, root


# ---------------------------------------------------------------- the spec


@pytest.mark.parametrize("old, new, line, path", [
    (f'mac: "{MACS[1].upper()}"', f'mac: "{MACS[0]}"', 18, "install.machines[1].mac"),
    ("vlan: 20", "vlan: 4095", 18, "install.machines[1].vlan"),
    ("gateway: 10.0.0.1", "gateway: 10.9.0.1", 17, "install.machines[0].gateway"),
    ("hostname: node03.example.com", "hostname: NODE01.example.com", 19, "install.machines[2].hostname"),
    ("mac: \"52:54:00:12:34:58\"", "mac: \"01:00:5e:00:00:01\"", 19, "install.machines[2].mac"),
    ("node03.example.com,", "node03.example.com, gateway: 10.0.0.1,", 19, "install.machines[2].gateway"),
    ("kernel_args: [console=ttyS0]", "kernel_args: [inst.ks=http://elsewhere/ks.cfg]", 15, "install.kernel_args[0]"),
    ("server_url: SERVER_URL", "server_url: http://x/$basearch", 14, "install.pxe.server_url"),
    ("server_url: SERVER_URL", "server_url: nfs://x/tree", 14, "install.pxe.server_url"),
])
def test_bad_machines_are_reported_at_their_line(tmp_path, old, new, line, path):
    assert old in INSTALL_SPEC
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace(old, new))
    result = run("validate", spec)
    assert result.returncode == 2, result.stderr
    assert reports(result.stderr, spec) == {(line, path)}, result.stderr


def test_bad_mac_and_an_install_section_on_debian_are_refused(tmp_path):
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace(MACS[2], "52:54:00:12:34"))
    result = run("validate", spec)
    assert result.returncode == 2
    assert "not a valid MAC address" in result.stderr and reports(result.stderr, spec) == {(19, "install.machines[2].mac")}
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace(f'"{MACS[2]}"', "52:54:00:12:34:58"))
    result = run("validate", spec)
    assert result.returncode == 2 and reports(result.stderr, spec) == {(19, "install.machines[2].mac")}
    assert "quote the MAC address" in result.stderr
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace("rocky-9", "debian-12"))
    result = run("validate", spec)
    assert result.returncode == 2 and reports(result.stderr, spec) == {(9, "kickstart"), (12, "install")}


def test_a_network_install_needs_a_tree_for_inst_repo(tmp_path):
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace(f"  install_source: {REPO}\n", "  reboot: true\n"))
    result = run("validate", spec)
    assert result.returncode == 2
    assert reports(result.stderr, spec) == {(13, "install.pxe.inst_repo")}
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace(f"  install_source: {REPO}\n", "  reboot: true\n").replace(
        "    server_url: SERVER_URL\n", f"    server_url: SERVER_URL\n    inst_repo: {REPO}\n"))
    result = run("validate", spec)
    assert result.returncode == 0, result.stderr
    assert f"{spec}:9: kickstart.install_source: warning: a PXE-booted installer has no CD-ROM" in result.stderr


def test_a_machine_whose_own_spec_would_break_is_reported(tmp_path):
    # eth0 is a bridge port in the baseline, so the machine cannot put its address on it.
    text = INSTALL_SPEC.replace("install:\n", "network:\n  interfaces: [{name: eth0, bootproto: none}]\n"
                                "  bridges: [{name: br0, ports: [eth0]}]\ninstall:\n")
    spec = install_spec(tmp_path, text=text)
    result = run("validate", spec)
    assert result.returncode == 2
    assert reports(result.stderr, spec) == {(20, "install.machines[0]")}
    assert "network.bridges[0].ports[0]: eth0 is a bridge port" in result.stderr


# ---------------------------------------------------------------- the kickstarts


def test_each_machine_gets_the_baseline_with_its_hostname_and_address(tmp_path):
    spec, _, _ = load_spec(install_spec(tmp_path))
    static, vlan, dhcp = (machine_spec(spec, m) for m in spec.install.machines)
    assert (static.hostname, vlan.hostname, dhcp.hostname) == ("node01.example.com", "node02.example.com", "node03.example.com")
    assert [(e.name, e.bootproto, e.address, e.gateway) for e in static.network.interfaces] == [("eth0", "static", "10.0.0.11/24", "10.0.0.1")]
    assert [(e.name, e.bootproto) for e in vlan.network.interfaces] == [("eth0", "none")]
    assert [(v.name, v.address) for v in vlan.network.vlans] == [("eth0.20", "10.20.0.12/24")]
    keyfiles = dict(Baseline(vlan).nm_keyfiles)
    assert "[vlan]\nparent=eth0\nid=20" in keyfiles["/etc/NetworkManager/system-connections/eth0.20.nmconnection"]
    assert dhcp.network == spec.network
    for derived in (static, vlan, dhcp):  # everything but the host's identity is the baseline's
        assert derived.model_dump(exclude={"hostname", "network", "install"}) == spec.model_dump(exclude={"hostname", "network", "install"})


def test_publish_writes_the_tree_and_every_kickstart_passes_pykickstart(tmp_path):
    _, root = published(tmp_path)
    keys = [mac_key(m) for m in MACS]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".state" not in p.parts) == sorted(
        ["boot.ipxe", "grub.cfg", "ks/default.cfg", "pxelinux.cfg/default"]
        + [f"ks/{k}.cfg" for k in keys] + [f"pxelinux.cfg/01-{k}" for k in keys] + [f"grub.cfg-01-{k}" for k in keys]
        + [f"boot-01-{k}.ipxe" for k in keys])
    for ks in root.glob("ks/*.cfg"):
        assert validate_kickstart(ks.read_text(), "RHEL9") == [], ks
    default = (root / "ks/default.cfg").read_text()
    node1 = (root / f"ks/{keys[0]}.cfg").read_text()
    assert kickstart_lines(default, "network") == []
    assert kickstart_lines(node1, "network") == [
        "network --device=eth0 --bootproto=static --ip=10.0.0.11 --netmask=255.255.255.0 --gateway=10.0.0.1 "
        "--nameserver=10.0.0.2 --onboot=yes --activate --hostname=node01.example.com"]
    assert kickstart_lines((root / f"ks/{keys[2]}.cfg").read_text(), "network") == ["network --hostname=node03.example.com"]
    packages = default[default.index("%packages"):default.index("%end")]
    assert all(packages in ks.read_text() for ks in root.glob("ks/*.cfg"))


def boot_lines(root) -> dict[str, list[str]]:
    """Every kernel command line of every boot config in the tree, by file."""
    out: dict[str, list[str]] = {}
    for path in [*root.glob("pxelinux.cfg/*"), *root.glob("grub.cfg*"), *root.glob("*.ipxe")]:
        pattern = r"^kernel (.*)$" if path.suffix == ".ipxe" else r"^\s*(?:APPEND|linux) (.*)$"
        out[path.relative_to(root).as_posix()] = re.findall(pattern, path.read_text(), re.M)
    return out


def test_every_entry_boots_the_installer_with_its_kickstart_repo_and_eth0_names(tmp_path):
    _, root = published(tmp_path)
    lines = boot_lines(root)
    assert {name: len(found) for name, found in lines.items()} == {
        "pxelinux.cfg/default": 1, "grub.cfg": 1, "boot.ipxe": 1,
        **{f"pxelinux.cfg/01-{mac_key(m)}": 1 for m in MACS}, **{f"grub.cfg-01-{mac_key(m)}": 1 for m in MACS},
        **{f"boot-01-{mac_key(m)}.ipxe": 1 for m in MACS}}
    for name, found in lines.items():
        for line in found:
            args = line.split()
            ks = next(a for a in args if a.startswith("inst.ks="))
            assert ks.startswith(f"inst.ks={SERVER}/ks/") and (root / ks.removeprefix(f"inst.ks={SERVER}/")).is_file(), name
            assert f"inst.repo={REPO}" in args and "net.ifnames=0" in args and "biosdevname=0" in args, name
            assert args.count("console=ttyS0") == 1, name
    node1 = lines[f"pxelinux.cfg/01-{mac_key(MACS[0])}"][0].split()
    assert f"inst.ks={SERVER}/ks/{mac_key(MACS[0])}.cfg" in node1
    assert "ip=10.0.0.11::10.0.0.1:255.255.255.0:node01.example.com:eth0:none" in node1 and "nameserver=10.0.0.2" in node1
    node2 = lines[f"grub.cfg-01-{mac_key(MACS[1])}"][0].split()
    assert "vlan=eth0.20:eth0" in node2 and "ip=10.20.0.12:::255.255.255.0:node02.example.com:eth0.20:none" in node2
    assert "inst.ks.sendmac" in lines["pxelinux.cfg/default"][0].split()
    assert lines["pxelinux.cfg/default"][0].startswith("initrd=images/pxeboot/initrd.img inst.ks=")
    assert "inst.ks.sendmac" in lines["boot.ipxe"][0].split() and "inst.ks.sendmac" in lines["grub.cfg"][0].split()
    node3 = lines[f"boot-01-{mac_key(MACS[2])}.ipxe"][0].split()
    assert f"inst.ks={SERVER}/ks/{mac_key(MACS[2])}.cfg" in node3 and not any(a.startswith("ip=") for a in node3)


def test_the_default_entries_boot_the_local_disk_and_installing_is_a_choice(tmp_path):
    _, root = published(tmp_path)
    pxelinux = (root / "pxelinux.cfg/default").read_text()
    assert re.search(r"^DEFAULT local$", pxelinux, re.M) and re.search(r"^LABEL local\n  MENU LABEL .*\n  LOCALBOOT 0$", pxelinux, re.M)
    assert re.search(r"^PROMPT 1$", pxelinux, re.M) and re.search(r"^TIMEOUT 50$", pxelinux, re.M)
    grub = (root / "grub.cfg").read_text()
    assert "set default=0\n" in grub and grub.index("menuentry") == grub.index("menuentry 'Boot from local disk' {\n  exit\n}")
    ipxe = (root / "boot.ipxe").read_text().splitlines()
    assert ipxe[0] == "#!ipxe" and ipxe[2] == "chain --autofree boot-01-${net0/mac:hexhyp}.ipxe && exit ||"
    assert ipxe[3].startswith("prompt --key i --timeout 5000 ") and ipxe[3].endswith(" && goto install ||")
    assert ipxe[4:6] == ["echo Booting from local disk", "exit"] and ipxe.index(":install") > 5
    for m in MACS:  # a listed machine's own entries install it, without asking
        assert re.search(r"^DEFAULT install\nPROMPT 0$", (root / f"pxelinux.cfg/01-{mac_key(m)}").read_text(), re.M)
        assert "exit" not in (root / f"grub.cfg-01-{mac_key(m)}").read_text()
        assert (root / f"boot-01-{mac_key(m)}.ipxe").read_text().endswith("\nboot\n")


def post_sections(kickstart: str) -> list[str]:
    return re.findall(r"^(%post [^\n]*\n.*?)^%end$", kickstart, re.M | re.S)


def test_a_machines_kickstart_reports_its_install_done_with_its_own_token_and_the_default_does_not(tmp_path):
    _, root = published(tmp_path)
    tokens = set()
    state = json.loads((root / ".state/current/machines.json").read_text())
    for m in MACS:
        last = post_sections((root / f"ks/{mac_key(m)}.cfg").read_text())[-1].splitlines()
        assert last[0] == "%post --interpreter=/bin/bash --log=/root/ks-installed.log --erroronfail"
        match = re.fullmatch(r"curl -fsS --retry 10 --retry-delay 15 --retry-connrefused --max-time 30 -X POST "
                             r"-H 'Authorization: Bearer ([A-Za-z0-9_-]{43})' " + re.escape(f"{SERVER}/done/{mac_key(m)}"), last[-1])
        assert match, last[-1]
        tokens.add(match[1])
        assert state[mac_key(m)] == {"armed": True, "tokens": [hashlib.sha256(match[1].encode()).hexdigest()], "reported": None}
    assert len(tokens) == len(MACS)
    default = (root / "ks/default.cfg").read_text()
    assert len(post_sections(default)) == 1 and "/done/" not in default and "Bearer" not in default
    for path in root.rglob("*"):  # the token is in its machine's kickstart only (the state keeps hashes)
        if path.is_file() and not path.is_symlink() and not path.match("ks/*.cfg"):
            assert not any(token in path.read_text() for token in tokens), path


def test_rearm_installs_an_installed_machine_again_and_publish_keeps_the_mark(tmp_path):
    from builder.install.pxe import local_boot_entries
    from builder.install.pxe_state import Report, record_reports

    spec, root = published(tmp_path)
    loaded, _, _ = load_spec(spec)
    key = mac_key(MACS[0])
    hostname, entries_ = local_boot_entries(loaded, spec)[key]
    assert hostname == "node01.example.com" and sorted(entries_) == [f"boot-01-{key}.ipxe", f"grub.cfg-01-{key}", f"pxelinux.cfg/01-{key}"]
    token = report_token(root, key)
    outcome, = record_reports(root, [Report(key, token, "192.0.2.1")], {key: entries_}, "2026-12-07T00:00:00+00:00")
    assert outcome.status == 200
    assert run("publish", spec, "--to", "pxe", "--root", root).returncode == 0  # publishing again does not re-arm it
    for name, data in entries_.items():
        assert (root / name).read_bytes() == data
    assert boots(root, key) == {"pxelinux": "local", "grub": "local", "ipxe": "local"}
    assert json.loads((root / ".state/current/machines.json").read_text())[key]["reported"] == "2026-12-07T00:00:00+00:00 by 192.0.2.1"
    result = run("publish", spec, "--to", "pxe", "--root", root, "--rearm", MACS[0].upper())
    assert result.returncode == 0, result.stderr
    assert f"re-armed {MACS[0]}" in result.stdout
    assert boots(root, key) == {"pxelinux": "install", "grub": "install", "ipxe": "install"}
    assert json.loads((root / ".state/current/machines.json").read_text())[key]["armed"] is True


def test_rearm_refuses_a_mac_the_spec_does_not_list_and_another_destination(tmp_path):
    spec, root = published(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    result = run("publish", spec, "--to", "pxe", "--root", root, "--rearm", "52:54:00:99:99:99")
    assert result.returncode == 2 and "not a MAC address of the spec's install.machines" in result.stderr
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    result = run("publish", spec, "--to", "registry", "--rearm", MACS[0])
    assert result.returncode == 2 and "--rearm is for --to pxe" in result.stderr


def test_kernel_and_initrd_can_come_from_a_url(tmp_path):
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace(
        "    server_url: SERVER_URL\n", "    server_url: SERVER_URL\n    kernel: http://boot.example.com:8000/el9/vmlinuz\n"
        "    initrd: el9/initrd.img\n"))
    root = tmp_path / "tree"
    assert run("publish", spec, "--to", "pxe", "--root", root).returncode == 0
    grub = (root / "grub.cfg").read_text()
    assert "linux (http,boot.example.com,8000)/el9/vmlinuz inst.ks=" in grub and "initrd /el9/initrd.img" in grub
    assert "KERNEL http://boot.example.com:8000/el9/vmlinuz" in (root / "pxelinux.cfg/default").read_text()


def test_publish_again_keeps_foreign_files_and_drops_removed_machines(tmp_path):
    spec, root = published(tmp_path)
    (root / "images/pxeboot").mkdir(parents=True)
    (root / "images/pxeboot/vmlinuz").write_bytes(b"kernel")
    text = spec.read_text()
    spec.write_text(text[:text.index("    - {hostname: node03")])
    result = run("publish", spec, "--to", "pxe", "--root", root)
    assert result.returncode == 0, result.stderr
    gone = mac_key(MACS[2])
    assert not any(gone in p.name for p in root.rglob("*") if ".state" not in p.parts), "machine 3's entries and kickstart stay behind"
    assert not any(gone in p.name for p in (root / ".state/current").rglob("*")) and gone not in (root / ".state/current/machines.json").read_text()
    assert (root / "images/pxeboot/vmlinuz").read_bytes() == b"kernel"
    assert (root / f"ks/{mac_key(MACS[0])}.cfg").is_file()
    assert not [p for p in root.rglob(".*") if p.name != ".state" and ".state" not in p.parent.parts], "temporary files left behind"
    current = int(os.readlink(root / ".state/current").removeprefix("gen-"))
    assert sorted(p.name for p in (root / ".state").iterdir()) == ["current", f"gen-{current - 1:08d}", f"gen-{current:08d}", "lock"]


def test_publish_copies_pxelinux_only_when_asked(tmp_path):
    _, root = published(tmp_path, "--with-pxelinux")
    assert (root / "pxelinux.0").stat().st_size > 0 and (root / "ldlinux.c32").stat().st_size > 0


def test_publish_refuses_bad_input_and_writes_nothing(tmp_path):
    spec = install_spec(tmp_path, text=INSTALL_SPEC.replace("vlan: 20", "vlan: 0"))
    root = tmp_path / "tree"
    result = run("publish", spec, "--to", "pxe", "--root", root)
    assert result.returncode == 2 and (18, "install.machines[1].vlan") in reports(result.stderr, spec)
    no_pxe = install_spec(tmp_path, text=INSTALL_SPEC[:INSTALL_SPEC.index("install:")])
    result = run("publish", no_pxe, "--to", "pxe", "--root", root)
    assert result.returncode == 2 and "no install.pxe section" in result.stderr
    assert not root.exists()


def test_a_tree_from_before_the_install_state_keeps_its_installed_machines(tmp_path):
    """A tree an older builder wrote (plain files, .installed/<mac> marks) is carried over by the first publish."""
    spec = install_spec(tmp_path)
    root = tmp_path / "tree"
    key = mac_key(MACS[1])
    (root / ".installed").mkdir(parents=True)
    (root / ".installed" / key).write_text("installed 2026-12-01T00:00:00+00:00 reported by 10.0.0.12\n")
    (root / "pxelinux.cfg").mkdir()
    (root / f"pxelinux.cfg/01-{key}").write_text("DEFAULT local\n")  # the old plain file, replaced by the symlink
    assert run("publish", spec, "--to", "pxe", "--root", root).returncode == 0
    assert boots(root, key) == {"pxelinux": "local", "grub": "local", "ipxe": "local"}
    assert boots(root, mac_key(MACS[0])) == {"pxelinux": "install", "grub": "install", "ipxe": "install"}
    assert (root / f"pxelinux.cfg/01-{key}").is_symlink() and not (root / ".installed").exists()
