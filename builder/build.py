"""Build orchestration: validate everything, render in memory, then write."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .baseline import BASELINE_VERSION, Baseline
from .baseline.script import render_prepull_installer
from .errors import BuilderError
from .kickstart import render_kickstart
from .output import ArtifactRecord, record_for, write_atomic, write_manifest
from .spec import LoadedSpec, Spec


class UnsupportedArtifact(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class BuildOptions:
    """What the command line asks of every artifact builder."""

    dry_run: bool = False
    boot_iso: Path | None = None
    """iso: the user's installer boot ISO to remaster with the kickstart."""
    extra_elements: tuple[str, ...] = ()       # qcow2: more DIB elements, found on elements_path
    elements_path: tuple[Path, ...] = ()


# Artifacts rendered in memory: every spec renders before anything is written.
RENDERERS: dict[str, Callable[[LoadedSpec], list[tuple[str, bytes]]]] = {
    "kickstart": lambda item: [("ks.cfg", render_kickstart(item.spec, item.sha256).encode())],
    "prepull": lambda item: [("prepull.sh", render_prepull_installer(Baseline(item.spec)).encode())],
}

# Artifacts built as files by their own module ("module:function", imported only when
# asked for), in this order, after every in-memory artifact is written. Each function is
# fn(item, directory, options) -> list[ArtifactRecord] and leaves nothing behind on failure.
FILE_BUILDERS: dict[str, str] = {
    "iso": ".iso:build_iso",
    "container": ".container.build:build_container",
    "qcow2": ".qcow2.build:build_qcow2",
}

KINDS: tuple[str, ...] = (*RENDERERS, *FILE_BUILDERS)


def supported_artifacts(spec: Spec) -> tuple[str, ...]:
    kinds = ("kickstart", "iso") if spec.target.info.kickstart_version else ()
    if not spec.target.info.is_el:
        kinds += ("container",)
    if spec.target.info.distro != "rhel":  # DIB builds RHEL only from a downloaded guest image
        kinds += ("qcow2",)
    if spec.container is not None and spec.container.prepull is not None:
        kinds += ("prepull",)
    return kinds


def default_artifacts(spec: Spec) -> tuple[str, ...]:
    """Without --only: what renders in memory. Image builds (minutes, root) are asked for with --only."""
    return tuple(kind for kind in supported_artifacts(spec) if kind in RENDERERS)


# Why a kind is not made for a target, and what to do instead.
UNSUPPORTED = {
    "kickstart": ("a Debian spec is for images only", "target an EL release (centos-stream-9, rocky-9, ...) for a kickstart"),
    "prepull": ("the spec has no container.prepull", "set container.prepull.image to the image nodes should pull"),
    "iso": ("an installer ISO carries a kickstart, and a Debian spec has none", "target an EL release for a kickstart ISO"),
    "container": ("builder bootstraps container base images for Debian targets only so far (an EL one needs dnf --installroot)",
                  "build the base image from a debian-12 spec (see examples/debian12-node.yaml)"),
    "qcow2": ("diskimage-builder builds RHEL only from a downloaded guest image", "target CentOS Stream, Rocky or Alma"),
}


def wanted_artifacts(item: LoadedSpec, only: list[str] | None) -> list[str]:
    wanted = only or list(default_artifacts(item.spec))
    for kind in wanted:
        if kind not in supported_artifacts(item.spec):
            why, hint = UNSUPPORTED[kind]
            raise UnsupportedArtifact(f"{item.path}: {item.spec.target} has no {kind}: {why}", hint=hint)
    return wanted


def render(item: LoadedSpec, only: list[str] | None) -> list[tuple[str, str, bytes]]:
    """Every requested in-memory artifact of one spec, as (kind, file name, bytes)."""
    return [(kind, name, data) for kind in wanted_artifacts(item, only) if kind in RENDERERS
            for name, data in RENDERERS[kind](item)]


def resolve(ref: str) -> Callable:
    """The function a ".module:function" table entry names, imported only now (image code pulls in heavy libraries)."""
    module, _, function = ref.partition(":")
    return getattr(importlib.import_module(module, __package__), function)


def file_builder(kind: str) -> Callable[..., list[ArtifactRecord]]:
    return resolve(FILE_BUILDERS[kind])


def build(items: list[LoadedSpec], out_dir: Path, only: list[str] | None = None,
          options: BuildOptions = BuildOptions()) -> list[Path]:
    """Build every loaded spec; nothing is written unless every spec renders."""
    names: dict[str, Path] = {}
    for item in items:
        if item.spec.name in names:
            raise BuilderError(f"{item.path}: name {item.spec.name!r} is also used by {names[item.spec.name]}",
                               hint="each spec writes to OUT/<name>/; give the specs different names")
        names[item.spec.name] = item.path
    rendered = [(item, render(item, only)) for item in items]
    manifests = []
    for item, files in rendered:
        directory = out_dir / item.spec.name
        records: list[ArtifactRecord] = []
        for kind, name, data in files:
            write_atomic(directory / name, data)
            records.append(record_for(kind, directory, directory / name))
        if records:
            manifests.append(write_manifest(directory, manifest_header(item), records))
    for item, _files in rendered:
        directory = out_dir / item.spec.name
        records = []
        for kind in wanted_artifacts(item, only):
            if kind in FILE_BUILDERS:
                records += file_builder(kind)(item, directory, options)
        if records:
            manifests.append(write_manifest(directory, manifest_header(item), records))
    return list(dict.fromkeys(manifests))


def manifest_header(item: LoadedSpec) -> dict:
    return {
        "name": item.spec.name,
        "target": str(item.spec.target),
        "spec": str(item.path),
        "spec_sha256": item.sha256,
        "baseline_version": BASELINE_VERSION,
        "builder_version": __version__,
    }
