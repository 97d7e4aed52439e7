"""builder publish --to glance: the built qcow2 to every region at once.

The clouds are the --cloud options, else the spec's qcow2.glance_clouds, else OS_CLOUD (one region).
At most --jobs uploads run at a time (`workers.each_bounded`), each with its own connection
(`glance.publish_to_cloud`); one region failing does not stop the others, and ends the command with
PublishFailed (exit 1) naming the regions that lack the image. stderr says how each region ended as it ends, stdout gets one
JSON list (cloud, status, image_id, error), and every region that has the image is recorded in
OUT/NAME/manifest.json as published.glance.clouds.CLOUD. A re-run uploads only where the image is missing.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import PublishFailed, UsageError
from ..host import progress
from ..manifest import ArtifactRecord, Manifest
from ..workers import each_bounded
from .glance import CloudResult, LocalImage, Outcome, publish_to_cloud


def clouds_to_publish(spec, given: list[str] | None) -> list[str | None]:
    """--cloud replaces the spec's list; neither: OS_CLOUD (None: openstacksdk's own default)."""
    given = given or []
    for cloud in set(given):
        if given.count(cloud) > 1:
            raise UsageError(f"--cloud {cloud} is given twice: each region is published to once")
    if given:
        return list(given)
    return list(spec.qcow2_settings.glance_clouds) or [os.environ.get("OS_CLOUD") or None]


def publish_everywhere(image: LocalImage, clouds: list[str | None], jobs: int, directory: Path) -> list[CloudResult]:
    """Every cloud's result, in the order of `clouds`; each success recorded in the manifest as it comes."""
    progress(f"glance: publishing {image.name} (sha512 {image.sha512[:16]}...) to {len(clouds)} "
             f"cloud{'s' if len(clouds) > 1 else ''}, {min(jobs, len(clouds))} at a time")

    def finished(_cloud: str | None, result: CloudResult) -> None:
        report(result)
        if result.status is not Outcome.FAILED:
            record_publication(directory, image, result)

    return each_bounded(clouds, lambda cloud, cancel: publish_to_cloud(image, cloud, cancel), jobs, name="glance",
                        finished=finished)


def report(result: CloudResult) -> None:
    if result.status is Outcome.UPLOADED:
        progress(f"glance {result.cloud}: uploaded, active as {result.image_id}, sha512 matches")
    elif result.status is Outcome.ALREADY_THERE:
        progress(f"glance {result.cloud}: already there with the same sha512 ({result.image_id}): nothing uploaded")
    else:
        progress(f"glance {result.cloud}: FAILED: {result.error}" + (f"\n    hint: {result.hint}" if result.hint else ""))


def published_clouds(record: ArtifactRecord | None) -> dict[str, Mapping]:
    """The per-cloud Glance records of a qcow2 record; a manifest from before regions has one, unkeyed."""
    glance = dict(record.published.get("glance") or {}) if record else {}
    if "image_id" in glance:
        return {glance.get("cloud") or "default": glance}
    return dict(glance.get("clouds") or {})


def record_publication(directory: Path, image: LocalImage, result: CloudResult) -> None:
    def add(manifest: Manifest) -> Manifest:
        clouds = {**published_clouds(manifest.record("qcow2")), result.cloud: result.publication(image)}
        return manifest.with_publication("qcow2", "glance", {"clouds": dict(sorted(clouds.items()))})

    Manifest.update(directory, add)


def publish_command(item, args) -> None:
    """`builder publish SPEC --to glance [--cloud NAME]... [--jobs N]`; PublishFailed when a cloud failed."""
    directory = args.out / item.spec.name
    image = LocalImage.of(item.spec, directory, args.timeout)
    results = publish_everywhere(image, clouds_to_publish(item.spec, args.cloud), args.jobs, directory)
    print(json.dumps([result.summary() for result in results], indent=2))
    failed = [result.cloud for result in results if result.status is Outcome.FAILED]
    if failed:
        others = "; the others have it" if len(failed) < len(results) else ""
        raise PublishFailed(results, f"glance: {image.name} is not in {', '.join(failed)} ({len(failed)} of "
                            f"{len(results)} clouds failed{others})",
                            hint="publish again once the failed clouds answer: a re-run uploads only where the image is missing")
