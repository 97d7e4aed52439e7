"""Golden kickstarts for the shipped examples, proven by pykickstart's own ksvalidator."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.golden import differs, goldens, kickstart

from builder.errors import SpecError
from builder.install.kickstart import render_kickstart, validate_kickstart
from builder.spec import load_spec, load_spec_text, spec_sha256

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
EL_EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if "debian" not in p.name)


def _render(path: Path) -> tuple[str, str]:
    spec, _, _ = load_spec(path)
    return render_kickstart(spec, spec_sha256(spec)), spec.target.info.kickstart_version


def test_every_el_example_has_a_golden_kickstart():
    assert {p.stem for p in EL_EXAMPLES} == {p.stem for p in GOLDEN.glob("*.ks")}
    assert len(EL_EXAMPLES) >= 4


@pytest.mark.parametrize("example", EL_EXAMPLES, ids=lambda p: p.stem)
def test_golden(example: Path):
    """Only compares: `make golden` (scripts/update-golden) is the one way to rewrite a golden file."""
    golden = GOLDEN / f"{example.stem}.ks"
    assert golden in goldens()
    message = differs(golden, kickstart(example))
    assert not message, message


@pytest.mark.parametrize("example", EL_EXAMPLES, ids=lambda p: p.stem)
def test_ksvalidator_accepts(example: Path, tmp_path: Path):
    """The real ksvalidator CLI, for the example's exact release."""
    # The ksvalidator of the environment that runs the tests (activated or not), else one on PATH.
    beside = Path(sys.executable).parent / "ksvalidator"
    ksvalidator = str(beside) if beside.exists() else shutil.which("ksvalidator")
    assert ksvalidator, "pykickstart's ksvalidator is neither beside the test interpreter nor on PATH"
    text, version = _render(example)
    ks = tmp_path / "ks.cfg"
    ks.write_text(text)
    result = subprocess.run([ksvalidator, "-v", version, str(ks)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_reports_line_of_a_bad_command():
    problems = validate_kickstart("text\nbogus --x\nselinux --enforcing\n", "RHEL9")
    assert [line for line, _ in problems] == [2]


def test_validator_treats_deprecation_as_error():
    problems = validate_kickstart("timezone UTC --utc --ntpservers=a.example.com\n", "RHEL9")
    assert problems and problems[0][0] == 1


def _spec(extra: str, target: str = "centos-stream-9") -> str:
    disk = "" if "kickstart:" in extra else "kickstart: {disk: {device: vda}}"
    return f"""
version: 1
name: t
target: {target}
users: [{{name: ops, admin: true, ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"]}}]
{disk}
{extra}
"""


def _ks(extra: str, target: str = "centos-stream-9") -> str:
    spec, _, _ = load_spec_text(_spec(extra, target))
    return render_kickstart(spec, spec_sha256(spec))


def test_classic_names_on_bootloader_and_selinux_zero_when_disabled_on_el9():
    assert re.search(r"^bootloader .*--append='net.ifnames=0 biosdevname=0'$", _ks(""), re.M)
    text = _ks("selinux: disabled")
    assert re.search(r"^bootloader .*--append='net.ifnames=0 biosdevname=0 selinux=0'$", text, re.M)
    assert re.search(r"^selinux --disabled$", text, re.M)
    # EL 8 still disables SELinux from its config file alone.
    assert "selinux=0" not in _ks("selinux: disabled", "rocky-8")


def test_classic_names_can_be_turned_off():
    text = _ks("network: {classic_names: false}")
    assert "net.ifnames" not in text


def test_nonstandard_ssh_port_is_opened_and_labelled():
    text = _ks("sshd: {port: 2222}")
    assert re.search(r"^firewall --enabled --port=2222:tcp --remove-service=ssh --remove-service=cockpit$", text, re.M)
    assert "policycoreutils-python-utils" in text.split("%packages")[1].split("%end")[0]
    assert "semanage port -a -t ssh_port_t -p tcp 2222" in text


STATIC_ETH0 = "network: {interfaces: [{name: eth0, bootproto: static, address: 10.0.0.5/24}]}"


@pytest.mark.parametrize("extra, line", [
    ("sshd: {port: 2222}", "firewall --enabled --port=2222:tcp --remove-service=ssh --remove-service=cockpit"),
    ("", "firewall --enabled --port=22:tcp --remove-service=ssh --remove-service=cockpit"),
    ("sshd: {port: 2222}\nfirewall: {services: [ssh, cockpit]}", "firewall --enabled --port=2222:tcp --service=ssh --service=cockpit"),
    ("sshd: {enabled: false}", "firewall --enabled --remove-service=ssh --remove-service=cockpit"),
    (STATIC_ETH0, "firewall --enabled --port=22:tcp --remove-service=ssh --remove-service=cockpit --remove-service=dhcpv6-client"),
    (STATIC_ETH0 + "\nfirewall: {services: [dhcpv6-client]}",
     "firewall --enabled --port=22:tcp --service=dhcpv6-client --remove-service=ssh --remove-service=cockpit"),
    ("firewall: {enabled: false}", "firewall --disabled"),
])
def test_the_firewall_opens_what_the_spec_says_and_closes_the_rest(extra, line):
    """ssh (22/tcp) only by the sshd port or when asked; cockpit only when asked; dhcpv6-client only with DHCP."""
    text = _ks(extra, "rocky-9")
    assert [ln for ln in text.splitlines() if ln.startswith("firewall ")] == [line]
    script = text[text.index("builder_step firewall"):] if "builder_step firewall" in text else ""
    script = script[:script.find("\n\n")]
    removed = re.findall(r"--remove-service=(\S+)", line)
    assert re.findall(r"^if firewall-offline-cmd -q --query-service=(\S+); then firewall-offline-cmd --remove-service=\1; fi$",
                      script, re.M) == removed


def test_root_locked_by_default_and_crypted_when_given():
    assert re.search(r"^rootpw --lock$", _ks(""), re.M)
    hash_ = "$6$abcdefgh$" + "A" * 86
    text = _ks(f'root: {{lock: false, password_hash: "{hash_}"}}')
    assert f"rootpw --iscrypted '{hash_}'" in text
    assert "--plaintext" not in text


def test_el8_uses_el8_spellings():
    text = _ks("time: {servers: [ntp1.example.com]}", "rocky-8")
    assert "timezone UTC --utc --ntpservers=ntp1.example.com" in text
    assert "%packages --instLangs=en_US" in text
    assert "timesource" not in text


def test_el10_uses_timesource():
    text = _ks("time: {servers: [ntp1.example.com, ntp2.example.com]}", "rocky-10")
    assert text.count("timesource --ntp-server=") == 2
    assert "%packages --inst-langs=en_US" in text


def test_toolset_names_mapped_for_el():
    packages = _ks("").split("%packages")[1].split("%end")[0].split()
    for name in ("nmap-ncat", "vim-enhanced", "chrony", "@^minimal-environment"):
        assert name in packages
    for classic in ("nc", "vim", "ntpdate"):
        assert classic not in packages


def test_post_applies_baseline_and_fails_the_install_on_error():
    text = _ks("")
    assert "%post --interpreter=/bin/bash --log=/root/ks-post.log --erroronfail" in text
    post = text.split("%post", 1)[1]
    assert "set -euo pipefail" in post and "10-builder.conf" in post


def test_kvm_host_layout():
    text, _ = _render(ROOT / "examples" / "kvm-host-rocky9.yaml")
    assert "network --device=eth0 --noipv4 --noipv6 --mtu=9000 --onboot=yes --no-activate --hostname=kvm01.internal.example.com" in text
    assert "part /var/lib/libvirt --fstype=xfs --size=1 --grow --ondisk=sda" in text
    assert "reqpart --add-boot" in text and "autopart" not in text


@pytest.mark.parametrize("device", ["disk/by-path/pci-0000:00:1f.2-ata-1", "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "nvme0n1"])
def test_the_disk_is_named_by_path_id_or_kernel_name(device):
    text = _ks(f"kickstart: {{disk: {{device: {device}, layout: custom, partitions: [{{mount: /, size_mib: 10240, grow: true}}]}}}}",
               "rocky-9")
    assert re.search(rf"^ignoredisk --only-use={re.escape(device)}$", text, re.M)
    assert re.search(rf"^clearpart --all --initlabel --drives={re.escape(device)}$", text, re.M)
    assert re.search(rf"^part / --fstype=xfs --size=10240 --grow --ondisk={re.escape(device)}$", text, re.M)
    assert validate_kickstart(text, "RHEL9") == []


@pytest.mark.parametrize("device", ["../sda", "disk/by-path/../../x", "disk/by-path/..", "sda;reboot", "/dev/disk/by-id/a b"])
def test_a_disk_name_that_is_not_one_is_refused(device):
    with pytest.raises(SpecError) as caught:
        load_spec_text(_spec(f'kickstart: {{disk: {{device: "{device}"}}}}'))
    assert [p.path for p in caught.value.problems] == ["kickstart.disk.device"]


def test_a_kickstart_without_a_named_disk_is_refused_with_how_to_find_it(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(_spec("", "rocky-9").replace("kickstart: {disk: {device: vda}}\n", ""))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "kickstart", "--out", str(out)],
                            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"{spec}:4: target: rocky-9 has no kickstart: the spec names no disk (kickstart.disk.device), and a kickstart " \
           "wipes the disk it installs on" in result.stderr
    assert "ls -l /dev/disk/by-path/" in result.stderr and "lsblk" in result.stderr
    assert not out.exists()
