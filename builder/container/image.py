"""The image around its layers: OCI config and manifest, the OCI image layout, and a docker-archive.

Every JSON document is serialised once (sorted keys, no spaces) and its digest taken
from those exact bytes; the registry push sends the same bytes.
"""
from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import BuilderError
from .layer import Layer

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sha256_of(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def iso_date(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Image:
    config: bytes
    manifest: bytes
    layers: tuple[Layer, ...]
    tag: str

    @property
    def config_digest(self) -> str:
        return sha256_of(self.config)

    @property
    def digest(self) -> str:
        return sha256_of(self.manifest)


def make_image(layers: list[Layer], *, cmd: list[str], env: dict[str, str], labels: dict[str, str], epoch: int,
               history: list[str], tag: str) -> Image:
    """The image of `layers` (lowest first), with one history entry per layer."""
    if len(history) != len(layers):
        raise ValueError("one history entry per layer")
    created = iso_date(epoch)
    config = canonical({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": cmd, "Env": [f"{k}={v}" for k, v in env.items()], "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": created, "created_by": line} for line in history],
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": sha256_of(config), "size": len(config)},
        "layers": [_descriptor(layer) for layer in layers],
        "annotations": {"org.opencontainers.image.created": created},
    })
    return Image(config, manifest, tuple(layers), tag)


def _descriptor(layer: Layer) -> dict:
    """A layer's manifest entry; only zstd:chunked layers have annotations (the others' manifests stay as they were)."""
    descriptor = {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
    if layer.annotations:
        descriptor["annotations"] = dict(layer.annotations)
    return descriptor


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


def write_layout(image: Image, layout: Path) -> None:
    """An OCI image layout in the new directory `layout`; the layer blobs are moved into it."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
    blob_path(layout, image.config_digest).write_bytes(image.config)
    blob_path(layout, image.digest).write_bytes(image.manifest)
    for layer in image.layers:
        if not blob_path(layout, layer.digest).exists():  # two layers with the same content are one blob
            shutil.move(layer.path, blob_path(layout, layer.digest))
    index = canonical({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{"mediaType": MANIFEST_TYPE, "digest": image.digest, "size": len(image.manifest),
                       "annotations": {"org.opencontainers.image.ref.name": image.tag}}],
    })
    (layout / "index.json").write_bytes(index)


DAMAGED_HINT = ("the image's OCI layout was damaged or changed after it was built: build it again "
                "(builder build SPEC --only container)")


def read_layout(layout: Path) -> tuple[bytes, dict, bytes]:
    """(manifest bytes, manifest, config bytes) of the one image in an OCI layout; the manifest's bytes checked
    against the digest index.json gives them."""
    index = json.loads((layout / "index.json").read_text())
    descriptor = index["manifests"][0]
    path = check_blob(layout, descriptor)
    manifest_bytes = path.read_bytes()
    if sha256_of(manifest_bytes) != descriptor["digest"]:
        raise BuilderError(f"blob {descriptor['digest']}: {path} changed while it was read", hint=DAMAGED_HINT)
    manifest = json.loads(manifest_bytes)
    return manifest_bytes, manifest, blob_path(layout, manifest["config"]["digest"]).read_bytes()


def check_blob(layout: Path, descriptor: dict) -> Path:
    """The file of a descriptor's blob, re-hashed (streamed, constant memory) against the descriptor's digest and size;
    a BuilderError naming the blob and the file when it is missing or holds other bytes."""
    import hashlib

    digest, path = descriptor["digest"], blob_path(layout, descriptor["digest"])
    hashed, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                hashed.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise BuilderError(f"blob {digest} is missing from the OCI layout: there is no {path}", hint=DAMAGED_HINT) from None
    except OSError as exc:
        raise BuilderError(f"blob {digest}: {path} cannot be read: {exc.strerror}", hint=DAMAGED_HINT) from None
    found = "sha256:" + hashed.hexdigest()
    if found != digest or size != descriptor.get("size", size):
        raise BuilderError(f"blob {digest}: {path} holds other bytes ({found}, {size} bytes; the image says "
                           f"{descriptor.get('size', size)} bytes)", hint=DAMAGED_HINT)
    return path


def write_docker_archive(image: Image, layout: Path, path: Path, repo_tag: str, epoch: int) -> None:
    """A `docker load` archive (Docker before 25 cannot load an OCI layout) that reuses the layout's blobs."""
    config_name = f"blobs/sha256/{image.config_digest.split(':')[1]}"
    layer_names = [f"blobs/sha256/{layer.digest.split(':')[1]}" for layer in image.layers]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]).encode()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(info)
        blobs = {config_name: image.config_digest, **{name: layer.digest for name, layer in zip(layer_names, image.layers, strict=True)}}
        for name, digest in blobs.items():
            source = blob_path(layout, digest)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = source.stat().st_size, 0o644, epoch
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mode, info.mtime = len(manifest), 0o644, epoch
        import io

        tar.addfile(info, io.BytesIO(manifest))
    os.chmod(path, 0o644)
