"""`builder build --only container`: bootstrap, baseline, strip, the planned layers, OCI layout, load into Docker.

Everything is made in a work directory and a staging directory beside OUT/<name>/;
OUT/<name>/container/ appears whole, or not at all (a failure, the size budget included,
leaves nothing in OUT).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, bootstrap
from ..baseline import BASELINE_VERSION, Baseline, render_script
from ..bootstrap.definition import ImageDefinition, layer_plan, package_layers
from ..bootstrap.plan import Plan
from ..errors import BuilderError
from ..host import progress, raise_if_interrupted, say_not_applicable, source_date_epoch, step
from ..manifest import ArtifactRecord, record_for
from ..spec import ContainerSettings, LoadedSpec, Spec
from . import engine, image, strip
from . import plan as layering  # the layer plan (`plan` is the spec's Plan here)

TAG = "latest"


def container_settings(spec: Spec) -> ContainerSettings:
    return spec.container or ContainerSettings()


def plan_container(plan: Plan, directory: Path, options) -> list[str]:
    spec, definition, base = plan.spec, plan.base_image.definition, plan.base_image.tree
    layers = layer_plan(spec, definition)
    say_not_applicable("container", plan.container_baseline.not_applicable)  # once per build: the plan runs before every build
    reuse = ("reuse it as it is: --offline" if options.offline else
             f"reuse it when the state of its {len(base.bootstrapper.repositories())} repositories is the one it was made from")
    return [f"container: would run {base.command_line(Path('WORK/root'))}  (or {reuse}: {base.tarball})",
            f"container: the bootstrap contacts only: {' '.join(base.bootstrapper.repositories())}",
            "container: chroot WORK/root /bin/bash -s < (builder baseline for a container)",
            f"container: strip, write {plan_summary(layers, package_layers(spec, definition))} "
            f"({container_settings(spec).compression}), OCI layout and docker-archive into {directory / 'container'}"]


def plan_summary(layers, most: int) -> str:
    """The layer plan in words: "layers: distribution+packages (split into up to 40) | package-state | configuration"."""
    split = [most > 1 and set(contents) <= layering.PACKAGE_CONTENTS for contents in layers]
    words = ["+".join(c) + (f" (split by source package into up to {most})" if s else "") for c, s in zip(layers, split, strict=True)]
    return f"layers: {' | '.join(words)}"


@dataclass
class Context:
    """One container build: what it reads (the spec's plan, its container settings) and what its steps make, in order."""

    plan: Plan
    directory: Path
    work: Path
    settings: ContainerSettings
    offline: bool = False           # the cached base tree as it is, the repositories not asked
    epoch: int = 0
    installed: layering.Snapshot | None = None
    history: dict[str, int] = field(default_factory=dict)   # source package -> its stable updates (layering.update_history)
    planned: list[layering.PlannedLayer] = field(default_factory=list)
    built: image.Image | None = None

    @property
    def item(self) -> LoadedSpec:
        return self.plan.item

    @property
    def spec(self) -> Spec:
        return self.plan.spec

    @property
    def baseline(self) -> Baseline:
        return self.plan.container_baseline

    @property
    def definition(self) -> ImageDefinition:
        return self.plan.base_image.definition

    @property
    def base(self) -> bootstrap.BaseTree:
        return self.plan.base_image.tree

    @property
    def root(self) -> Path:
        return self.work / "root"

    @property
    def final(self) -> Path:
        return self.directory / "container"


def build_container(plan: Plan, directory: Path, options) -> list[ArtifactRecord]:
    """Bootstrap, baseline, strip, layers, image, written whole into OUT/<name>/container/, then loaded."""
    context = Context(plan, directory, Path(tempfile.mkdtemp(prefix="builder-container.")), container_settings(plan.spec),
                      offline=options.offline)
    out_existed = directory.parent.exists()
    try:
        for step in (bootstrap_tree, apply_baseline, strip_tree, write_layers, check_budget, make_image, write_outputs):
            raise_if_interrupted()  # a step of Python alone (layers, image) runs no command an interrupt could stop
            step(context)
    except BaseException:
        _remove_if_empty(directory)
        if not out_existed:
            _remove_if_empty(directory.parent)
        raise
    finally:
        _remove_work(context.work)
    load_into_engine(context)
    manifest_blob = image.blob_path(context.final / "oci", context.built.digest)
    return [record_for("container", directory, manifest_blob),
            record_for("container-archive", directory, context.final / f"{context.spec.name}.docker.tar")]


def bootstrap_tree(context: Context) -> None:
    base = context.base
    with step(f"container: bootstrap {base.bootstrapper.origin}"):
        created = bootstrap.fill(base, context.root, log=progress, offline=context.offline)
    context.epoch = source_date_epoch(default=created)
    context.installed = layering.snapshot(context.root)  # what the packages installed: the baseline's changes come after
    context.history = layering.update_history(context.root, layer_rules(context))  # before the strip drops the changelogs


def apply_baseline(context: Context) -> None:
    path, content = strip.install_rules(context.definition, context.spec.locale, context.root)
    rules = context.root / path.lstrip("/")
    rules.parent.mkdir(parents=True, exist_ok=True)
    rules.write_text(content)
    with step("container: running the baseline script in the tree (packages, configuration)"):
        bootstrap.apply_script(context.root, render_script(context.baseline), context.epoch, log=progress)


def strip_tree(context: Context) -> None:
    removed = strip.strip_tree(context.root, context.definition, context.spec.locale)
    progress(f"container: left out {len(removed)} paths (docs, man pages, locales, caches, logs)")


def layer_rules(context: Context) -> layering.Rules:
    definition = context.definition
    return layering.Rules(definition.distribution_priorities, definition.package_state,
                      definition.bootstrap.dbpath if strip.uses_rpm(definition) else "", definition.stable_update,
                      package_layers(context.spec, definition))


def write_layers(context: Context) -> None:
    layers, rules = layer_plan(context.spec, context.definition), layer_rules(context)
    with step(f"container: writing {context.settings.compression} {plan_summary(layers, rules.package_layers)}"):
        context.planned = layering.write_layers(context.root, context.installed, layers, rules, context.work, context.epoch,
                                            context.settings.compression, context.history)
    for p in context.planned:
        progress(f"container: layer {p.name}: {p.entries} entries, {kib(p.layer.size)} ({p.layer.digest})")


def check_budget(context: Context) -> None:
    size = sum(p.layer.size for p in context.planned)
    budget = context.settings.size_budget_mib or context.definition.size_budget_mib
    if size > budget << 20:
        raise BuilderError(over_budget(context.root, size, budget, context.definition),
                           hint="raise container.size_budget_mib, or drop packages (packages.toolset: false, packages.exclude)")


def make_image(context: Context) -> None:
    definition = context.definition
    labels = {**definition.labels, **image_labels(context.item, context.epoch)}
    env = {**definition.env, "LANG": context.spec.locale}
    origin = f"builder {__version__}: {context.base.bootstrapper.origin}, baseline {BASELINE_VERSION}"
    context.built = image.make_image([p.layer for p in context.planned], cmd=list(definition.cmd), env=env, labels=labels,
                                     epoch=context.epoch, tag=TAG, history=[f"{origin}: {p.name}" for p in context.planned])
    size = sum(p.layer.size for p in context.planned)
    progress(f"container: {context.spec.name}:{TAG} digest {context.built.digest}, {len(context.planned)} layer(s), "
         f"{size / (1 << 20):.1f} MiB ({context.settings.compression})")


def write_outputs(context: Context) -> None:
    """The OCI layout and the docker-archive, staged beside OUT/<name>/container/ and put there in one rename."""
    context.directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".container.", dir=context.directory))
    try:
        staging.chmod(0o755)
        image.write_layout(context.built, staging / "oci")
        archive = staging / f"{context.spec.name}.docker.tar"
        image.write_docker_archive(context.built, staging / "oci", archive, f"{context.spec.name}:{TAG}", context.epoch)
        _replace_dir(staging, context.final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load_into_engine(context: Context) -> None:
    archive = context.final / f"{context.spec.name}.docker.tar"
    if not engine.engine_reachable():
        progress(f"container: not loaded: no Docker engine at {engine.engine_address()} (docker load -i {archive})")
        return
    with step(f"container: loading {archive.name} into the Docker engine"):
        engine.load(archive, context.built.config_digest)
    progress(f"container: loaded into the Docker engine at {engine.engine_address()} as {context.spec.name}:{TAG} "
         f"({context.built.config_digest})")


def image_labels(item: LoadedSpec, epoch: int) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": item.spec.name,
        "org.opencontainers.image.description": item.spec.description,
        "org.opencontainers.image.created": image.iso_date(epoch),
        "org.opencontainers.image.version": f"baseline-{BASELINE_VERSION}",
        "io.builder.spec.sha256": item.sha256,
        "io.builder.baseline.version": str(BASELINE_VERSION),
        "io.builder.build-date": image.iso_date(epoch),
        "io.builder.version": __version__,
        "io.builder.target": item.spec.target.value,
    }


def over_budget(root: Path, size: int, budget: int, definition: ImageDefinition | None = None) -> str:
    lines = [f"the container image is {size / (1 << 20):.1f} MiB compressed, over its size budget of {budget} MiB",
             "biggest packages (bytes on disk):"]
    lines += [f"  {kib(b):>10}  {name}" for name, b in strip.package_sizes(root, definition)[:10]]
    lines.append("biggest directories:")
    lines += [f"  {kib(b):>10}  {path}" for path, b in strip.directory_sizes(root)[:10]]
    return "\n".join(lines)


def kib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def _replace_dir(new: Path, final: Path) -> None:
    """Put `new` at `final`: a rename, with an existing `final` moved aside first and removed after."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=".container-old.", dir=final.parent))
        os.replace(final, old / "container")
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def _remove_work(work: Path) -> None:
    proc = work / "root" / "proc"
    if os.path.ismount(proc):  # never delete through a mount into the host
        raise BuilderError(f"{proc} is still mounted; not removing {work}")
    shutil.rmtree(work, ignore_errors=True)
