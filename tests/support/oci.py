"""A small real image where `builder build --only container` leaves one, for tests of publishing and pulling it.

The image is made by builder's own layer and image writers from a few files (no bootstrap): a test of
where an image goes, and how nodes pull it, needs an image a registry and podman accept, not a Debian tree.
"""
from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

from builder.container.image import blob_path, make_image, read_layout, write_layout
from builder.container.layer import write_layer
from builder.manifest import Manifest, record_for
from builder.spec import Compression

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
EPOCH = 1_700_000_000


def spec_text(name: str, container: str = "{}") -> str:
    return (f"version: 1\nname: {name}\ntarget: debian-12\n"
            f'users: [{{name: ops, admin: true, sudo_nopasswd: true, ssh_keys: ["{KEY}"]}}]\n'
            f"container: {container}\n")


def write_small_image(out: Path, name: str, layers: int = 3, layer_bytes: int = 256 * 1024) -> dict:
    """OUT/<name>/container/oci with a `layers`-layer image, recorded in OUT/<name>/manifest.json as the container."""
    directory = out / name
    work = directory / ".work"
    blobs = []
    for index in range(layers):
        tree = work / f"tree{index}"
        (tree / "etc").mkdir(parents=True)
        (tree / "etc" / f"layer{index}").write_text(f"{name} layer {index}\n")
        # Bytes that do not compress away, so that a sent layer is visibly bigger than a request.
        seed = hashlib.sha256(f"{name}/{index}".encode()).digest()
        data = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(layer_bytes // 32))
        (tree / "etc" / f"data{index}.bin").write_bytes(data)
        blobs.append(write_layer(tree, work / f"layer{index}.blob", EPOCH, Compression.GZIP))
    image = make_image(blobs, cmd=["/bin/sh"], env={}, labels={}, epoch=EPOCH,
                       history=[f"layer {i}" for i in range(layers)], tag="latest")
    layout = directory / "container" / "oci"
    write_layout(image, layout)
    shutil.rmtree(work)
    manifest = Manifest(directory, {"name": name}).with_records([record_for("container", directory, blob_path(layout, image.digest))])
    manifest.write()
    return {"layout": layout, "digest": image.digest, "blobs": 1 + layers,
            "bytes": len(image.config) + sum(layer.size for layer in image.layers), "directory": directory}


def image_file(layout: Path, path: str) -> bytes:
    """A file of the image in an OCI layout, as its layers give it (the last layer that has it)."""
    _, manifest, _ = read_layout(layout)
    found = None
    for layer in manifest["layers"]:
        with tarfile.open(blob_path(layout, layer["digest"])) as archive:
            for member in archive:
                if member.name.removeprefix("./").lstrip("/") == path.lstrip("/") and member.isfile():
                    found = archive.extractfile(member).read()
    assert found is not None, f"{path} is in no layer of {layout}"
    return found
