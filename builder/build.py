"""`builder build`: a checklist of steps over the artifact kinds table (builder.kinds).

Nothing is written unless every requested kind of every spec can be made and plans (the
in-memory artifacts render, the image builds compose); a dry run prints those plans and stops.

OUT/<name>/manifest.json describes every artifact in OUT/<name>/ and only artifacts of one
build identity (spec hash, baseline and builder versions). A build under another identity
removes the artifacts of the old one that it does not make again (they would describe a spec
that no longer exists); artifacts of the same identity that it does not make stay recorded.
"""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .baseline import BASELINE_VERSION
from .errors import BuilderError, UsageError
from .host import progress
from .kinds import KINDS, ArtifactKind, BuildOptions, Kind, default_kinds, given_options, kind
from .manifest import MANIFEST, ArtifactRecord, Manifest
from .spec import LoadedSpec


class UnsupportedArtifact(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class Job:
    """One spec's part of a build: the kinds it makes and where."""

    item: LoadedSpec
    directory: Path
    kinds: tuple[ArtifactKind, ...]


@dataclass(frozen=True)
class BuildContext:
    items: tuple[LoadedSpec, ...]
    out: Path
    only: tuple[Kind, ...]          # empty: each spec's default kinds
    options: BuildOptions


def build(items: list[LoadedSpec], out_dir: Path, only: list[str] | None = None,
          options: BuildOptions | None = None) -> list[Path]:
    """Build every loaded spec; the directories whose manifest was written (none in a dry run)."""
    context = BuildContext(tuple(items), out_dir, tuple(Kind(k) for k in dict.fromkeys(only or ())),
                           options or BuildOptions())
    refuse_foreign_options(context)
    refuse_shared_names(context)
    refuse_unsupported_kinds(context)
    jobs = [job_for(context, item) for item in context.items]
    report_nothing_by_default(context, jobs)
    plans = plan_jobs(context, jobs)
    if context.options.dry_run:
        print_plans(plans)
        return []
    return [directory for job in jobs if (directory := build_job(context, job)) is not None]


# ------------------------------------------------------------------ refusals: before anything is read or written


def requested(context: BuildContext) -> tuple[ArtifactKind, ...]:
    """The kinds this build may make (--only's, else the default ones), in the table's order: quick ones first."""
    return tuple(k for k in KINDS if k.name in context.only) if context.only else default_kinds()


def refuse_foreign_options(context: BuildContext) -> None:
    """An option of a kind this build does not make would be silently ignored: refuse it."""
    building = requested(context)
    for other in KINDS:
        if other in building:
            continue
        for option in given_options(other, context.options):
            asked = "--only leaves it out" if context.only else "it is built only when asked with --only"
            raise UsageError(f"{option.flag} is for the {other.name} artifact, and {asked}", hint=f"add --only {other.name}")


def refuse_shared_names(context: BuildContext) -> None:
    names: dict[str, Path] = {}
    for item in context.items:
        if item.spec.name in names:
            raise BuilderError(f"{item.path}: name {item.spec.name!r} is also used by {names[item.spec.name]}",
                               hint="each spec writes to OUT/<name>/; give the specs different names")
        names[item.spec.name] = item.path


def refuse_unsupported_kinds(context: BuildContext) -> None:
    if not context.only:
        return
    for item in context.items:
        for name in context.only:
            refusal = kind(name).refusal(item.spec)
            if refusal is not None:
                raise UnsupportedArtifact(f"{item.path}: {item.spec.target} has no {name}: {refusal.why}", hint=refusal.hint)


def job_for(context: BuildContext, item: LoadedSpec) -> Job:
    kinds = requested(context) if context.only else tuple(k for k in default_kinds() if k.refusal(item.spec) is None)
    return Job(item, context.out / item.spec.name, kinds)


def report_nothing_by_default(context: BuildContext, jobs: list[Job]) -> None:
    if context.only:
        return
    for job in jobs:
        if not job.kinds:
            kinds = ", ".join(k.name for k in KINDS if k.refusal(job.item.spec) is None) or "none yet"
            progress(f"{job.item.path}: nothing to build by default for {job.item.spec.target}: ask with --only ({kinds})")


# ------------------------------------------------------------------ plans: every kind proves it can start


def plan_jobs(context: BuildContext, jobs: list[Job]) -> list[str]:
    """Every kind's plan, for every spec, before anything is written (the dry run prints them)."""
    lines: list[str] = []
    for job in jobs:
        for artifact in job.kinds:
            lines += artifact.plan(job.item, job.directory, context.options)
        lines += plan_manifest(job)
    return lines


def plan_manifest(job: Job) -> list[str]:
    if not job.kinds:
        return []
    lines = [f"{job.directory / 'manifest.json'}: would record {', '.join(k.name for k in job.kinds)}"]
    old = Manifest.load_if_any(job.directory)
    if old is not None and not old.same_build(manifest_header(job.item)):
        building = {k.name for k in job.kinds}
        stale = sorted({r.top for r in old.artifacts.values() if r.kind.split("-")[0] not in building})
        if stale:
            lines.append(f"{job.directory}: would remove {', '.join(stale)} (built from spec sha256 "
                         f"{old.header.get('spec_sha256')}, not this one)")
    return lines


def print_plans(lines: list[str]) -> None:
    for line in lines:
        print(line)


# ------------------------------------------------------------------ the build


def build_job(context: BuildContext, job: Job) -> Path | None:
    if not job.kinds:
        return None
    with removed_if_left_empty(job.directory):
        for artifact in job.kinds:
            records = artifact.build(job.item, job.directory, context.options)
            record_artifacts(job, records)
    return job.directory


@contextlib.contextmanager
def removed_if_left_empty(directory: Path) -> Iterator[None]:
    """A failed build leaves no empty OUT/<name>/ (or OUT/) that it created."""
    created = [d for d in (directory, directory.parent) if not d.exists()]
    try:
        yield
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def record_artifacts(job: Job, records: list[ArtifactRecord]) -> Path:
    """Write the manifest with `records`: kept records of this build identity, stale ones (and their files) removed."""
    header = manifest_header(job.item)
    old = Manifest.load_if_any(job.directory)
    manifest = Manifest(job.directory, header)
    if old is not None and old.same_build(header):
        manifest = manifest.with_records(r for r in old.artifacts.values() if (job.directory / r.path).exists())
    elif old is not None:
        remove_stale(job.directory, old, records)
    return manifest.with_records(records).write()


def remove_stale(directory: Path, old: Manifest, records: list[ArtifactRecord]) -> None:
    """Remove what the records of another build identity point at, unless this build just wrote it."""
    fresh = {r.top for r in records}
    for top in sorted({r.top for r in old.artifacts.values()} - fresh - {"..", "/", MANIFEST}):
        path = directory / top
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        progress(f"removed {path}: built from spec sha256 {old.header.get('spec_sha256')}, not this one")


def manifest_header(item: LoadedSpec) -> dict:
    return {
        "name": item.spec.name,
        "target": str(item.spec.target),
        "spec": str(item.path),
        "spec_sha256": item.sha256,
        "baseline_version": BASELINE_VERSION,
        "builder_version": __version__,
    }
