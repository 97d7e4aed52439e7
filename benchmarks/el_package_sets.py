#!/usr/bin/env python3
"""Our EL package sets by name, as builder plans them: the container's and the qcow2's (docs/performance.md compares
them with the official EL container and GenericCloud sets).

    .venv/bin/python -m benchmarks.el_package_sets [--json] [SPEC ...]   # default: the EL examples builder bootstraps

Nothing is built and no mirror is contacted: every name comes from the spec's plan (builder.bootstrap.plan) and
from the elements the qcow2's DIB run is composed of.

- container: the bootstrap's two dnf transactions (the image definition's base set with the release package and the
  locale's langpack; then the spec's packages and groups, for a container). The container installs nothing else.
- qcow2: the same bootstrapped tree, plus what the qcow2 build installs on it: the tree's pre-install (the
  `dnf -y install` line of elements/builder-root-el/pre-install.d), the package-installs.yaml of every element DIB
  expands the composed list to, each mapped with the element's pkg-map by DIB's own pkg-map (release, distro,
  family redhat, default), builder-growroot's growpart and resize tool (the names builder writes for it), DIB's
  bootloader (its finalise.d installs pkg-map's `grub-pc` on an MBR or GPT image,
  `grub-efi grub-efi-x86_64` on an EFI one), and the baseline's packages for an installed system.

These are the names asked for, not the resolved set: dnf adds their dependencies (a real mirror's count is
`rpm -qa | wc -l` in the image; scripts/el-mirror-check builds one).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from builder.baseline import Baseline
from builder.bootstrap.plan import plan_for
from builder.qcow2.dib import BOOTLOADER_PKG_MAP, ELEMENTS_DIR, GROWROOT_PACKAGES, compose
from builder.spec import LoadedSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("legacy-rocky8", "compute-node-cs9", "kvm-host-rocky9", "node-alma10")
PRE_INSTALL = ELEMENTS_DIR / "builder-root-el" / "pre-install.d" / "00-00-builder-root-el"
# DIB's bootloader element (finalise.d/50-bootloader): the pkg-map keys it installs, by DIB_BLOCK_DEVICE.
GRUB_KEYS = {"block-device-mbr": ("grub-pc",), "block-device-gpt": ("grub-pc",),
             "block-device-efi": ("grub-efi", "grub-efi-x86_64")}


def dib_elements_dir() -> Path:
    import diskimage_builder.elements

    return Path(diskimage_builder.elements.__file__).parent


def pkg_map(element: Path, names: list[str], distro: str, release: str, shipped: str | None = None) -> list[str]:
    """`names` as DIB's own pkg-map maps them for the element (or with the map `shipped` in its place): release over
    distro over family over default; a name the map does not know stays (--missing-ok); an empty mapping drops it."""
    path = element / "pkg-map"
    if shipped is None and not path.exists():
        return names
    with tempfile.TemporaryDirectory(prefix="el-package-sets.") as work:
        if shipped is not None:
            path = Path(work) / "pkg-map"
            path.write_text(shipped)
        out = subprocess.run([sys.executable, str(dib_elements_dir() / "pkg-map" / "bin" / "pkg-map"),
                              "--pkg-map", str(path), "--distro", distro, "--release", release, "--missing-ok", *names],
                             capture_output=True, text=True, check=True).stdout
    return out.split()


def element_packages(element: Path, distro: str, release: str) -> list[str]:
    """The names of an element's package-installs.yaml that are installed (not `uninstall`), mapped."""
    path = element / "package-installs.yaml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    names = [name for name, options in data.items()
             if not (isinstance(options, dict) and options.get("uninstall"))]
    return pkg_map(element, names, distro, release)


def qcow2_sets(plan) -> dict[str, list[str]]:
    """Where each name the qcow2 adds to the tree comes from -> the names."""
    from diskimage_builder.element_dependencies import get_elements

    run = compose(plan)
    distro, release = run.environment["DISTRO_NAME"], run.environment["DIB_RELEASE"]
    line = re.search(r"^dnf -y install ([^#\n]+)", PRE_INSTALL.read_text(), re.M)
    assert line, f"{PRE_INSTALL}: no `dnf -y install` line"
    sets = {"builder-root-el pre-install": line.group(1).split()}
    for name, path in sorted(get_elements(list(run.elements), f"{ELEMENTS_DIR}:{dib_elements_dir()}")):  # a stable report
        if names := element_packages(Path(path), distro, release):
            sets[f"element {name}"] = names
    block = next(e for e in run.elements if e in GRUB_KEYS)
    # builder-root-el puts the release's bootloader map (the family's) in place of DIB's.
    sets["element bootloader (grub)"] = pkg_map(dib_elements_dir() / "bootloader", list(GRUB_KEYS[block]), distro, release,
                                                run.files.get(BOOTLOADER_PKG_MAP))
    # builder-growroot installs the names builder writes for the family (its growpart, the root's resize tool).
    sets["element builder-growroot"] = run.files[GROWROOT_PACKAGES].split()
    sets["baseline (installed system)"] = list(plan.baseline.packages) + list(plan.baseline.groups)
    return sets


def package_sets(spec_path: Path) -> dict:
    spec = load_spec(spec_path)[0]
    plan = plan_for(LoadedSpec(spec_path, spec, []), images=True)
    dnf = plan.base_image.tree.bootstrapper
    base, own = sorted(dnf.base_packages), sorted(dnf.later_packages)
    qcow2 = qcow2_sets(plan)
    qcow2_names = sorted(set(base) | {name for names in qcow2.values() for name in names})
    container_only = Baseline(spec, context="container")
    return {
        "spec": str(spec_path.relative_to(ROOT) if spec_path.is_relative_to(ROOT) else spec_path),
        "target": str(spec.target),
        "base set": base,
        "spec's packages (container)": own,
        "container": sorted(set(base) | set(own)),
        "excluded (excludepkgs)": sorted(dnf.exclude_packages),
        "qcow2 adds": {where: sorted(names) for where, names in qcow2.items()},
        "qcow2": qcow2_names,
        "container baseline leaves out": sorted(set(plan.baseline.packages) - set(container_only.packages)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("specs", nargs="*", type=Path, default=[ROOT / "examples" / f"{e}.yaml" for e in EXAMPLES])
    args = parser.parse_args()
    results = [package_sets(spec.resolve()) for spec in args.specs]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"== {r['spec']} ({r['target']})")
        for key in ("base set", "spec's packages (container)", "container", "excluded (excludepkgs)", "qcow2",
                    "container baseline leaves out"):
            print(f"{key}: {len(r[key])}: {' '.join(r[key])}")
        for where, names in r["qcow2 adds"].items():
            print(f"  qcow2 adds, {where}: {len(names)}: {' '.join(names)}")


if __name__ == "__main__":
    main()
