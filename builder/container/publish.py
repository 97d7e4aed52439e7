"""`builder publish SPEC --to registry`: the image to every registry reference at once, each recorded in manifest.json.

The references are the spec's `container.registry` (one or a list), or the `--registry` options, which replace it.
References on different registry hosts are pushed concurrently, at most `--jobs` at a time. References on the same
host are pushed one after the other, so that the later ones mount the blobs the first one has (a cross-repository
blob mount) instead of uploading them again. One failing stops none of the others: each reference gets its line
in the summary (JSON on stdout) and its record in manifest.json (`published.registry.<reference>`; the records are
written one at a time), and the exit code is 1 when any failed (PublishFailed). A re-run sends only what is still missing.

Then every mirror of container.prepull (all sites) is warmed: the image nodes pull is pulled through it, one
request at a time, so that it holds every blob before a rack of nodes asks for them at once (a cold pull-through
cache fetches a blob from the origin once per concurrent miss). Each mirror gets a line too (warmed or failed).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..errors import BuilderError, PublishFailed, UsageError
from ..host import progress, step
from ..manifest import Manifest
from ..workers import each_bounded
from .registry import Reference, Sent, parse_reference, push, warm


class Status(StrEnum):
    PUSHED = "pushed"
    ALREADY_THERE = "already-there"
    WARMED = "warmed"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """One reference's line of the summary."""

    registry: str
    status: Status
    blobs_sent: int = 0
    bytes_sent: int = 0
    blobs_mounted: int = 0
    digest: str = ""
    error: str = ""
    site: str = ""
    """A mirror's site (the line of a mirror warmed after the push), else empty."""
    bytes_fetched: int = 0

    def as_json(self) -> dict:
        if self.site:  # a mirror's line
            return {"registry": self.registry, "status": self.status.value, "site": self.site,
                    "bytes_fetched": self.bytes_fetched, "error": self.error or None}
        return {"registry": self.registry, "status": self.status.value, "blobs_sent": self.blobs_sent,
                "bytes_sent": self.bytes_sent, "blobs_mounted": self.blobs_mounted, "digest": self.digest or None,
                "error": self.error or None}


def references(item, given: list[str] | None) -> tuple[Reference, ...]:
    """The references to push to: `--registry` (repeatable) if given, else the spec's container.registry."""
    settings = item.spec.container
    texts = tuple(given) if given else (settings.registries if settings else ())
    if not texts:
        raise UsageError(f"{item.path}: no registry to push to",
                           hint="set container.registry in the spec, or give --registry HOST[:PORT]/REPO[:TAG] (repeatable)")
    refs = tuple(parse_reference(text) for text in texts)
    if len({str(ref) for ref in refs}) != len(refs):
        raise UsageError("a --registry reference is given twice", hint="give each reference once")
    return refs


def by_host(refs: Iterable[Reference]) -> list[list[Reference]]:
    """The references grouped by registry host, in their order: one group is pushed one reference after the other."""
    groups: dict[str, list[Reference]] = {}
    for ref in refs:
        groups.setdefault(ref.host, []).append(ref)
    return list(groups.values())


def record_publication(directory: Path, ref: Reference, digest: str) -> None:
    """Add the reference's record to manifest.json's registry records (Manifest.update: one writer at a time)."""
    def add(manifest: Manifest) -> Manifest:
        record = manifest.record("container")
        known = dict((record.published.get("registry") if record else None) or {})
        if isinstance(known.get("reference"), str):  # a manifest from before several registries: one record
            known = {known["reference"]: known}
        known[str(ref)] = {"reference": str(ref), "digest": digest, "pinned": f"{ref.host}/{ref.repository}@{digest}"}
        return manifest.with_publication("container", "registry", known)

    Manifest.update(directory, add)


def push_host(layout: Path, refs: list[Reference], plain_http: bool, directory: Path,
              log: Callable[[str], None]) -> list[Outcome]:
    """Push to the references of one host in turn; once one has the image, the others mount its blobs."""
    import requests

    outcomes, source = [], None
    for ref in refs:
        sent = Sent()
        try:
            with step(f"{ref}: pushing"):
                pushed = push(layout, ref, plain_http, log=log, mount_from=source, sent=sent)
        except (BuilderError, OSError, requests.RequestException) as exc:
            log(f"{ref}: FAILED: {exc}")
            outcomes.append(Outcome(str(ref), Status.FAILED, sent.blobs, sent.bytes, sent.mounted, error=str(exc)))
            continue
        record_publication(directory, ref, pushed.digest)
        source = source or ref.repository
        status = Status.ALREADY_THERE if pushed.already_there else Status.PUSHED
        outcomes.append(Outcome(str(ref), status, pushed.blobs_sent, pushed.bytes_sent, pushed.blobs_mounted, pushed.digest))
    return outcomes


def push_all(layout: Path, refs: tuple[Reference, ...], plain_http: bool, jobs: int, directory: Path,
             log: Callable[[str], None] = progress) -> list[Outcome]:
    """Push to every reference, each host's in turn and at most `jobs` hosts at once; the outcomes in the references' order."""
    done = each_bounded(by_host(refs), lambda group, _cancel: push_host(layout, group, plain_http, directory, log), jobs,
                        name="push")
    order = {str(ref): index for index, ref in enumerate(refs)}
    return sorted((outcome for outcomes in done for outcome in outcomes), key=lambda outcome: order[outcome.registry])


def mirrors_to_warm(item, outcomes: list[Outcome], log: Callable[[str], None] = progress) -> list[tuple[str, Reference]]:
    """(site, the pulled image's reference through the mirror) for every mirror of container.prepull, if the image the
    nodes pull is one this run pushed (or found there); nothing otherwise, and why."""
    prepull = item.spec.container.prepull if item.spec.container else None
    if prepull is None or not prepull.mirrors:
        return []
    pulled = parse_reference(prepull.image)
    there = [o for o in outcomes if o.registry == str(pulled) and o.status in (Status.PUSHED, Status.ALREADY_THERE)]
    if not there:
        failed = any(o.registry == str(pulled) for o in outcomes)
        log(f"mirrors not warmed: the image nodes pull, {pulled}, {'failed to push' if failed else 'is not one of the references pushed'}")
        return []
    return [(site, Reference(host, pulled.repository, pulled.tag)) for site, hosts in prepull.mirrors.items() for host in hosts]


def warm_mirrors(layout: Path, mirrors: list[tuple[str, Reference]], plain_http: bool, jobs: int,
                 log: Callable[[str], None] = progress) -> list[Outcome]:
    """Pull the image through every mirror, at most `jobs` mirrors at once, each one request at a time."""
    import requests

    def warm_one(site_and_ref: tuple[str, Reference], _cancel) -> Outcome:
        site, ref = site_and_ref
        try:
            fetched = warm(layout, ref, plain_http, log=log)
        except (BuilderError, OSError, requests.RequestException) as exc:
            log(f"{ref} (mirror, site {site}): FAILED: {exc}")
            return Outcome(str(ref), Status.FAILED, error=str(exc), site=site)
        return Outcome(str(ref), Status.WARMED, site=site, bytes_fetched=fetched)

    return each_bounded(mirrors, warm_one, jobs, name="warm")


def publish(item, args) -> None:
    """`builder publish SPEC --to registry [--registry REF]... [--jobs N] [--plain-http] [--no-warm]`; PublishFailed
    when a reference or mirror failed (its line says how)."""
    refs = references(item, args.registry)
    prepull = item.spec.container.prepull if item.spec.container else None
    if args.no_warm and not (prepull and prepull.mirrors):
        raise UsageError(f"--no-warm: {item.path} names no container.prepull.mirrors to warm")
    directory = args.out / item.spec.name
    manifest = Manifest.load_or_empty(directory)
    image_manifest = manifest.artifact("container", hint=f"build it: builder build {item.path} --only container --out {args.out}")
    layout = directory / "container" / "oci"
    if image_manifest.parent.parent.parent != layout:
        raise BuilderError(f"{image_manifest}: the recorded container image is not a blob of {layout}")
    outcomes = push_all(layout, refs, args.plain_http, args.jobs, directory)
    if not args.no_warm:
        outcomes += warm_mirrors(layout, mirrors_to_warm(item, outcomes), prepull.plain_http if prepull else False, args.jobs)
    for outcome in outcomes:
        sent = f"{outcome.blobs_sent} blob(s), {outcome.bytes_sent} bytes sent, {outcome.blobs_mounted} mounted"
        if outcome.error:
            detail = outcome.error.splitlines()[0] + ("" if outcome.site else f" ({sent})")
        elif outcome.site:
            detail = f"site {outcome.site}: {outcome.bytes_fetched} bytes pulled through it"
        else:
            detail = sent
        progress(f"{outcome.registry}: {outcome.status}: {detail}")
    json.dump([outcome.as_json() for outcome in outcomes], sys.stdout, indent=2)
    print()
    if any(outcome.status is Status.FAILED for outcome in outcomes):
        raise PublishFailed(outcomes)
