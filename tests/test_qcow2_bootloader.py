"""The bootloader packages an EL qcow2 asks for, as DIB resolves them: the composed run's hooks and environment
(DIB's own `dib-run-parts`, the elements DIB's own resolution expands the run to) and DIB's real `pkg-map`, for the
names DIB's bootloader element asks (its finalise.d: grub-pc on an mbr or gpt disk, grub-efi and grub-efi-$ARCH
on an efi one), for every EL target builder makes a qcow2 of."""
from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.requirements import need_root

from builder.bootstrap.plan import plan_for
from builder.errors import BuilderError
from builder.qcow2.dib import DibRun, compose, environment_for
from builder.spec import BlockDevice, LoadedSpec, load_spec_text
from builder.targets import Family, Target

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "node-alma10.yaml"

# Every EL target DIB builds from our tree (RHEL has no DIB build), EL 8 among them as the control.
EL_TARGETS = [t for t in Target if t.info.family is Family.EL and t.info.distribution.dib is not None]

# What the official x86_64 images install to boot, all from BaseOS (hand-copied, independent of builder): AlmaLinux
# cloud-images' GenericCloud package lists (tests/packages/9/...-9.7-20251118, 10/...-10.1-20251125: grub and shim
# packages, efibootmgr); osbuild/images' rhel-9 and rhel-10 x86_64 UEFI and BIOS platform packages (grub2-efi-x64,
# shim-x64, efibootmgr, grub2-pc) are among them. Neither lists grub2-efi-x64-modules: EL 9 and 10 have none in
# BaseOS or AppStream.
OFFICIAL_BOOT_PACKAGES = {
    9: {"efibootmgr", "grub2-common", "grub2-efi-x64", "grub2-pc", "grub2-pc-modules", "grub2-tools",
        "grub2-tools-minimal", "shim-x64"},
    10: {"efibootmgr", "grub2-common", "grub2-efi-x64", "grub2-pc", "grub2-pc-modules", "grub2-tools",
         "grub2-tools-extra", "grub2-tools-minimal", "shim-x64"},
}
# EL 8's BaseOS has grub2-efi-x64-modules (AlmaLinux 8's errata ship grub2-efi-x64-modules-2.02-123.el8.alma): DIB's
# own redhat names stay right there.
EL8_EFI = {"grub2-efi-x64", "grub2-efi-x64-modules", "shim-x64"}

# DIB's block-device elements and the DIB_BLOCK_DEVICE each sets (their environment.d).
BLOCK_DEVICES = {"block-device-mbr": "mbr", "block-device-gpt": "gpt", "block-device-efi": "efi"}
# The names DIB's bootloader asks pkg-map for, per DIB_BLOCK_DEVICE (its finalise.d/50-bootloader, checked below).
ASKED = {"mbr": ["grub-pc"], "gpt": ["grub-pc"], "efi": ["grub-efi", "grub-efi-$ARCH"]}


def dib_dir() -> Path:
    import diskimage_builder

    return Path(diskimage_builder.__file__).parent


def spec_for(target: Target, block_device: BlockDevice) -> LoadedSpec:
    text = EXAMPLE.read_text().replace("target: alma-10", f"target: {target.value}")
    text += f"qcow2:\n  block_device: {block_device.value}\n"
    return LoadedSpec(Path("spec.yaml"), load_spec_text(text)[0], [])


def composed(target: Target, block_device: BlockDevice) -> DibRun:
    """The run `builder build --only qcow2` composes. EL 8 has no bootstrapped tree yet (its rpm database): its run
    is composed with EL 9's tree, which nothing here reads (only the tarball's link names it)."""
    item = spec_for(target, block_device)
    try:
        return compose(plan_for(item, images=True))
    except BuilderError:
        if target.info.major != 8:
            raise
    sibling = plan_for(spec_for(Target.ROCKY_9, block_device), images=True)
    return compose(dataclasses.replace(plan_for(item, images=False), image=sibling.image))


def dib_resolves(run: DibRun, tmp_path: Path, *asked: list[str]) -> list[set[str]]:
    """The packages `install-packages -m bootloader NAMES` installs in the chroot of `run`, for each list of names
    `asked`: the run's extra-data.d phase as disk-image-create runs it (every expanded element's hooks and
    environment.d in one hooks directory, DIB's dib-run-parts), then DIB's pkg-map under the same environment.d,
    reading the map the phase left in /usr/share/pkg-map/bootloader."""
    data, mount, hooks = tmp_path / "data", tmp_path / "mnt", tmp_path / "hooks"
    for path, content in run.files.items():
        (data / path).parent.mkdir(parents=True, exist_ok=True)
        (data / path).write_text(content)
    (mount / "tmp").mkdir(parents=True)
    (tmp_path / "tmp").mkdir()  # TMPDIR (environment_for): the build directory's
    env = {**os.environ, **environment_for(run, data, [])}
    env["ELEMENTS_PATH"] += f":{dib_dir() / 'elements'}"  # disk-image-create appends its own (lib/common-defaults)
    arch = run.options[run.options.index("-a") + 1]
    elements = ["base", *run.elements]  # disk-image-create adds base (no -n)
    expanded = subprocess.run([sys.executable, "-m", "diskimage_builder.element_dependencies", "--env", *elements],
                              env=env, capture_output=True, text=True, check=True).stdout
    script = tmp_path / "elements.bash"
    script.write_text(expanded + "export -f get_image_element_array\n")
    element_dirs = subprocess.run(["bash", "-c", f'source {script}; echo "$IMAGE_ELEMENT_YAML"'], env=env,
                                  capture_output=True, text=True, check=True).stdout
    for line in filter(None, element_dirs.splitlines()):  # DIB's generate_hooks and copy_hooks_not_overwrite
        name, _, directory = line.partition(": ")
        assert Path(directory).is_absolute(), line
        for sub in sorted(Path(directory).iterdir()):
            if sub.is_dir() and sub.name not in ("tests", "__pycache__"):
                (hooks / sub.name).mkdir(parents=True, exist_ok=True)
                for hook in sorted(sub.iterdir()):
                    # DIB refuses a second file of one name (`test -f`); directories (static/usr) merge (`cp -a`).
                    assert not (hooks / sub.name / hook.name).is_file(), f"duplicated hook {name}/{sub.name}/{hook.name}"
                    if hook.is_dir():
                        shutil.copytree(hook, hooks / sub.name / hook.name, symlinks=True, dirs_exist_ok=True)
                    else:
                        shutil.copy2(hook, hooks / sub.name / hook.name)
    (hooks / "install.d").mkdir(exist_ok=True)
    probe = hooks / "probe.d" / "50-pkg-map"
    probe.parent.mkdir()
    # In the chroot, install-packages runs `pkg-map --element bootloader NAMES`: /usr/share/pkg-map/bootloader. The
    # variables the bootloader's finalise.d reads go to stderr.
    probe.write_text('#!/bin/bash\necho "seen: $DISTRO_NAME $DIB_RELEASE $DIB_BLOCK_DEVICE $EFI_BOOT_DIR" >&2\n'
                     f'exec {sys.executable} {dib_dir()}/elements/pkg-map/bin/pkg-map '
                     '--pkg-map "$TMP_MOUNT_PATH/usr/share/pkg-map/bootloader" $ASKED\n')
    probe.chmod(probe.stat().st_mode | stat.S_IXUSR)
    env.update(TMP_MOUNT_PATH=str(mount), TMP_HOOKS_PATH=str(hooks), ARCH=arch, DIB_PYTHON_EXEC=sys.executable,
               DIB_DEFAULT_INSTALLTYPE="source", DIB_ARGS="", IMAGE_NAME="image")
    run_parts = dib_dir() / "lib" / "dib-run-parts"

    def run_parts_on(phase: str, **extra: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["bash", "-c", f'source {script}; exec "$0" "$1"', str(run_parts), str(hooks / phase)],
                                env={**env, **extra}, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    run_parts_on("extra-data.d")
    results = [run_parts_on("probe.d", ASKED=" ".join(names)) for names in asked]
    seen = {line for result in results for line in result.stderr.splitlines() if line.startswith("seen: ")}
    assert len(seen) == 1, seen
    distro_name, release, block_device, efi_dir = seen.pop().removeprefix("seen: ").split()
    assert (distro_name, release) == (run.environment["DISTRO_NAME"], run.environment["DIB_RELEASE"])
    # DIB's bootloader installs GRUB for EFI itself (grub2-install, the one user of grub2-efi-x64-modules) only when
    # /boot/efi/$EFI_BOOT_DIR is missing; grub2-efi-x64 puts its signed grubx64.efi in EFI/<vendor>, named as
    # DISTRO_NAME is (centos, rocky, almalinux). And block-device-efi is what makes the bootloader ask for EFI.
    assert efi_dir == f"EFI/{distro_name}"
    assert block_device == BLOCK_DEVICES[next(e for e in run.elements if e in BLOCK_DEVICES)]
    return [set(result.stdout.split()) for result in results]


def test_the_bootloader_asks_for_these_names():
    """DIB's bootloader element picks the names it asks for by DIB_BLOCK_DEVICE, which block-device-efi sets to efi
    (our spec's qcow2.block_device: efi composes that element), and by ARCH (builder's -a amd64)."""
    finalise = (dib_dir() / "elements" / "bootloader" / "finalise.d" / "50-bootloader").read_text()
    assert 'GRUB_PACKAGES="grub-pc"' in finalise and 'GRUB_PACKAGES="grub-efi grub-efi-$ARCH"' in finalise
    assert 'install-packages -m bootloader $GRUB_PACKAGES' in finalise
    block_env = (dib_dir() / "elements" / "block-device-efi" / "environment.d" / "15-block-device.bash").read_text()
    assert "export DIB_BLOCK_DEVICE=efi" in block_env
    run = composed(Target.ROCKY_9, BlockDevice.EFI)
    assert "block-device-efi" in run.elements and run.options[run.options.index("-a") + 1] == "amd64"


@pytest.mark.parametrize("target", EL_TARGETS, ids=lambda t: t.value)
def test_an_efi_qcow2_asks_for_packages_its_release_has(tmp_path, target):
    need_root("DIB's extra-data.d hooks install into the image tree with sudo")
    run = composed(target, BlockDevice.EFI)
    asked = [name.replace("$ARCH", "amd64") for name in ASKED["efi"]]
    # DIB's ARCH is x86_64 where it is not given (-a) on an EL build host: the same packages.
    packages, amd64, x86_64 = dib_resolves(run, tmp_path, asked, ["grub-efi-amd64"], ["grub-efi-x86_64"])
    assert amd64 == x86_64
    major = target.info.major
    if major == 8:
        assert EL8_EFI <= packages, packages
        return
    assert "grub2-efi-x64-modules" not in packages
    assert {"grub2-efi-x64", "shim-x64", "efibootmgr", "grub2-pc"} <= packages, packages
    assert packages <= OFFICIAL_BOOT_PACKAGES[major], packages - OFFICIAL_BOOT_PACKAGES[major]


@pytest.mark.parametrize("target", [t for t in EL_TARGETS if t.info.major >= 9], ids=lambda t: t.value)
def test_a_bios_qcow2_asks_for_packages_its_release_has(tmp_path, target):
    need_root("DIB's extra-data.d hooks install into the image tree with sudo")
    [packages] = dib_resolves(composed(target, BlockDevice.MBR), tmp_path, ASKED["mbr"])
    assert "grub2-pc" in packages and packages <= OFFICIAL_BOOT_PACKAGES[target.info.major], packages


def test_another_distro_name_finds_no_mapping(tmp_path):
    """The map builder writes is for the run's DISTRO_NAME only: under another, pkg-map fails instead of guessing."""
    need_root("DIB's extra-data.d hooks install into the image tree with sudo")
    run = composed(Target.ALMA_10, BlockDevice.EFI)
    wrong = dataclasses.replace(run, environment={**run.environment, "DISTRO_NAME": "rocky"})
    with pytest.raises(AssertionError, match="no valid mapping for package grub-efi-amd64"):
        dib_resolves(wrong, tmp_path, ["grub-efi-amd64"])

