"""Compose one `disk-image-create` run for a spec: elements, options, environment and data files.

Pure: nothing here runs DIB. Data reaches our elements as files in the data
directory (named by BUILDER_ELEMENT_DATA), never in DIB_* variables, which the
`manifests` element copies into the image.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import resources
from ..baseline import Baseline, render_script
from ..bootstrap import BaseTree
from ..bootstrap.plan import Plan
from ..spec import BlockDevice, CloudInit, SELinux, Spec

# Our elements: package data (builder/resources/elements).
ELEMENTS_DIR = resources.directory("elements")

# DIB's own default command line (bootloader element); DIB_BOOTLOADER_DEFAULT_CMDLINE replaces it, so repeat it.
DIB_DEFAULT_CMDLINE = ("nofb", "nomodeset", "gfxpayload=text")

BLOCK_DEVICE_ELEMENTS = {
    BlockDevice.MBR: "block-device-mbr",
    BlockDevice.GPT: "block-device-gpt",
    BlockDevice.EFI: "block-device-efi",
}

# In the data directory: a link to the spec's bootstrapped tree (builder-root unpacks it) and the spec's
# repository files, as the baseline writes them (builder-root-debian / builder-root-el install them).
ROOT_TARBALL = "root.tar.zst"
REPOS_DIR = "repos"
# DIB's bootloader element's package map, with the family's names for the release (builder-root-el installs it in
# place of DIB's): the family's `dib_bootloader`.
BOOTLOADER_PKG_MAP = "pkg-map/bootloader"

OUR_ELEMENTS = ("builder-kvm-guest", "builder-baseline", "builder-seal", "builder-growroot")

# The serial console on the kernel command line, as the official cloud images have it (the console log OpenStack
# and `builder verify --console` read). It is DIB's default on amd64 (bootloader element); set here so that it is
# ours and the composed run shows it.
SERIAL_CONSOLE = "ttyS0,115200"

# The root file system (DIB's FS_TYPE, its default made ours) and the package with its resize tool, which
# builder-growroot installs beside the family's growpart.
ROOT_FS_TYPE = "ext4"
ROOT_FS_RESIZE_PACKAGE = "e2fsprogs"
GROWROOT_PACKAGES = "growroot-packages"


@dataclass(frozen=True)
class DibRun:
    """Everything one disk-image-create run needs; `files` go into the data directory."""

    elements: tuple[str, ...]
    options: tuple[str, ...]
    environment: dict[str, str]
    files: dict[str, str]          # relative path in the data directory -> content
    root: BaseTree                 # the spec's bootstrapped tree, the container's: its tarball is linked into the
                                   # data directory as ROOT_TARBALL

    def argv(self, output_stem: Path) -> list[str]:
        return [disk_image_create(), *self.options, "-o", str(output_stem), *self.elements]


def disk_image_create() -> str:
    """The disk-image-create of the Python environment that runs builder (diskimage-builder is a dependency)."""
    return str(Path(sys.executable).parent / "disk-image-create")


def distro(spec: Spec, baseline: Baseline) -> tuple[str, dict[str, str], dict[str, str]]:
    """(root element, DIB's distribution variables, the spec's repository files as `baseline` writes them) for the
    spec's target: the family module's root element (elements/builder-root-*: it unpacks the spec's bootstrapped tree,
    the one the container image starts from, and adds kernel, bootloader and base packages from the spec's repos) and
    its distribution's DISTRO_NAME and DIB_RELEASE."""
    info = spec.target.info
    dib = info.distribution.dib
    assert dib is not None, "builder.kinds refuses a qcow2 of a distribution without DIB variables"
    environment = dib.environment(info.major, info.codename)
    files = {f"{REPOS_DIR}/{PurePosixPath(path).name}": content
             for path, content in (baseline.repo_file(repo) for repo in spec.repos)}
    if bootloader := info.facts.bootloader_packages(info.major):
        files[BOOTLOADER_PKG_MAP] = bootloader_pkg_map(environment["DISTRO_NAME"], bootloader)
    return info.facts.dib_root_element, environment, files


def bootloader_pkg_map(distro_name: str, packages: dict[str, str]) -> str:
    """A pkg-map file (DIB's pkg-map element: JSON, its most specific section wins) giving the bootloader's names
    `packages` for DISTRO_NAME `distro_name` only, whatever DIB_RELEASE: another DISTRO_NAME finds no mapping and
    pkg-map fails, rather than guessing."""
    return json.dumps({"distro": {distro_name: packages}}, indent=2, sort_keys=True) + "\n"


def kernel_cmdline(baseline: Baseline) -> str:
    return " ".join((*DIB_DEFAULT_CMDLINE, *baseline.kernel_args))


def compose(plan: Plan, extra_elements: tuple[str, ...] = ()) -> DibRun:
    """The run for the spec's plan: its baseline (for an installed system) and its base tree."""
    spec, baseline = plan.spec, plan.baseline
    settings = spec.qcow2_settings
    element, environment, files = distro(spec, baseline)
    elements = ["vm", element, BLOCK_DEVICE_ELEMENTS[settings.block_device], *OUR_ELEMENTS, *extra_elements]
    if settings.cloud_init is CloudInit.OPENSTACK:
        elements.insert(elements.index("builder-baseline"), "builder-cloud-init")
    if baseline.selinux not in (None, SELinux.DISABLED):
        # Files the build wrote carry no SELinux labels until relabelled (DIB's element, in cleanup.d).
        elements.append("selinux-fixfiles-restore")
    options = ["-a", "amd64", "-t", "qcow2", "--qemu-img-options", "compat=1.1"]
    if not settings.compress:
        options.append("-u")
    environment = {
        **environment,
        "DIB_BOOTLOADER_DEFAULT_CMDLINE": kernel_cmdline(baseline),
        "DIB_BOOTLOADER_SERIAL_CONSOLE": SERIAL_CONSOLE,
        "FS_TYPE": ROOT_FS_TYPE,
        "BUILDER_ELEMENT_DATA": "{data}",
    }
    if settings.disk_size_gib:
        environment["DIB_IMAGE_SIZE"] = str(settings.disk_size_gib)
    files["baseline.sh"] = render_script(baseline)
    files[GROWROOT_PACKAGES] = f"{spec.target.info.facts.growpart_package}\n{ROOT_FS_RESIZE_PACKAGE}\n"
    return DibRun(tuple(elements), tuple(options), environment, files, plan.base_image.tree)


def environment_for(run: DibRun, data_dir: Path, elements_path: list[Path]) -> dict[str, str]:
    """The variables builder sets for DIB (added to the caller's environment), with the data directory filled in."""
    env = {key: value.replace("{data}", str(data_dir)) for key, value in run.environment.items()}
    env["ELEMENTS_PATH"] = ":".join(str(p) for p in [*elements_path, ELEMENTS_DIR])
    env["TMPDIR"] = str(data_dir.parent / "tmp")  # everything DIB mounts lies under the build's own directory
    # DIB's image cache (default ~/.cache/image-create) is shared without a lock: the dpkg element bind-mounts its
    # apt/ into every build's chroot (two apts on one archives/lock, one build's `apt-get clean` under the other's
    # install), and the yum element its yum/ (one dnf cache for every build). Each build gets its own, under its build
    # directory: the apt one kept no package across builds anyway (finalise runs `apt-get clean`); an EL rebuild now
    # downloads its packages again. What DIB does lock (DIB_LOCKFILES) it still locks.
    env["DIB_IMAGE_CACHE"] = str(data_dir.parent / "image-cache")
    return env
