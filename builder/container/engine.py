"""The Docker engine, through the docker SDK: load a built image, unpack an image for the checks.

The engine is the one DOCKER_HOST names (the SDK's usual rules), or the default socket.
Loads into one engine take turns (a lock per engine address, between threads and builder
processes): the SDK reads the loaded image back by its tag, which another build's load of the
same name could move in between.
"""
from __future__ import annotations

import os
import tarfile
from pathlib import Path

from .. import locks
from ..errors import BuilderError


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def engine_reachable() -> bool:
    address = engine_address()
    return not address.startswith("unix://") or Path(address.removeprefix("unix://")).exists()


def client():
    import docker

    try:
        engine = docker.from_env(timeout=600)
        engine.ping()
    except docker.errors.DockerException as exc:
        raise BuilderError(f"no Docker engine answers at {engine_address()}: {exc}",
                           hint="start dockerd, or point DOCKER_HOST at it (unix:///path/to/docker.sock)") from None
    return engine


def load(archive: Path, config_digest: str) -> str:
    """Load a docker-archive; the engine's image id must be the config's digest (it is, when the config bytes survive)."""
    engine = client()
    with locks.held(locks.lock_file("engine", engine_address()), f"another build's load into {engine_address()}"), \
            archive.open("rb") as handle:
        images = engine.images.load(handle)
        ids = [image.id for image in images]
    if ids != [config_digest]:
        raise BuilderError(f"the engine loaded {', '.join(ids) or 'nothing'} from {archive}, expected image id {config_digest}")
    return config_digest


def export_image(reference: str, directory: Path) -> str:
    """Unpack the file system of image `reference` into `directory` (a created, never started, container); its image id."""
    import docker

    engine = client()
    try:
        image = engine.images.get(reference)
    except docker.errors.ImageNotFound:
        raise BuilderError(f"image {reference} is not in the engine at {engine_address()}",
                           hint="build it (builder build --only container) or pull it first") from None
    container = engine.containers.create(image.id, command=["/bin/true"], network_disabled=True)
    try:
        stream = _Chunks(container.export())
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            tar.extractall(directory, filter=_no_devices, numeric_owner=True)
    finally:
        container.remove(force=True)
    return image.id


def _no_devices(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    if member.ischr() or member.isblk():
        return None
    return tarfile.tar_filter(member, path)


class _Chunks:
    """A file-like reader over the SDK's chunk iterator."""

    def __init__(self, chunks):
        self.chunks, self.buffer = iter(chunks), b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data
