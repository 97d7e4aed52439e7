"""The image definitions in base-images/: how the base tree is bootstrapped (the container's and the qcow2's), and what
the container image leaves out, its layer plan, image config, labels, size budget."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import resources
from ..errors import BuilderError
from ..spec import LayerContent, Spec, layer_count_problem, layer_plan_problem
from ..targets import TargetInfo

BASE_IMAGES = resources.directory("base-images")

# What the target's family module decides (builder.families) and the image definition therefore does not: a
# `bootstrap:` key of a base-images file that names one of these is refused, not silently overridden.
FAMILY_DECIDES = {"tool": "the bootstrapper (its bootstrapper.tool)", "dbpath": "the rpm database's place per release (rpmdb)"}


@dataclass(frozen=True)
class Bootstrap:
    """How the base tree is made: `tool` picks the bootstrapper (builder.bootstrap.BOOTSTRAPPERS), the rest are its settings.
    `tool` and `dbpath` are the target family's (builder.families), the rest come from base-images/."""

    tool: str                           # debootstrap | dnf: the family's bootstrapper
    variant: str = ""                   # debootstrap: --variant
    suite: str = ""                     # debootstrap: the suite (the spec's repository for it is the mirror)
    packages: tuple[str, ...] = ()      # dnf: the base package set (the distribution layer)
    dbpath: str = ""                    # the rpm database's place in the tree, the family's for the release ("": no rpm)
    exclude_packages: tuple[str, ...] = ()  # dnf: never installed (excludepkgs)

    @classmethod
    def from_yaml(cls, data: dict, info: TargetInfo) -> Bootstrap:
        lists = {key: tuple(data[key]) for key in ("packages", "exclude_packages") if key in data}
        return cls(**{**data, **lists}, tool=info.facts.bootstrapper.tool, dbpath=info.facts.rpmdb_path(info.major) or "")


@dataclass(frozen=True)
class ImageDefinition:
    name: str
    bootstrap: Bootstrap
    exclude: tuple[str, ...]
    include: tuple[str, ...]
    remove: tuple[str, ...]
    cmd: tuple[str, ...]
    env: dict[str, str]
    labels: dict[str, str]
    size_budget_mib: int
    layers: tuple[tuple[LayerContent, ...], ...]
    distribution_priorities: tuple[str, ...]
    package_state: tuple[str, ...]
    package_layers: int = 1     # the most layers a plan layer of package files is split into
    stable_update: str = ""     # regex: a changelog entry of a stable update (the package layers' order)


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BuilderError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(data, dict):
        raise BuilderError(f"{path}: not a YAML mapping")
    return data


def _refuse_family_keys(path: Path, data: dict) -> None:
    bootstrap = data.get("bootstrap")
    for key in FAMILY_DECIDES:
        if isinstance(bootstrap, dict) and key in bootstrap:
            raise BuilderError(f"{path}: bootstrap.{key}: {FAMILY_DECIDES[key]} is the distribution family's, not the "
                               "image definition's", hint=f"delete bootstrap.{key}; the family module "
                                                          "(builder/families/) decides it for every image")


def definition_files(spec: Spec, directory: Path = BASE_IMAGES) -> list[Path]:
    """The target's own files, most general first: FAMILY.yaml, then FAMILY-MAJOR.yaml (either may be absent)."""
    info = spec.target.info
    return [p for p in (directory / f"{info.family.value}.yaml", directory / f"{info.family.value}-{info.major}.yaml")
            if p.exists()]


def _merge(general: dict, specific: dict) -> dict:
    """Lists add up, maps merge, scalars are overridden."""
    merged = dict(general)
    for key, value in specific.items():
        old = merged.get(key)
        if isinstance(old, list) and isinstance(value, list):
            merged[key] = old + value
        elif isinstance(old, dict) and isinstance(value, dict):
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


def image_definition(spec: Spec, directory: Path = BASE_IMAGES) -> ImageDefinition:
    """common.yaml merged with the target's files (definition_files): lists add up, scalars and maps are overridden."""
    files = definition_files(spec, directory)
    if not files:
        known = sorted(p.stem for p in directory.glob("*.yaml") if p.stem != "common")
        raise BuilderError(f"{spec.target} has no container image definition (no {spec.target.info.family.value}.yaml "
                           f"or {spec.target.info.family.value}-{spec.target.info.major}.yaml in {directory})",
                           hint=f"container images are defined in: {', '.join(known)}")
    path = files[-1]
    common, own = _read(directory / "common.yaml"), {}
    _refuse_family_keys(directory / "common.yaml", common)
    for file in files:
        data = _read(file)
        _refuse_family_keys(file, data)
        own = _merge(own, data)
    try:
        config = {**common.get("config", {}), **own.get("config", {})}
        labels = {**common.get("config", {}).get("labels", {}), **own.get("config", {}).get("labels", {})}
        env = {**common.get("config", {}).get("env", {}), **own.get("config", {}).get("env", {})}
        definition = ImageDefinition(
            name=path.stem,
            bootstrap=Bootstrap.from_yaml(own["bootstrap"], spec.target.info),
            exclude=tuple(common.get("exclude", []) + (own.get("exclude") or [])),
            include=tuple(common.get("include", []) + (own.get("include") or [])),
            remove=tuple(common.get("remove", []) + (own.get("remove") or [])),
            cmd=tuple(config["cmd"]),
            env={str(k): str(v) for k, v in env.items()},
            labels={str(k): str(v) for k, v in labels.items()},
            size_budget_mib=int(own.get("size_budget_mib", common["size_budget_mib"])),
            layers=tuple(tuple(LayerContent(c) for c in layer) for layer in own.get("layers", common["layers"])),
            distribution_priorities=tuple(own.get("distribution_priorities", common["distribution_priorities"])),
            package_state=tuple(common.get("package_state", []) + (own.get("package_state") or [])),
            package_layers=int(own.get("package_layers", common.get("package_layers", 1))),
            stable_update=str(own.get("stable_update", "")).replace("{major}", str(spec.target.info.major)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BuilderError(f"{', '.join(map(str, files))} (with common.yaml): malformed image definition ({exc!r})") from None
    if problem := layer_plan_problem(definition.layers):
        raise BuilderError(f"{', '.join(map(str, files))} (with common.yaml): layers: {problem}")
    if problem := layer_count_problem(definition.layers, definition.package_layers):
        raise BuilderError(f"{', '.join(map(str, files))} (with common.yaml): package_layers: {problem}")
    try:
        re.compile(definition.stable_update)
    except re.error as exc:
        raise BuilderError(f"{', '.join(map(str, files))}: stable_update: not a regular expression ({exc})") from None
    return definition


def layer_plan(spec: Spec, definition: ImageDefinition) -> tuple[tuple[LayerContent, ...], ...]:
    """The spec's container.layers, else the definition's."""
    if spec.container is not None and spec.container.layers is not None:
        return tuple(tuple(layer) for layer in spec.container.layers)
    return definition.layers


def package_layers(spec: Spec, definition: ImageDefinition) -> int:
    """The spec's container.package_layers, else the definition's."""
    if spec.container is not None and spec.container.package_layers is not None:
        return spec.container.package_layers
    return definition.package_layers
