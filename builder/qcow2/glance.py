"""builder publish --to glance: upload the built qcow2 with openstacksdk, once.

The image is identified by its sha512 (Glance's os_hash_value): an image with
the same name and the same sha512 already active in Glance means there is
nothing to do. An upload that does not become active in time is deleted, so
no image is left queued.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import BuilderError
from ..host import progress
from ..manifest import Manifest
from ..output import file_digest

BASE_PROPERTIES = {
    "hw_disk_bus": "scsi",
    "hw_scsi_model": "virtio-scsi",
    "hw_vif_model": "virtio",
    "hw_qemu_guest_agent": "yes",
    "os_type": "linux",
}


def properties(spec) -> dict[str, str]:
    info = spec.target.info
    return {**BASE_PROPERTIES, "os_distro": info.distro, "os_version": str(info.major), **spec.qcow2_settings.glance_properties}


def built_image(directory: Path) -> Path:
    """The qcow2 recorded in DIR/manifest.json, checked against its recorded sha256."""
    return Manifest.load_or_empty(directory).artifact("qcow2", hint="build it: builder build SPEC --only qcow2 --out DIR")


def connect(cloud: str | None):
    import openstack
    from openstack import exceptions

    try:
        return openstack.connect(cloud=cloud) if cloud else openstack.connect()
    except exceptions.ConfigException as exc:
        raise BuilderError(f"no usable cloud configuration: {exc}",
                           hint="name a cloud of clouds.yaml with --cloud, or set OS_CLOUD") from None


def publish_glance(item, directory: Path, cloud: str | None, timeout: float = 1800) -> dict:
    from keystoneauth1.exceptions import ClientException
    from openstack import exceptions

    image = built_image(directory)
    name = item.spec.qcow2_settings.glance_name or item.spec.name
    sha512 = file_digest(image, "sha512")
    conn = connect(cloud)
    try:
        for existing in conn.image.images(name=name):
            if existing.status == "active" and existing.hash_algo == "sha512" and existing.hash_value == sha512:
                progress(f"glance: {name} is already there with the same sha512 ({existing.id}): nothing uploaded")
                return _record(directory, existing, cloud, uploaded=False)
        progress(f"glance: uploading {image} as {name}")
        uploaded = upload(conn, image, name, properties(item.spec), timeout)
    except (exceptions.SDKException, ClientException) as exc:  # keystoneauth's: Glance unreachable or not a Glance
        raise BuilderError(f"glance: {_describe(exc)}", hint=_hint(exc)) from None
    if uploaded.hash_algo != "sha512" or uploaded.hash_value != sha512:
        _delete(conn, uploaded.id)
        raise BuilderError(f"glance: {name}: Glance computed {uploaded.hash_algo} {uploaded.hash_value}, "
                           f"the local file has sha512 {sha512}: the upload was deleted")
    progress(f"glance: {name} is active ({uploaded.id}), sha512 matches")
    return _record(directory, uploaded, cloud, uploaded=True)


def upload(conn, image: Path, name: str, props: dict[str, str], timeout: float):
    """Create, upload and wait for `active`; delete the image on any failure or time-out."""
    from openstack import exceptions
    from openstack.image.v2.image import Image

    created = Image.new(name=name, disk_format="qcow2", container_format="bare", **props).create(conn.image)
    try:
        with image.open("rb") as handle:
            created.data = handle
            exceptions.raise_from_response(created.upload(conn.image), error_message=f"upload of {name} refused")
        deadline = time.monotonic() + timeout
        while True:
            current = conn.image.get_image(created.id)
            if current.status == "active":
                return current
            if current.status in ("killed", "deleted", "deactivated"):
                raise BuilderError(f"glance: {name} went to status {current.status}")
            if time.monotonic() > deadline:
                raise BuilderError(f"glance: {name} still {current.status} after {timeout:.0f} s: deleted it",
                                   hint="check Glance's store and logs, then publish again")
            time.sleep(2)
    except BaseException:
        _delete(conn, created.id)
        raise


def _delete(conn, image_id: str) -> None:
    try:
        conn.image.delete_image(image_id, ignore_missing=True)
    except Exception as exc:  # the original error matters more than this one
        progress(f"glance: could not delete image {image_id}: {exc}")


def _record(directory: Path, image, cloud: str | None, uploaded: bool) -> dict:
    info = {"image_id": image.id, "name": image.name, "os_hash_algo": image.hash_algo, "os_hash_value": image.hash_value,
            "cloud": cloud, "uploaded": uploaded}
    Manifest.load(directory).with_publication("qcow2", "glance", info).write()
    return info


def _describe(exc) -> str:
    text = " ".join(str(exc).split())
    return text[:400]


def _hint(exc) -> str:
    from openstack import exceptions

    if isinstance(exc, (exceptions.EndpointNotFound, exceptions.NotFoundException)):
        return "check the image endpoint of the cloud in clouds.yaml"
    if isinstance(exc, exceptions.HttpException) and exc.status_code in (401, 403):
        return "check the credentials of the cloud in clouds.yaml"
    return "is Glance running and reachable? check the cloud's image endpoint in clouds.yaml (or OS_CLOUD)"


def publish_command(item, args) -> int:
    """`builder publish SPEC --to glance`."""
    info = publish_glance(item, args.out / item.spec.name, args.cloud, timeout=args.timeout)
    print(json.dumps(info, sort_keys=True))
    return 0
