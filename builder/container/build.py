"""`builder build --only container`: bootstrap, baseline, strip, the planned layers, OCI layout, load into Docker.

Everything is made in a work directory and a staging directory beside OUT/<name>/;
OUT/<name>/container/ appears whole, or not at all (a failure, the size budget included,
leaves nothing in OUT).
"""
from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from .. import __version__
from ..baseline import BASELINE_VERSION, Baseline, render_script
from ..errors import BuilderError
from ..output import ArtifactRecord, record_for
from ..targets import Family
from . import bootstrap, engine, image, plan, strip
from .definition import ImageDefinition, image_definition, layer_plan

TAG = "latest"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def container_settings(spec):
    from ..spec import ContainerSettings

    return spec.container or ContainerSettings()


def mirror_for(spec, definition: ImageDefinition) -> str:
    """The spec's repository for the bootstrap suite (the internal mirror), or the definition's default."""
    for repo in spec.repos:
        if definition.bootstrap.suite in repo.suites:
            return repo.baseurl
    return definition.bootstrap.mirror


def source_date_epoch(created: int) -> int:
    """SOURCE_DATE_EPOCH from the environment, else the creation time of the cached base tree."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return created
    if not value.isdigit():
        raise BuilderError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return int(value)


def build_container(item, directory: Path, options) -> list[ArtifactRecord]:
    spec = item.spec
    if spec.target.info.family is not Family.DEBIAN:
        raise BuilderError(f"{item.path}: {spec.target} container images need an EL mirror, which this builder cannot bootstrap yet")
    baseline = Baseline(spec, context="container")
    definition = image_definition(spec)
    settings = container_settings(spec)
    layers = layer_plan(spec, definition)
    base = bootstrap.BaseTree(definition.bootstrap, mirror_for(spec, definition), baseline.packages)
    for item_name, why in baseline.not_applicable.items():
        _say(f"container: {item_name}: not applicable: {why}")
    if options.dry_run:
        print(f"{item.path}: container: would run\n  {shlex.join(base.command(Path('WORK/root')))}"
              f"  (or reuse {base.tarball})\n  chroot WORK/root /bin/bash -s < (builder baseline for a container)\n"
              f"  strip, write {len(layers)} {settings.compression} layer(s) ({' | '.join('+'.join(c) for c in layers)}),"
              f" OCI layout and docker-archive into {directory / 'container'}")
        return []
    work = Path(tempfile.mkdtemp(prefix="builder-container."))
    out_existed = directory.parent.exists()
    staging = None
    try:
        root = work / "root"
        created = bootstrap.fill(base, root, log=_say)
        epoch = source_date_epoch(created)
        installed = plan.snapshot(root)
        dpkg_cfg = root / strip.DPKG_EXCLUDES.lstrip("/")
        dpkg_cfg.parent.mkdir(parents=True, exist_ok=True)
        dpkg_cfg.write_text(strip.dpkg_excludes(definition, spec.locale))
        bootstrap.apply_script(root, render_script(baseline), epoch, log=_say)
        removed = strip.strip_tree(root, definition, spec.locale)
        _say(f"container: left out {len(removed)} paths (docs, man pages, locales, caches, logs)")
        rules = plan.Rules(definition.distribution_priorities, definition.package_state)
        planned = plan.write_layers(root, installed, layers, rules, work, epoch, settings.compression)
        size = sum(p.layer.size for p in planned)
        for p in planned:
            _say(f"container: layer {p.name}: {p.entries} entries, {kib(p.layer.size)} ({p.layer.digest})")
        budget = settings.size_budget_mib or definition.size_budget_mib
        if size > budget << 20:
            raise BuilderError(over_budget(root, size, budget),
                               hint="raise container.size_budget_mib, or drop packages (packages.toolset: false, packages.exclude)")
        labels = {**definition.labels, **image_labels(item, epoch)}
        env = {**definition.env, "LANG": spec.locale}
        origin = (f"builder {__version__}: {definition.bootstrap.tool} {definition.bootstrap.variant} "
                  f"{definition.bootstrap.suite}, baseline {BASELINE_VERSION}")
        built = image.make_image([p.layer for p in planned], cmd=list(definition.cmd), env=env, labels=labels, epoch=epoch,
                                 tag=TAG, history=[f"{origin}: {p.name}" for p in planned])
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".container.", dir=directory))
        staging.chmod(0o755)
        image.write_layout(built, staging / "oci")
        archive = staging / f"{spec.name}.docker.tar"
        image.write_docker_archive(built, staging / "oci", archive, f"{spec.name}:{TAG}", epoch)
        final = directory / "container"
        _replace_dir(staging, final)
        staging = None
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(directory)
        if not out_existed:
            _remove_if_empty(directory.parent)
        raise
    finally:
        _remove_work(work)
    _say(f"container: {spec.name}:{TAG} digest {built.digest}, {len(planned)} layer(s), {size / (1 << 20):.1f} MiB ({settings.compression})")
    archive = final / f"{spec.name}.docker.tar"
    if engine.engine_reachable():
        engine.load(archive, built.config_digest)
        _say(f"container: loaded into the Docker engine at {engine.engine_address()} as {spec.name}:{TAG} ({built.config_digest})")
    else:
        _say(f"container: not loaded: no Docker engine at {engine.engine_address()} (docker load -i {archive})")
    manifest_blob = image.blob_path(final / "oci", built.digest)
    return [record_for("container", directory, manifest_blob), record_for("container-archive", directory, archive)]


def image_labels(item, epoch: int) -> dict[str, str]:
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


def over_budget(root: Path, size: int, budget: int) -> str:
    lines = [f"the container image is {size / (1 << 20):.1f} MiB compressed, over its size budget of {budget} MiB",
             "biggest packages (bytes on disk):"]
    lines += [f"  {kib(b):>10}  {name}" for name, b in strip.package_sizes(root)[:10]]
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
