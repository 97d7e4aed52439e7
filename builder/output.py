"""Atomic artifact output and the manifest that records it."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class ArtifactRecord:
    kind: str
    path: str          # relative to the manifest's directory
    size: int
    sha256: str


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in chunks (images are gigabytes)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def record_for(kind: str, directory: Path, path: Path) -> ArtifactRecord:
    return ArtifactRecord(kind, str(path.relative_to(directory)), path.stat().st_size, file_digest(path))


def write_manifest(directory: Path, header: dict, records: list[ArtifactRecord]) -> Path:
    """Merge `records` into DIR/manifest.json (artifacts built earlier stay recorded)."""
    path = directory / "manifest.json"
    artifacts: dict[str, dict] = {}
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            old = json.loads(path.read_text())
            if old.get("spec_sha256") == header.get("spec_sha256"):
                artifacts = old.get("artifacts", {})
    for record in records:
        artifacts[record.kind] = asdict(record)
    manifest = {**header, "artifacts": dict(sorted(artifacts.items()))}
    write_atomic(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())
    return path


def record_publication(directory: Path, kind: str, destination: str, info: dict) -> Path:
    """Record in DIR/manifest.json where artifact `kind` was published (reference, digest, image id...)."""
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    artifact = manifest.get("artifacts", {}).get(kind)
    if artifact is None:
        raise KeyError(f"{path} records no {kind} artifact")
    artifact.setdefault("published", {})[destination] = info
    write_atomic(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())
    return path
