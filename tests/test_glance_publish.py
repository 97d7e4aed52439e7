"""builder publish --to glance against a real Glance from PyPI on 127.0.0.1 (no auth, file store)."""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.glance import Glance, running_glance
from support.processes import free_port
from support.qcow2 import BUILDER, EXAMPLE, build_cached, why_not_dib
from support.requirements import skip_or_fail

from builder.manifest import Manifest, record_for
from builder.output import file_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def glance(tmp_path_factory) -> Iterator[Glance]:
    try:
        with running_glance(tmp_path_factory.mktemp("glance")) as server:
            yield server
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        skip_or_fail(f"cannot start Glance: {exc}")


def connection(glance: Glance):
    import openstack

    return openstack.connect(auth_type="none", image_endpoint_override=glance.url, image_api_version="2")


def spec_named(tmp_path: Path, glance_name: str) -> Path:
    spec = tmp_path / f"{glance_name}.yaml"
    spec.write_text(EXAMPLE.read_text().replace("qcow2:\n", f"qcow2:\n  glance_name: {glance_name}\n"))
    return spec


def built_out(tmp_path: Path, image_bytes: bytes | None = None) -> Path:
    """An OUT dir as builder build leaves it, with a small real qcow2 (or the given bytes) recorded."""
    directory = tmp_path / "out" / "debian12-node"
    directory.mkdir(parents=True)
    image = directory / "debian12-node.qcow2"
    if image_bytes is None:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "32M"], check=True)
    else:
        image.write_bytes(image_bytes)
    Manifest(directory, {"name": "debian12-node"}).with_records([record_for("qcow2", directory, image)]).write()
    return directory.parent


def publish(spec: Path, out: Path, glance: Glance, clouds: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds or glance.clouds_yaml)}
    return subprocess.run([BUILDER, "publish", str(spec), "--to", "glance", "--out", str(out), "--cloud", glance.cloud],
                          capture_output=True, text=True, env=env)


def test_publish_the_built_image(glance, tmp_path):
    reason = why_not_dib()
    if reason:
        skip_or_fail(reason)
    built = build_cached()
    directory = tmp_path / "out" / "debian12-node"
    directory.mkdir(parents=True)
    os.link(built, directory / built.name)  # the cached build stays untouched
    (directory / "manifest.json").write_text((built.parent / "manifest.json").read_text())
    proc = publish(EXAMPLE, tmp_path / "out", glance)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["uploaded"] is True
    image = connection(glance).image.get_image(info["image_id"])
    assert image.status == "active" and image.name == "debian12-node"
    assert image.hash_algo == "sha512" and image.hash_value == file_digest(built, "sha512")
    assert (image.disk_format, image.container_format) == ("qcow2", "bare")
    props = connection(glance).image.get(f"/images/{image.id}").json()  # Glance's own flat view of the image
    assert {k: props.get(k) for k in ("hw_disk_bus", "hw_scsi_model", "hw_vif_model", "hw_qemu_guest_agent", "os_type",
                                      "os_distro", "os_version", "hw_machine_type")} == {
        "hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi", "hw_vif_model": "virtio", "hw_qemu_guest_agent": "yes",
        "os_type": "linux", "os_distro": "debian", "os_version": "12", "hw_machine_type": "q35"}
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["artifacts"]["qcow2"]["published"]["glance"]["image_id"] == image.id


def test_republish_uploads_nothing(glance, tmp_path):
    spec = spec_named(tmp_path, "republish-test")
    out = built_out(tmp_path)
    first = publish(spec, out, glance)
    assert first.returncode == 0, first.stderr
    second = publish(spec, out, glance)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["uploaded"] is False
    assert json.loads(second.stdout)["image_id"] == json.loads(first.stdout)["image_id"]
    assert "nothing uploaded" in second.stderr
    assert len(list(connection(glance).image.images(name="republish-test"))) == 1


def test_changed_image_is_uploaded_again(glance, tmp_path):
    spec = spec_named(tmp_path, "changed-test")
    assert publish(spec, built_out(tmp_path / "a"), glance).returncode == 0
    out = built_out(tmp_path / "b")
    image = out / "debian12-node" / "debian12-node.qcow2"
    subprocess.run(["qemu-img", "resize", "-q", str(image), "48M"], check=True)
    Manifest(image.parent, {"name": "debian12-node"}).with_records([record_for("qcow2", image.parent, image)]).write()
    proc = publish(spec, out, glance)
    assert proc.returncode == 0 and json.loads(proc.stdout)["uploaded"] is True, proc.stderr


def test_rejected_upload_leaves_no_image(glance, tmp_path):
    """Glance refuses bytes that are not a qcow2: the image it created for them is deleted, not left queued."""
    spec = spec_named(tmp_path, "rejected-test")
    proc = publish(spec, built_out(tmp_path, b"not a qcow2 at all\n" * 4096), glance)
    assert proc.returncode == 1
    assert "glance:" in proc.stderr
    assert list(connection(glance).image.images(name="rejected-test")) == []


def test_glance_down_is_a_clear_error(glance, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds:\n  {glance.cloud}:\n    auth_type: none\n    image_endpoint_override: http://127.0.0.1:{free_port()}/\n")
    proc = publish(spec_named(tmp_path, "down-test"), built_out(tmp_path), glance, clouds)
    assert proc.returncode == 1
    assert "error: glance:" in proc.stderr and "is Glance running" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_publish_before_build_is_a_clear_error(glance, tmp_path):
    proc = publish(EXAMPLE, tmp_path / "nothing", glance)
    assert proc.returncode == 1 and "no qcow2 recorded" in proc.stderr
