"""`builder build`: a checklist of steps over the artifact kinds table (builder.kinds).

Each spec is planned once (builder.bootstrap.plan: its baselines and, when an image is made, the image definition
and the base tree) and that plan is handed to every kind. Nothing is written unless every requested kind of every
spec can be made and plans (the in-memory artifacts render, the image builds compose); a dry run prints those plans
and stops.

OUT/<name>/manifest.json describes every artifact in OUT/<name>/ and only artifacts of one
build identity (spec hash, baseline and builder versions). A build under another identity
removes the artifacts of the old one that it does not make again (they would describe a spec
that no longer exists); artifacts of the same identity that it does not make stay recorded.

Several specs: each is one job. `--jobs N` runs up to N jobs at once, in threads (the work is
commands); each job's stderr lines carry its spec's name. A failed job does not stop the others: each
job's outcome (built, failed and why, interrupted) is listed on stderr at the end, and the exit code is
the worst of them. A build into OUT/<name>/ holds that directory's lock, so a second builder process
building the same spec waits for the first instead of writing beside it. Ctrl-C (or SIGTERM) stops
every job's running command; each job unwinds through its own cleanup before builder exits.
"""
from __future__ import annotations

import contextlib
import shutil
import signal
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import __version__, host, locks
from .baseline import BASELINE_VERSION
from .bootstrap.plan import Plan, plan_for
from .errors import BuilderError, UsageError
from .host import progress
from .kinds import KINDS, ArtifactKind, BuildOptions, Kind, all_options, default_kinds, is_given, kind
from .manifest import MANIFEST, ArtifactRecord, Manifest
from .spec import LoadedSpec
from .workers import Stopping, each_bounded


class UnsupportedArtifact(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class Job:
    """One spec's part of a build: its plan, the kinds it makes and where."""

    plan: Plan
    directory: Path
    kinds: tuple[ArtifactKind, ...]

    @property
    def item(self) -> LoadedSpec:
        return self.plan.item


@dataclass(frozen=True)
class BuildContext:
    items: tuple[LoadedSpec, ...]
    out: Path
    only: tuple[Kind, ...]          # empty: each spec's default kinds
    options: BuildOptions


@dataclass(frozen=True)
class Outcome:
    """What became of one job: built (its directory), failed (the error), or not started."""

    job: Job
    directory: Path | None = None           # the directory whose manifest it wrote (None: nothing to build)
    error: BaseException | None = None
    started: bool = True
    records: tuple[ArtifactRecord, ...] = ()   # what this build wrote (the manifest may keep more, from before)

    @property
    def exit_code(self) -> int:
        if not self.started or isinstance(self.error, KeyboardInterrupt):
            return 130
        if self.error is None:
            return 0
        return self.error.exit_code if isinstance(self.error, BuilderError) else 1

    @property
    def state(self) -> str:
        if not self.started or isinstance(self.error, KeyboardInterrupt):
            return "interrupted"
        if self.error is not None:
            return "failed"
        return "built" if self.directory else "with nothing to build"

    def summary(self) -> str:
        name = self.job.item.spec.name
        if not self.started:
            return f"{name}: not started (interrupted)"
        if isinstance(self.error, KeyboardInterrupt):
            return f"{name}: interrupted (cleaned up)"
        if self.error is not None:
            return f"{name}: failed ({describe(self.error).splitlines()[0].removeprefix('error: ')})"
        return f"{name}: built ({self.directory})" if self.directory else f"{name}: nothing to build"


def build(items: list[LoadedSpec], out_dir: Path, only: list[str] | None = None,
          options: BuildOptions | None = None) -> list[Outcome]:
    """Build every loaded spec; each one's outcome (none in a dry run). With one spec, its error is raised."""
    context = BuildContext(tuple(items), out_dir, tuple(Kind(k) for k in dict.fromkeys(only or ())),
                           options or BuildOptions())
    refuse_foreign_options(context)
    refuse_unsupported_kinds(context)
    jobs = [job_for(context, item) for item in context.items]
    report_nothing_by_default(context, jobs)
    plans = plan_jobs(context, jobs)
    if context.options.dry_run:
        print_plans(plans)
        return []
    with host.interruptible():
        if len(jobs) == 1:
            directory, records = build_job(context, jobs[0])
            return [Outcome(jobs[0], directory, records=records)]
        outcomes = build_concurrently(context, jobs) if context.options.jobs > 1 else build_in_turn(context, jobs)
    report_outcomes(outcomes)
    return outcomes


# ------------------------------------------------------------------ refusals: before anything is read or written


def requested(context: BuildContext) -> tuple[ArtifactKind, ...]:
    """The kinds this build may make (--only's, else the default ones), in the table's order: quick ones first."""
    return tuple(k for k in KINDS if k.name in context.only) if context.only else default_kinds()


def refuse_foreign_options(context: BuildContext) -> None:
    """An option of a kind this build does not make would be silently ignored: refuse it."""
    building = requested(context)
    read = {option.flag for k in building for option in k.options}
    for option, kinds in all_options():
        if option.flag in read or not is_given(option, context.options):
            continue
        several = len(kinds) > 1
        asked = (f"--only leaves {'them' if several else 'it'} out" if context.only
                 else f"{'they are' if several else 'it is'} built only when asked with --only")
        raise UsageError(f"{option.flag} is for the {' and '.join(kinds)} artifact{'s' if several else ''}, and {asked}",
                         hint=f"add --only {kinds[0]}")


def refuse_unsupported_kinds(context: BuildContext) -> None:
    if not context.only:
        return
    for item in context.items:
        for name in context.only:
            refusal = kind(name).refusal(item.spec)
            if refusal is not None:
                raise UnsupportedArtifact(f"{item.where(refusal.field)}: {item.spec.target} has no {name}: {refusal.why}",
                                          hint=refusal.hint)


def job_for(context: BuildContext, item: LoadedSpec) -> Job:
    """The spec's kinds and its one plan (with the base tree when a kind starts from it)."""
    kinds = requested(context) if context.only else tuple(k for k in default_kinds() if k.refusal(item.spec) is None)
    return Job(plan_for(item, images=any(k.base_tree for k in kinds)), context.out / item.spec.name, kinds)


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
        with job_output(job, jobs):
            for artifact in job.kinds:
                lines += artifact.plan(job.plan, job.directory, context.options)
            lines += plan_manifest(job)
    return lines


def job_output(job: Job, jobs: list[Job]) -> contextlib.AbstractContextManager:
    """With several specs, a job's stderr lines start with its spec's name."""
    return host.progress_prefix(job.item.spec.name) if len(jobs) > 1 else contextlib.nullcontext()


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


def build_in_turn(context: BuildContext, jobs: list[Job]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for job in jobs:
        if host.interrupted() or (outcomes and isinstance(outcomes[-1].error, KeyboardInterrupt)):
            outcomes.append(Outcome(job, started=False))
        else:
            outcomes.append(attempt(context, job, jobs))
    return outcomes


def build_concurrently(context: BuildContext, jobs: list[Job]) -> list[Outcome]:
    """Up to --jobs jobs at once. Ctrl-C here (the main thread) stops every job's commands and waits for their cleanup;
    the jobs it kept from starting are listed as not started."""
    return each_bounded(jobs, lambda job, _cancel: attempt(context, job, jobs), context.options.jobs, name="builder-job",
                        stopping=STOP_EVERY_JOB, not_started=lambda job: Outcome(job, started=False))


def stop_every_job() -> None:
    host.say("interrupted: stopping every job, then cleaning up")
    host.interrupt_commands()


def still_cleaning_up() -> None:
    host.say("interrupted again: still cleaning up (mounts, loop devices, partial files)")


# A command that outlives SIGTERM by a minute gets SIGKILL.
STOP_EVERY_JOB = Stopping(stop_every_job, again=still_cleaning_up, escalate=lambda: host.interrupt_commands(signal.SIGKILL),
                          patience=60)


def attempt(context: BuildContext, job: Job, jobs: list[Job]) -> Outcome:
    """Build one job, its failure kept (and said, with the job's name) rather than raised."""
    if host.interrupted():
        return Outcome(job, started=False)
    with job_output(job, jobs):
        try:
            directory, records = build_job(context, job)
            return Outcome(job, directory, records=records)
        except (Exception, KeyboardInterrupt) as exc:
            host.say(describe(exc, tracebacks=not isinstance(exc, (BuilderError, OSError, KeyboardInterrupt))))
            return Outcome(job, error=exc)


def describe(exc: BaseException, tracebacks: bool = False) -> str:
    """An error as builder prints it."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, OSError) and not isinstance(exc, BuilderError):
        return f"error: {exc.filename or ''}: {exc.strerror or exc}"
    if tracebacks:
        return "".join(traceback.format_exception(exc)).rstrip()
    return f"error: {exc}"


def report_outcomes(outcomes: list[Outcome]) -> None:
    """The summary on stderr: how many specs ended which way (each counted once), then each spec."""
    counts = {"built": 0, "with nothing to build": 0, "failed": 0, "interrupted": 0}
    for outcome in outcomes:
        counts[outcome.state] += 1
    said = ", ".join(f"{n} {state}" for state, n in counts.items() if n or state in ("built", "failed"))
    host.say(f"{len(outcomes)} specs: {said}")
    for outcome in outcomes:
        host.say(f"  {outcome.summary()}")


def written_table(outcomes: list[Outcome]) -> list[str]:
    """What the build wrote, one row per file: spec, kind, path, size, and the image digest (container) or sha256."""
    rows = [("SPEC", "KIND", "PATH", "SIZE", "SHA256 (container: the image digest)")]
    for outcome in outcomes:
        for record in outcome.records:
            rows.append((outcome.job.item.spec.name, record.kind, str(outcome.job.directory / record.path),
                         human_size(record.size), f"sha256:{record.sha256}"))
    if len(rows) == 1:
        return []
    width = [max(len(row[i]) for row in rows) for i in range(4)]
    return [f"{spec:<{width[0]}}  {kind_:<{width[1]}}  {path:<{width[2]}}  {size:>{width[3]}}  {digest}"
            for spec, kind_, path, size, digest in rows]


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def build_job(context: BuildContext, job: Job) -> tuple[Path | None, tuple[ArtifactRecord, ...]]:
    """Make the job's kinds; its directory (None: nothing to build) and the records of what it wrote."""
    if not job.kinds:
        return None, ()
    written: list[ArtifactRecord] = []
    with removed_if_left_empty(job.directory), locks.directory_held(job.directory, f"another build into {job.directory}"):
        for artifact in job.kinds:
            host.raise_if_interrupted()
            records = artifact.build(job.plan, job.directory, context.options)
            record_artifacts(job, records)
            written += records
    return job.directory, tuple(written)


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
