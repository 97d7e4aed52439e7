"""The README's main job installs only what building needs; the tests' services are never enabled on the host."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from builder.bootstrap import BOOTSTRAP_TOOLS
from builder.host import HostFamily, package_for

ROOT = Path(__file__).resolve().parent.parent
# Tools the builders require on a Debian build host (container bootstrap, ISOs, a qcow2 build).
BUILD_TOOLS = (*BOOTSTRAP_TOOLS, "xorriso", "mcopy", "qemu-img", "sgdisk", "kpartx")
TEST_ONLY = {"docker.io", "docker-registry", "qemu-system-x86", "ovmf", "ipxe-qemu", "openscap-scanner", "skopeo", "podman"}


def dry_run(target: str) -> list[list[str]]:
    """The package lists `make -n TARGET` would hand to scripts/apt-install."""
    out = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines() if line.startswith("scripts/apt-install")]


def test_make_examples_installs_what_building_needs_and_no_test_service():
    (install,) = dry_run("examples")
    packages = set(install[1:])
    assert "--no-services" not in install
    assert not packages & TEST_ONLY, "make examples would install test-only packages"
    missing = {tool: package_for(tool, HostFamily.DEBIAN) for tool in BUILD_TOOLS}
    missing = {tool: pkg for tool, pkg in missing.items() if pkg not in packages | {"coreutils", "tar", "mount", "util-linux"}}
    assert not missing, f"building needs these and make examples would not install them: {missing}"


def test_make_test_installs_test_packages_with_their_services_disabled():
    lists = dry_run("test")
    assert len(lists) == 2 and "--no-services" in lists[1]
    services = re.search(r'--no-services "([^"]*)"', subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True,
                                                                 text=True, check=True).stdout)[1].split()
    assert {"docker.service", "docker.socket", "docker-registry.service"} <= set(services)
    assert TEST_ONLY <= set(lists[1])
