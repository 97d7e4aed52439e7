"""builder publish --to glance, one cloud: upload the built qcow2 with openstacksdk, once.

The image is identified by its sha512 (Glance's os_hash_value): an image with the same name and the
same sha512 already active in the cloud means there is nothing to do. An upload that fails or does not
become active in time is deleted. When the cloud cannot be asked to (it went away mid-upload), the
image stays there half made (queued or saving), and the next publish to that cloud deletes every image
of our name in a HALF_MADE status before it uploads.

A Glance failure ends as a failed CloudResult, not an exception, so the other regions go on
(`glance_regions` runs one `publish_to_cloud` per cloud, each in its own thread).
"""
from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..errors import BuilderError
from ..host import progress, step
from ..manifest import Manifest
from ..output import file_digest

BASE_PROPERTIES = {
    "hw_disk_bus": "scsi",
    "hw_scsi_model": "virtio-scsi",
    "hw_vif_model": "virtio",
    "hw_qemu_guest_agent": "yes",
    "os_type": "linux",
}
# Statuses of an upload that never finished: created and no data yet (queued), data arriving when the
# Glance process died (saving, which it keeps after a restart), or refused by the store (killed).
HALF_MADE = frozenset({"queued", "saving", "killed"})
POLL_SECONDS = 2


class Outcome(StrEnum):
    UPLOADED = "uploaded"
    ALREADY_THERE = "already-there"
    FAILED = "failed"


class Interrupted(Exception):
    """The publish was interrupted (Ctrl-C): this upload stops at its next block."""


class WrongHash(Exception):
    """Glance computed another sha512 than the local file's."""


def properties(spec) -> dict[str, str]:
    info = spec.target.info
    return {**BASE_PROPERTIES, "os_distro": info.distro, "os_version": str(info.major), **spec.qcow2_settings.glance_properties}


def built_image(directory: Path) -> Path:
    """The qcow2 recorded in DIR/manifest.json, checked against its recorded sha256."""
    return Manifest.load_or_empty(directory).artifact("qcow2", hint="build it: builder build SPEC --only qcow2 --out DIR")


@dataclass(frozen=True)
class LocalImage:
    """What is published: the built file, its Glance name, sha512 and properties."""

    path: Path
    name: str
    sha512: str
    properties: dict[str, str]
    timeout: float  # seconds Glance may leave one request unanswered, or an upload take to become active

    @classmethod
    def of(cls, spec, directory: Path, timeout: float) -> LocalImage:
        path = built_image(directory)
        return cls(path, spec.qcow2_settings.glance_name or spec.name, file_digest(path, "sha512"), properties(spec), timeout)


@dataclass(frozen=True)
class CloudResult:
    cloud: str
    status: Outcome
    image_id: str | None = None
    error: str | None = None
    hint: str | None = None

    def summary(self) -> dict:
        return {"cloud": self.cloud, "status": str(self.status), "image_id": self.image_id, "error": self.error}

    def publication(self, image: LocalImage) -> dict:
        """What manifest.json records for this cloud (the fields of the one-cloud record before regions)."""
        return {"image_id": self.image_id, "name": image.name, "os_hash_algo": "sha512", "os_hash_value": image.sha512,
                "cloud": self.cloud, "uploaded": self.status is Outcome.UPLOADED}


def connect(cloud: str | None, timeout: float):
    """A connection of its own (one per thread); a request Glance leaves unanswered for `timeout` seconds fails."""
    import openstack
    from openstack import exceptions

    try:
        return openstack.connect(cloud=cloud, api_timeout=timeout) if cloud else openstack.connect(api_timeout=timeout)
    except exceptions.ConfigException as exc:
        raise BuilderError(f"no usable cloud configuration: {exc}",
                           hint="name a cloud of clouds.yaml with --cloud or qcow2.glance_clouds, or set OS_CLOUD") from None


def publish_to_cloud(image: LocalImage, cloud: str | None, cancel: threading.Event) -> CloudResult:
    """The image in `cloud` (None: openstacksdk's default, from the environment), uploaded unless already there."""
    from keystoneauth1.exceptions import ClientException
    from openstack import exceptions

    label = cloud or "default"
    try:
        conn = connect(cloud, image.timeout)
    except BuilderError as exc:
        return CloudResult(label, Outcome.FAILED, error=exc.args[0], hint=exc.hint)
    label = cloud or conn.config.name or label
    try:
        named = list(conn.image.images(name=image.name))
        for existing in named:
            if existing.status == "active" and existing.hash_algo == "sha512" and existing.hash_value == image.sha512:
                return CloudResult(label, Outcome.ALREADY_THERE, existing.id)
        delete_half_made(conn, named, image, label)
        with step(f"glance {label}: uploading {image.path} as {image.name}"):
            return upload(conn, image, label, cancel)
    except (exceptions.SDKException, ClientException) as exc:  # keystoneauth's: Glance unreachable or not a Glance
        return CloudResult(label, Outcome.FAILED, error=_describe(exc), hint=_hint(exc))


def delete_half_made(conn, named: list, image: LocalImage, label: str) -> None:
    """The images of our name an earlier publish left behind when its cloud went away mid-upload."""
    for stale in named:
        if stale.status in HALF_MADE and stale.hash_value != image.sha512:
            progress(f"glance {label}: deleting {stale.id}, left {stale.status} by an upload that did not finish")
            conn.image.delete_image(stale.id, ignore_missing=True)


def upload(conn, image: LocalImage, label: str, cancel: threading.Event) -> CloudResult:
    """Create, upload, wait for `active` and compare the sha512; the image is deleted when any of it fails."""
    from keystoneauth1.exceptions import ClientException
    from openstack import exceptions
    from openstack.image.v2.image import Image

    created = Image.new(name=image.name, disk_format="qcow2", container_format="bare", **image.properties).create(conn.image)
    try:
        with _CancellableFile(image.path, cancel) as handle:
            created.data = handle
            exceptions.raise_from_response(created.upload(conn.image), error_message=f"upload of {image.name} refused")
        current = wait_active(conn, created.id, image, cancel)
        if current.hash_algo != "sha512" or current.hash_value != image.sha512:
            raise WrongHash(f"Glance computed {current.hash_algo} {current.hash_value}, the local file has sha512 {image.sha512}")
        return CloudResult(label, Outcome.UPLOADED, current.id)
    except (exceptions.SDKException, ClientException, BuilderError, WrongHash, Interrupted) as exc:
        hint = exc.hint if isinstance(exc, BuilderError) else _hint(exc)
        return CloudResult(label, Outcome.FAILED, created.id, f"{_describe(exc)}; {_delete(conn, created.id)}", hint)
    except BaseException:
        _delete(conn, created.id)
        raise


def wait_active(conn, image_id: str, image: LocalImage, cancel: threading.Event):
    deadline = time.monotonic() + image.timeout
    while True:
        current = conn.image.get_image(image_id)
        if current.status == "active":
            return current
        if current.status in ("killed", "deleted", "deactivated"):
            raise BuilderError(f"{image.name} went to status {current.status}", hint="check Glance's store and logs")
        if time.monotonic() > deadline:
            raise BuilderError(f"{image.name} still {current.status} after {image.timeout:.0f} s",
                               hint="check Glance's store and logs, then publish again")
        if cancel.wait(POLL_SECONDS):
            raise Interrupted("interrupted while Glance was processing the upload")


class _CancellableFile(io.FileIO):
    """The image file as the upload reads it, block by block: a set `cancel` stops the upload at the next block."""

    def __init__(self, path: Path, cancel: threading.Event):
        super().__init__(path, "rb")
        self.cancel = cancel

    def read(self, size: int | None = -1) -> bytes:
        if self.cancel.is_set():
            raise Interrupted("interrupted during the upload")
        return super().read(size)


def _delete(conn, image_id: str) -> str:
    """Delete a failed upload; say what became of it (the original error matters more than this one)."""
    try:
        conn.image.delete_image(image_id, ignore_missing=True)
    except Exception as exc:
        return (f"the half-made image {image_id} could not be deleted ({_describe(exc, 200)}): "
                f"the next publish to this cloud deletes it")
    return f"the half-made image {image_id} was deleted"


def _describe(exc, limit: int = 400) -> str:
    text = " ".join(str(exc).split())
    return text[:limit]


def _hint(exc) -> str:
    from openstack import exceptions

    if isinstance(exc, WrongHash):
        return "the file or the transfer was corrupted: publish again"
    if isinstance(exc, Interrupted):
        return "publish again: it uploads only where the image is missing"
    if isinstance(exc, (exceptions.EndpointNotFound, exceptions.NotFoundException)):
        return "check the image endpoint of the cloud in clouds.yaml"
    if isinstance(exc, exceptions.HttpException) and exc.status_code in (401, 403):
        return "check the credentials of the cloud in clouds.yaml"
    return "is Glance running and reachable? check the cloud's image endpoint in clouds.yaml"
