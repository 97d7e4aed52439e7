"""Compose one `disk-image-create` run for a spec: elements, options, environment and data files.

Pure: nothing here runs DIB. Data reaches our elements as files in the data
directory (named by BUILDER_ELEMENT_DATA), never in DIB_* variables, which the
`manifests` element copies into the image.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..baseline import Baseline, render_script
from ..errors import BuilderError
from ..spec import BlockDevice, CloudInit, SELinux, Spec
from ..targets import Family

# Our elements, beside the package (the repository's elements/ directory).
ELEMENTS_DIR = Path(__file__).resolve().parent.parent.parent / "elements"

# DIB's own default command line (bootloader element); DIB_BOOTLOADER_DEFAULT_CMDLINE replaces it, so repeat it.
DIB_DEFAULT_CMDLINE = ("nofb", "nomodeset", "gfxpayload=text")

BLOCK_DEVICE_ELEMENTS = {
    BlockDevice.MBR: "block-device-mbr",
    BlockDevice.GPT: "block-device-gpt",
    BlockDevice.EFI: "block-device-efi",
}

# EL distributions DIB builds (the qcow2 kind's support reads this table):
# (DIB element, DIB_RELEASE for a major version). CentOS Stream is
# bootstrapped by dnf from the spec's repositories (centos-minimal); Rocky and Alma
# start from their upstream container image (DIB has no -minimal element for them),
# and the baseline then installs its packages from the spec's repositories.
EL_ELEMENTS = {
    "centos": ("centos-minimal", "{major}-stream"),
    "rocky": ("rocky-container", "{major}"),
    "almalinux": ("almalinux-container", "{major}"),
}

OUR_ELEMENTS = ("builder-kvm-guest", "builder-baseline", "builder-seal")


class Qcow2Unsupported(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class DibRun:
    """Everything one disk-image-create run needs; `files` go into the data directory."""

    elements: tuple[str, ...]
    options: tuple[str, ...]
    environment: dict[str, str]
    files: dict[str, str]          # relative path in the data directory -> content

    def argv(self, output_stem: Path) -> list[str]:
        return [disk_image_create(), *self.options, "-o", str(output_stem), *self.elements]


def disk_image_create() -> str:
    """The disk-image-create of the Python environment that runs builder (diskimage-builder is a dependency)."""
    return str(Path(sys.executable).parent / "disk-image-create")


def distro(spec: Spec) -> tuple[str, dict[str, str], dict[str, str]]:
    """(distro element, its environment, its data files) for the spec's target."""
    info = spec.target.info
    if info.family is Family.DEBIAN:
        main = _debian_mirror(spec, security=False)
        security = _debian_mirror(spec, security=True) or main.rstrip("/") + "-security"
        return "debian-minimal", {
            "DIB_RELEASE": info.codename or "",
            "DIB_DISTRIBUTION_MIRROR": main,
            "DIB_DEBIAN_SECURITY_MIRROR": security,
            "DIB_DEBIAN_COMPONENTS": ",".join(_debian_components(spec)),
        }, {}
    element, release = EL_ELEMENTS[info.distro]  # builder.kinds refuses a qcow2 of any other distribution
    environment = {"DIB_RELEASE": release.format(major=info.major)}
    files = {}
    if element == "centos-minimal" and spec.repos:
        baseline = Baseline(spec)
        for repo in spec.repos:
            _path, content = baseline.repo_file(repo)
            files[f"yum.repos.d/dib-mirror-{repo.name}.repo"] = content
        environment["DIB_YUM_MINIMAL_BOOTSTRAP_REPOS"] = "{data}/yum.repos.d"
    return element, environment, files


def _debian_mirror(spec: Spec, security: bool) -> str:
    for repo in spec.repos:
        if any(suite.endswith("-security") for suite in repo.suites) == security and repo.suites:
            return repo.baseurl
    if security:
        return ""
    raise Qcow2Unsupported(f"{spec.name}: a Debian qcow2 needs the Debian mirror in repos",
                           hint="add a repo with baseurl: http://your-mirror/debian and suites: [bookworm]")


def _debian_components(spec: Spec) -> list[str]:
    components = [c for repo in spec.repos for c in repo.components]
    return list(dict.fromkeys(components or ["main"]))


def kernel_cmdline(spec: Spec) -> str:
    return " ".join((*DIB_DEFAULT_CMDLINE, *Baseline(spec).kernel_args))


def compose(spec: Spec, extra_elements: tuple[str, ...] = ()) -> DibRun:
    settings = spec.qcow2_settings
    element, environment, files = distro(spec)
    elements = ["vm", element, BLOCK_DEVICE_ELEMENTS[settings.block_device], *OUR_ELEMENTS, *extra_elements]
    if settings.cloud_init is CloudInit.OPENSTACK:
        elements.insert(elements.index("builder-baseline"), "builder-cloud-init")
    if Baseline(spec).selinux not in (None, SELinux.DISABLED):
        # Files the build wrote carry no SELinux labels until relabelled (DIB's element, in cleanup.d).
        elements.append("selinux-fixfiles-restore")
    options = ["-a", "amd64", "-t", "qcow2", "--qemu-img-options", "compat=1.1"]
    if not settings.compress:
        options.append("-u")
    environment = {
        **environment,
        "DIB_BOOTLOADER_DEFAULT_CMDLINE": kernel_cmdline(spec),
        "BUILDER_ELEMENT_DATA": "{data}",
    }
    if settings.disk_size_gib:
        environment["DIB_IMAGE_SIZE"] = str(settings.disk_size_gib)
    files["baseline.sh"] = render_script(Baseline(spec))
    return DibRun(tuple(elements), tuple(options), environment, files)


def environment_for(run: DibRun, data_dir: Path, elements_path: list[Path]) -> dict[str, str]:
    """The variables builder sets for DIB (added to the caller's environment), with the data directory filled in."""
    env = {key: value.replace("{data}", str(data_dir)) for key, value in run.environment.items()}
    env["ELEMENTS_PATH"] = ":".join(str(p) for p in [*elements_path, ELEMENTS_DIR])
    env["TMPDIR"] = str(data_dir.parent / "tmp")  # everything DIB mounts lies under the build's own directory
    return env
