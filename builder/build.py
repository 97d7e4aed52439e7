"""Build orchestration: validate everything, render in memory, then write."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .baseline import BASELINE_VERSION
from .errors import BuilderError, Problem, SpecError
from .kickstart import render_kickstart
from .output import ArtifactRecord, record_for, write_atomic, write_manifest
from .spec import Spec, load_spec


class UnsupportedArtifact(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class LoadedSpec:
    path: Path
    spec: Spec
    warnings: list[Problem]

    @property
    def sha256(self) -> str:
        return spec_sha256(self.spec)


def spec_sha256(spec: Spec) -> str:
    """Hash of the normalised spec: comments and formatting do not change it."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_all(paths: list[str]) -> list[LoadedSpec]:
    """Load every spec, collecting every problem of every file before failing."""
    loaded, problems = [], []
    for path in paths:
        try:
            spec, _source, warnings = load_spec(path)
        except SpecError as exc:
            problems += exc.problems
            continue
        loaded.append(LoadedSpec(Path(path), spec, warnings))
    if problems:
        raise SpecError(problems)
    return loaded


def supported_artifacts(spec: Spec) -> tuple[str, ...]:
    return ("kickstart",) if spec.target.info.kickstart_version else ()


def render(item: LoadedSpec, only: list[str] | None) -> list[tuple[str, str, bytes]]:
    """Every requested artifact of one spec, as (kind, file name, bytes)."""
    wanted = only or list(supported_artifacts(item.spec))
    out: list[tuple[str, str, bytes]] = []
    for kind in wanted:
        if kind not in supported_artifacts(item.spec):
            raise UnsupportedArtifact(f"{item.path}: {item.spec.target} has no {kind}: a Debian spec is for images only",
                                      hint="target an EL release (centos-stream-9, rocky-9, ...) for a kickstart")
        if kind == "kickstart":
            out.append((kind, "ks.cfg", render_kickstart(item.spec, item.sha256).encode()))
    return out


def build(items: list[LoadedSpec], out_dir: Path, only: list[str] | None = None) -> list[Path]:
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
    return manifests


def manifest_header(item: LoadedSpec) -> dict:
    return {
        "name": item.spec.name,
        "target": str(item.spec.target),
        "spec": str(item.path),
        "spec_sha256": item.sha256,
        "baseline_version": BASELINE_VERSION,
        "builder_version": __version__,
    }
