"""OUT/<name>/manifest.json: the one record of what a build left in a spec's output directory.

Builders hand the build their ArtifactRecords; the build writes them here; publishers and the
qcow2 reuse check read them back through `Manifest.load`, and `Manifest.artifact` re-checks a
file's size and sha256 before anyone uses it. Nothing else parses manifest.json.

Publishers add what they published to a record through `Manifest.update`, which loads, changes and
writes under a lock, so publishers running at the same time keep each other's records.

Every record was made under one header (spec hash, baseline and builder versions): a manifest
never mixes artifacts of two specs. See `builder.build` for how a build replaces the records
(and removes the files) of an older spec.
"""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import BuilderError
from .output import file_digest, write_atomic

MANIFEST = "manifest.json"

# What a publisher recorded (JSON): its shape is that publisher's own (and older manifests' shapes too); only the
# publisher reads it and checks its fields, so here it is JSON of any shape.
PublisherRecord = Mapping[str, Any]


class ManifestError(BuilderError):
    """manifest.json is missing, unreadable, or does not match the files beside it."""


@dataclass(frozen=True)
class ArtifactRecord:
    kind: str                      # the artifact kind, or "<kind>-<part>" for its other files (iso-remastered)
    path: str                      # relative to the manifest's directory
    size: int
    sha256: str
    cache_key: str = ""            # what it was built from, when a builder reuses an artifact (qcow2)
    published: Mapping[str, PublisherRecord] = field(default_factory=dict)   # destination -> what the publisher recorded

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        for optional in ("cache_key", "published"):
            if not data[optional]:
                del data[optional]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArtifactRecord:   # parsed JSON: every field is converted here
        return cls(kind=str(data["kind"]), path=str(data["path"]), size=int(data["size"]), sha256=str(data["sha256"]),
                   cache_key=str(data.get("cache_key", "")), published=dict(data.get("published") or {}))

    @property
    def top(self) -> str:
        """The entry of the output directory this record lives in (a file, or a directory like container/)."""
        return PurePosixPath(self.path).parts[0]


def record_for(kind: str, directory: Path, path: Path, cache_key: str = "") -> ArtifactRecord:
    """The record of a file a builder just wrote under `directory`."""
    return ArtifactRecord(kind, path.relative_to(directory).as_posix(), path.stat().st_size, file_digest(path),
                          cache_key=cache_key)


@dataclass(frozen=True)
class Manifest:
    directory: Path
    header: Mapping[str, object]   # name, target, spec, spec_sha256, baseline_version, builder_version
    artifacts: Mapping[str, ArtifactRecord] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.directory / MANIFEST

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        """The manifest of `directory`; a clear error when there is none or it is not one of ours."""
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text())
            records = {key: ArtifactRecord.from_json(value) for key, value in data.pop("artifacts").items()}
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such manifest: nothing was built into {directory}",
                                hint="build it first: builder build SPEC --out DIR") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"{path}: not a manifest builder wrote ({type(exc).__name__}: {exc})",
                                hint=f"remove {directory} and build again") from None
        return cls(directory, data, records)

    @classmethod
    def load_if_any(cls, directory: Path) -> Manifest | None:
        return cls.load(directory) if (directory / MANIFEST).exists() else None

    @classmethod
    def load_or_empty(cls, directory: Path) -> Manifest:
        """For a reader: no manifest reads as one that records nothing (`artifact` then says what is missing)."""
        return cls.load_if_any(directory) or cls(directory, {})

    @classmethod
    def update(cls, directory: Path, change: Callable[[Manifest], Manifest]) -> Manifest:
        """Load, change and write the manifest of `directory` as one step: publishers running at the same time
        (threads or processes) each add their record, none overwrites another's. The lock is on the directory,
        since the atomic write replaces manifest.json itself."""
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            changed = change(cls.load(directory))
            changed.write()
            return changed
        finally:
            os.close(fd)

    def same_build(self, header: Mapping[str, object]) -> bool:
        """Made from the same spec (hash) by the same baseline and builder: its records are not stale."""
        keys = ("spec_sha256", "baseline_version", "builder_version")
        return all(self.header.get(key) == header.get(key) for key in keys)

    def record(self, kind: str) -> ArtifactRecord | None:
        return self.artifacts.get(kind)

    def artifact(self, kind: str, hint: str | None = None) -> Path:
        """The file of the `kind` record, after checking its size and sha256 against the record."""
        record = self.artifacts.get(kind)
        if record is None:
            raise ManifestError(f"{self.path}: no {kind} recorded", hint=hint)
        path = self.directory / record.path
        if ".." in PurePosixPath(record.path).parts or PurePosixPath(record.path).is_absolute():
            raise ManifestError(f"{self.path}: the {kind} record points outside {self.directory}: {record.path}")
        if not path.is_file():
            raise ManifestError(f"{path}: recorded as the {kind} artifact, but missing", hint=hint)
        if path.stat().st_size != record.size or file_digest(path) != record.sha256:
            raise ManifestError(f"{path}: changed since it was built (its sha256 is not the {record.sha256} "
                                f"{MANIFEST} records)", hint=hint)
        return path

    def with_records(self, records: Iterable[ArtifactRecord]) -> Manifest:
        return replace(self, artifacts={**self.artifacts, **{r.kind: r for r in records}})

    def without(self, kinds: Iterable[str]) -> Manifest:
        gone = set(kinds)
        return replace(self, artifacts={k: r for k, r in self.artifacts.items() if k not in gone})

    def with_publication(self, kind: str, destination: str, info: PublisherRecord) -> Manifest:
        record = self.artifacts.get(kind)
        if record is None:
            raise ManifestError(f"{self.path}: no {kind} recorded, so its publication cannot be")
        published = {**record.published, destination: dict(info)}
        return replace(self, artifacts={**self.artifacts, kind: replace(record, published=published)})

    def as_json(self) -> dict[str, object]:
        return {**self.header, "artifacts": {k: self.artifacts[k].as_json() for k in sorted(self.artifacts)}}

    def write(self) -> Path:
        write_atomic(self.path, (json.dumps(self.as_json(), indent=2) + "\n").encode())
        return self.path
