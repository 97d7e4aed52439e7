"""The qcow2 build as composed for diskimage-builder: dry runs, DIB's own element resolution, dib-lint, the spec section."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.requirements import need_root

from builder.baseline import Baseline
from builder.bootstrap.plan import plan_for
from builder.bootstrap.tree import cache_dir
from builder.cli import main
from builder.errors import BuilderError
from builder.host import HostFamily, install_hint
from builder.kinds import needs_dib_element
from builder.qcow2.build import cache_key, check_host, host_tools
from builder.qcow2.dib import ELEMENTS_DIR, DibRun, compose, kernel_cmdline
from builder.spec import LoadedSpec, Spec, load_spec, load_spec_text
from builder.targets import Family

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EL_EXAMPLES = sorted(p for p in EXAMPLES.glob("*.yaml") if load_spec(p)[0].target.info.family is Family.EL
                     and load_spec(p)[0].target.info.distro != "rhel")
# The EL examples the qcow2 kind does not refuse (EL 8: its tree's rpm database; tested below).
EL_QCOW2_EXAMPLES = [p for p in EL_EXAMPLES if needs_dib_element(load_spec(p)[0]) is None]
DIB_DISTRO_ELEMENTS = {"debian-minimal", "debootstrap", "centos-minimal", "yum-minimal", "rocky-container",
                       "almalinux-container", "containerfile", "centos", "rhel"}


def composed(spec: Spec) -> DibRun:
    """The run `builder build --only qcow2` composes for a spec: from the spec's plan, with its base tree."""
    return compose(plan_for(LoadedSpec(Path("spec.yaml"), spec, []), images=True))


def dib_elements_dir() -> Path:
    import diskimage_builder

    return Path(diskimage_builder.__file__).parent / "elements"


def dry_run(capsys, spec: Path, tmp_path: Path) -> dict:
    out = tmp_path / "out"
    assert main(["build", str(spec), "--only", "qcow2", "--out", str(out), "--dry-run"]) == 0
    assert not out.exists(), "a dry run writes nothing"
    lines = capsys.readouterr().out.splitlines()
    parsed = {"env": {}, "repository": [], "file": []}
    for line in lines:
        key, _, value = line.partition(": ")
        if key == "env":
            name, _, val = value.partition("=")
            parsed["env"][name] = val
        elif key in ("repository", "file"):
            parsed[key].append(value)
        elif key in ("elements", "command", "compression", "root tree"):
            parsed[key] = value
    return parsed


def resolved(elements: list[str]) -> set[str]:
    """The elements DIB itself expands the list to (its own dependency resolution, which also refuses two
    elements that provide operating-system)."""
    env = {**os.environ, "ELEMENTS_PATH": f"{ELEMENTS_DIR}:{dib_elements_dir()}"}
    result = subprocess.run([sys.executable, "-m", "diskimage_builder.element_dependencies", *elements],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("spec", EL_QCOW2_EXAMPLES + [EXAMPLES / "debian12-node.yaml"], ids=lambda p: p.stem)
def test_dry_run_names_elements_that_dib_resolves(capsys, tmp_path, spec):
    parsed = dry_run(capsys, spec, tmp_path)
    elements = parsed["elements"].split()
    assert "vm" in elements and {"builder-baseline", "builder-seal"} <= set(elements)
    assert parsed["command"].split()[-len(elements):] == elements
    expanded = resolved(elements)
    assert set(elements) <= expanded
    assert "builder-root" in expanded and not expanded & DIB_DISTRO_ELEMENTS, "the OS is our bootstrapped tree only"


@pytest.mark.parametrize("spec", EL_QCOW2_EXAMPLES + [EXAMPLES / "debian12-node.yaml"], ids=lambda p: p.stem)
def test_dry_run_names_every_repository_and_only_the_specs(capsys, tmp_path, spec, example_urls):
    """The bootstrap and DIB's package installs contact the spec's repositories, and the plan says which."""
    parsed = dry_run(capsys, spec, tmp_path)
    loaded = load_spec(spec)[0]
    keys = [repo.gpgkey for repo in loaded.repos if isinstance(repo.gpgkey, str)]
    assert parsed["repository"] == list(dict.fromkeys([repo.baseurl for repo in loaded.repos] + keys))
    files = composed(loaded).files
    extension = ".sources" if "debian" in spec.stem else ".repo"  # docs/baseline.md: builder-NAME.repo or .sources
    assert sorted(p for p in files if p.startswith("repos/")) == sorted(f"repos/builder-{repo.name}{extension}" for repo in loaded.repos)
    tarball = composed(loaded).root.tarball
    assert f"/data/root.tar.zst -> {tarball}" in "\n".join(parsed["file"]) or tarball is None


@pytest.mark.parametrize("kind", ["qcow2", "container"])
def test_a_spec_without_repositories_has_no_image(capsys, tmp_path, kind):
    text = (EXAMPLES / "node-alma10.yaml").read_text()
    spec = tmp_path / "no-repos.yaml"
    spec.write_text(text[:text.index("repos:")] + text[text.index("hostname:"):])
    assert not load_spec(spec)[0].repos
    out = tmp_path / "out"
    assert main(["build", str(spec), "--only", kind, "--out", str(out), "--dry-run"]) == 2
    assert (f"has no {kind}: an image starts from a tree bootstrapped from the spec's repositories, and the spec has "
            "none") in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["qcow2", "container"])
def test_el8_plans_its_image_with_the_trees_own_rpm_writing_the_database(capsys, tmp_path, kind):
    out = tmp_path / "out"
    assert main(["build", str(EXAMPLES / "legacy-rocky8.yaml"), "--only", kind, "--out", str(out), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    # The dnf transactions, then the host's rpm exporting the database and the tree's own rpm importing it.
    assert plan.index("dnf -y") < plan.index("--exportdb") < plan.index("chroot ROOT rpmdb --dbpath /var/lib/rpm --importdb") \
        if kind == "qcow2" else plan.index("--exportdb") < plan.index("chroot WORK/root rpmdb --dbpath /var/lib/rpm --importdb")


def test_dry_run_debian_environment(capsys, tmp_path, example_urls):
    parsed = dry_run(capsys, EXAMPLES / "debian12-node.yaml", tmp_path)
    env = parsed["env"]
    assert "builder-root-debian" in parsed["elements"].split()
    assert (env["DISTRO_NAME"], env["DIB_RELEASE"]) == ("debian", "bookworm")
    assert not {"DIB_DISTRIBUTION_MIRROR", "DIB_DEBIAN_SECURITY_MIRROR"} & set(env), "APT reads the spec's sources files"
    assert env["DIB_BOOTLOADER_DEFAULT_CMDLINE"] == "'nofb nomodeset gfxpayload=text net.ifnames=0 biosdevname=0'"
    assert str(ELEMENTS_DIR) in env["ELEMENTS_PATH"]
    assert parsed["root tree"].startswith(f"{cache_dir()}/bookworm-minbase-")
    assert "debootstrap --variant=minbase" in parsed["root tree"]


@pytest.mark.parametrize("spec", EL_QCOW2_EXAMPLES + [EXAMPLES / "debian12-node.yaml"], ids=lambda p: p.stem)
def test_the_qcow2_and_the_container_start_from_one_tarball(capsys, tmp_path, spec):
    """One build of both images plans one base tree: both plans name the same cached tarball."""
    out = tmp_path / "out"
    assert main(["build", str(spec), "--only", "container", "--only", "qcow2", "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    container = next(line for line in lines if line.startswith("container: would run "))
    qcow2 = next(line.removeprefix("root tree: ") for line in lines if line.startswith("root tree: "))
    tarball = qcow2.split(" ", 1)[0]
    assert tarball.startswith(str(cache_dir())) and container.endswith(f": {tarball})")


@pytest.mark.parametrize("spec,name,release", [("compute-node-cs9", "centos", "9-stream"), ("kvm-host-rocky9", "rocky", "9")])
def test_dry_run_el_starts_from_the_spec_tree(capsys, tmp_path, spec, name, release):
    parsed = dry_run(capsys, EXAMPLES / f"{spec}.yaml", tmp_path)
    assert "builder-root-el" in parsed["elements"].split()
    assert (parsed["env"]["DISTRO_NAME"], parsed["env"]["DIB_RELEASE"]) == (name, release)
    assert "--installroot=ROOT" in parsed["root tree"] and parsed["root tree"].startswith(str(cache_dir()))
    loaded = load_spec(EXAMPLES / f"{spec}.yaml")[0]
    files = composed(loaded).files
    for repo in loaded.repos:
        assert f"baseurl={repo.baseurl}" in files[f"repos/builder-{repo.name}.repo"]


def test_no_secret_reaches_a_dib_variable():
    spec = load_spec(EXAMPLES / "compute-node-cs9.yaml")[0]
    run = composed(spec)
    hashes = [u.password_hash for u in spec.users if u.password_hash] + ([spec.root.password_hash] if spec.root.password_hash else [])
    for value in run.environment.values():
        assert not any(h in value for h in hashes)
    assert all(not key.startswith("DIB_") or "{data}" not in value for key, value in run.environment.items())


@pytest.mark.parametrize("spec,tools,absent", [("compute-node-cs9", ["dnf", "rpm"], ["debootstrap", "podman"]),
                                                ("kvm-host-rocky9", ["dnf", "rpm"], ["debootstrap", "podman"]),
                                                ("debian12-node", ["debootstrap"], ["dnf", "podman"])])
def test_host_tools_are_the_bootstrap_and_dib(spec, tools, absent):
    loaded = load_spec(EXAMPLES / f"{spec}.yaml")[0]
    needed = host_tools(loaded, composed(loaded))
    assert set(tools) <= set(needed) and not set(absent) & set(needed)
    assert {"qemu-img", "tar", "zstd"} <= set(needed)


@pytest.mark.parametrize("family,command", [(HostFamily.DEBIAN, "apt-get install dnf rpm"), (HostFamily.EL, "dnf install dnf rpm")])
def test_the_missing_tool_hint_names_the_build_hosts_packages(family, command):
    """An EL image built on a Debian host needs Debian's dnf and rpm packages; on an EL host, its own."""
    loaded = load_spec(EXAMPLES / "kvm-host-rocky9.yaml")[0]
    hint = install_hint(host_tools(loaded, composed(loaded)), family)
    assert command.split()[:-2] == hint.split()[:len(command.split()) - 2] and {"dnf", "rpm"} <= set(hint.split())
    assert ("qemu-utils" if family is HostFamily.DEBIAN else "qemu-img") in hint.split()


def test_the_host_check_names_what_is_missing(tmp_path, monkeypatch):
    need_root("the host check asks for root first")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    loaded = load_spec(EXAMPLES / "compute-node-cs9.yaml")[0]
    with pytest.raises(BuilderError) as failure:
        check_host(loaded, composed(loaded))
    assert "dnf, rpm" in str(failure.value)
    assert {"dnf", "rpm", "zstd"} <= set(failure.value.hint.split())


def test_kernel_cmdline_keeps_dib_defaults_and_adds_the_baseline():
    text = (EXAMPLES / "kvm-host-rocky9.yaml").read_text()
    spec = load_spec_text(text.replace("selinux: enforcing", "selinux: disabled") if "selinux:" in text
                          else text + "\nselinux: disabled\n")[0]
    assert kernel_cmdline(Baseline(spec)).split() == ["nofb", "nomodeset", "gfxpayload=text", "net.ifnames=0", "biosdevname=0", "selinux=0"]


def test_selinux_images_are_relabelled():
    assert "selinux-fixfiles-restore" in composed(load_spec(EXAMPLES / "kvm-host-rocky9.yaml")[0]).elements
    assert "selinux-fixfiles-restore" not in composed(load_spec(EXAMPLES / "debian12-node.yaml")[0]).elements


def test_cloud_init_none_leaves_the_element_out():
    text = (EXAMPLES / "debian12-node.yaml").read_text().replace("cloud_init: openstack", "cloud_init: none")
    assert "builder-cloud-init" not in composed(load_spec_text(text)[0]).elements
    assert "builder-cloud-init" in composed(load_spec(EXAMPLES / "debian12-node.yaml")[0]).elements


# The package with growpart on each distribution, as its official cloud images install it (AlmaLinux cloud-images'
# and Rocky's GenericCloud package lists; Debian 12's cloud-guest-utils, not the cloud-utils metapackage).
GROWPART = {"centos": "cloud-utils-growpart", "rocky": "cloud-utils-growpart", "almalinux": "cloud-utils-growpart",
            "debian": "cloud-guest-utils"}


@pytest.mark.parametrize("spec", EL_QCOW2_EXAMPLES + [EXAMPLES / "debian12-node.yaml"], ids=lambda p: p.stem)
def test_the_root_grows_with_the_familys_growpart(spec):
    """EL is provable here only by the composed run (no EL mirror); the booted check of `builder verify --qcow2`
    proves it in scripts/el-mirror-check with a real one."""
    loaded = load_spec(spec)[0]
    run = composed(loaded)
    assert "builder-growroot" in run.elements and "install-static" in resolved(list(run.elements))
    assert run.files["growroot-packages"].split() == [GROWPART[loaded.target.info.distro], "e2fsprogs"]
    assert run.environment["FS_TYPE"] == "ext4"  # what e2fsprogs' resize2fs grows


def test_the_root_grows_without_cloud_init():
    text = (EXAMPLES / "debian12-node.yaml").read_text().replace("cloud_init: openstack", "cloud_init: none")
    run = composed(load_spec_text(text)[0])
    assert "builder-growroot" in run.elements and "cloud-init" not in resolved(list(run.elements))


def test_growroot_data_and_unit_are_wired():
    extra_data = (ELEMENTS_DIR / "builder-growroot" / "extra-data.d" / "10-builder-growroot").read_text()
    assert '"$BUILDER_ELEMENT_DATA/growroot-packages"' in extra_data
    unit = (ELEMENTS_DIR / "builder-growroot" / "static" / "usr" / "lib" / "systemd" / "system" / "builder-growroot.service")
    lines = unit.read_text().splitlines()
    assert "ExecStart=/usr/libexec/builder-growroot" in lines and "WantedBy=sysinit.target" in lines
    assert "Before=cloud-init-local.service sysinit.target shutdown.target" in lines
    script = ELEMENTS_DIR / "builder-growroot" / "static" / "usr" / "libexec" / "builder-growroot"
    assert script.stat().st_mode & 0o111
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("spec", EL_QCOW2_EXAMPLES + [EXAMPLES / "debian12-node.yaml"], ids=lambda p: p.stem)
def test_the_serial_console_stays_on_the_kernel_command_line(spec):
    """DIB's bootloader element (which `vm` pulls in) writes console=$DIB_BOOTLOADER_SERIAL_CONSOLE into GRUB's
    command line, for EL's BLS entries too; the booted check reads /proc/cmdline."""
    run = composed(load_spec(spec)[0])
    assert run.environment["DIB_BOOTLOADER_SERIAL_CONSOLE"] == "ttyS0,115200"
    assert run.environment.get("DIB_BOOTLOADER_USE_SERIAL_CONSOLE", "True") == "True"
    assert "bootloader" in resolved(list(run.elements))
    bootloader = (dib_elements_dir() / "bootloader" / "finalise.d" / "50-bootloader").read_text()
    assert 'SERIAL_CONSOLE="console=${DIB_BOOTLOADER_SERIAL_CONSOLE}"' in bootloader


def test_block_device_and_size_and_compression():
    text = (EXAMPLES / "debian12-node.yaml").read_text().replace("block_device: mbr", "block_device: efi\n  disk_size_gib: 8\n  compress: true")
    run = composed(load_spec_text(text)[0])
    assert "block-device-efi" in run.elements and "block-device-mbr" not in run.elements
    assert run.environment["DIB_IMAGE_SIZE"] == "8"
    assert "-u" not in run.options
    assert "-u" not in composed(load_spec(EXAMPLES / "debian12-node.yaml")[0]).options, "compressed by default"
    plain = (EXAMPLES / "debian12-node.yaml").read_text().replace("block_device: mbr", "block_device: mbr\n  compress: false")
    assert "-u" in composed(load_spec_text(plain)[0]).options


def test_the_dry_run_shows_the_compression(capsys, tmp_path):
    assert dry_run(capsys, EXAMPLES / "debian12-node.yaml", tmp_path)["compression"].startswith("zlib-compressed")
    plain = tmp_path / "plain.yaml"
    plain.write_text((EXAMPLES / "debian12-node.yaml").read_text().replace("block_device: mbr", "block_device: mbr\n  compress: false"))
    parsed = dry_run(capsys, plain, tmp_path)
    assert parsed["compression"].startswith("none") and " -u" in parsed["command"]


def test_cache_key_follows_spec_base_tree_and_elements(tmp_path):
    spec = load_spec(EXAMPLES / "debian12-node.yaml")[0]
    run = composed(spec)
    extra = tmp_path / "elements" / "site"
    extra.mkdir(parents=True)
    (extra / "README.rst").write_text("site\n")
    tree = "1" * 64
    first = cache_key("a" * 64, run, [tmp_path / "elements"], tree)
    assert first == cache_key("a" * 64, run, [tmp_path / "elements"], tree)
    assert first != cache_key("b" * 64, run, [tmp_path / "elements"], tree)
    # A base tree bootstrapped again from a changed mirror makes another image.
    assert first != cache_key("a" * 64, run, [tmp_path / "elements"], "2" * 64)
    (extra / "README.rst").write_text("site, changed\n")
    assert first != cache_key("a" * 64, run, [tmp_path / "elements"], tree)


BAD_QCOW2 = [
    ("disk_size_gib: 1", "qcow2.disk_size_gib"),
    ("block_device: lvm", "qcow2.block_device"),
    ("cloud_init: maybe", "qcow2.cloud_init"),
    ("glance_properties: {os_hash_value: x}", "qcow2.glance_properties"),
    ("glance_properties: {hw_machine_type: 'q35; rm -rf /'}", "qcow2.glance_properties.hw_machine_type"),
    ("glance_name: 'Bad Name'", "qcow2.glance_name"),
    ("glance_clouds: [region-a, 'region b']", "qcow2.glance_clouds[1]: not a valid cloud name"),
    ("glance_clouds: [region-a, '-a']", "qcow2.glance_clouds[1]: not a valid cloud name"),
    ("glance_clouds: region-a", "qcow2.glance_clouds"),
    ("glance_clouds: [region-a, region-b, region-a]", "qcow2.glance_clouds[2]: cloud region-a is listed twice"),
    ("compres: true", "qcow2.compres"),
]


@pytest.mark.parametrize("line,path", BAD_QCOW2, ids=[p for _, p in BAD_QCOW2])
def test_bad_qcow2_section_is_refused_with_file_line_and_field(tmp_path, capsys, line, path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\nname: bad\ntarget: debian-12\nrepos:\n  - name: debian\n    baseurl: http://mirror.internal.example.com/debian\n"
                    f"    suites: [bookworm]\nqcow2:\n  {line}\n")
    out = tmp_path / "out"
    assert main(["build", str(spec), "--only", "qcow2", "--out", str(out), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:9: {path}" in err
    assert not out.exists()


def test_rhel_has_no_qcow2(tmp_path, capsys):
    spec = tmp_path / "rhel.yaml"
    spec.write_text("version: 1\nname: r\ntarget: rhel-9\nsshd: {enabled: false}\n")
    assert main(["build", str(spec), "--only", "qcow2", "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    assert "has no qcow2" in capsys.readouterr().err


def test_dib_lint_clean():
    """DIB's own linter on our elements (it runs from the directory that holds ELEMENTS_DIR)."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "ELEMENTS_DIR": "elements", "LIB_DIR": "elements/.none"}
    result = subprocess.run([str(bindir / "dib-lint")], cwd=ELEMENTS_DIR.parent, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
    for element in ELEMENTS_DIR.iterdir():
        assert f"Checking elements/{element.name}/" in result.stdout or not any(element.rglob("*.d/*"))


def test_element_scripts_shellcheck_clean():
    scripts = [p for p in ELEMENTS_DIR.rglob("*") if p.is_file() and p.parent.name.endswith(".d")
               and p.read_text().startswith("#!/bin/bash")]
    scripts += list((ROOT / "tests" / "support" / "dm-shims").iterdir())
    assert scripts
    result = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("spec", EL_QCOW2_EXAMPLES, ids=lambda p: p.stem)
def test_the_element_runs_the_kickstart_post_script(spec):
    """One baseline: the file builder-baseline runs is byte for byte the script inside the kickstart's %post."""
    from builder.install.kickstart import render_kickstart
    from builder.spec import spec_sha256

    loaded = load_spec(spec)[0]
    script = composed(loaded).files["baseline.sh"]
    assert script.rstrip("\n") in render_kickstart(loaded, spec_sha256(loaded))
    assert "builder_step finished" in script


def test_element_data_goes_through_a_file_not_a_dib_variable():
    run = composed(load_spec(EXAMPLES / "debian12-node.yaml")[0])
    assert run.environment["BUILDER_ELEMENT_DATA"] == "{data}"
    assert not any(key.startswith("DIB_") and "baseline" in value for key, value in run.environment.items())
    extra_data = (ELEMENTS_DIR / "builder-baseline" / "extra-data.d" / "10-builder-baseline").read_text()
    assert '"$BUILDER_ELEMENT_DATA/baseline.sh"' in extra_data


@pytest.mark.parametrize("kind", ["qcow2", "container"])
def test_an_el_key_on_the_installed_system_has_no_image(capsys, tmp_path, kind):
    """A file:// key names the installed system's file; dnf --installroot would read the build host's instead."""
    text = (EXAMPLES / "kvm-host-rocky9.yaml").read_text()
    spec = tmp_path / "local-key.yaml"
    spec.write_text(text.replace("gpgkey: http://mirror.internal.example.com/rocky/RPM-GPG-KEY-Rocky-9",
                                 "gpgkey: file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9"))
    out = tmp_path / "out"
    assert main(["build", str(spec), "--only", kind, "--out", str(out), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"has no {kind}: the key of repos baseos, appstream is a file:// path on the installed system" in err, err
    assert not out.exists()
