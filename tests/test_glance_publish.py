"""builder publish --to glance against a real Glance from PyPI on 127.0.0.1 (no auth, file store)."""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.glance import Glance, running_glances
from support.processes import free_port
from support.qcow2 import BUILDER, EXAMPLE, build_cached, why_not_dib
from support.requirements import skip_or_fail

from builder.manifest import Manifest, record_for
from builder.output import file_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def regions(tmp_path_factory) -> Iterator[list[Glance]]:
    """Two regions, each its own Glance, in one clouds.yaml."""
    try:
        with running_glances(tmp_path_factory.mktemp("glance"), ["region-a", "region-b"]) as servers:
            yield servers
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        skip_or_fail(f"cannot start Glance: {exc}")


@pytest.fixture
def glance(regions) -> Glance:
    return regions[1]


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


def big_built_out(tmp_path: Path, mib: int) -> Path:
    """An OUT dir with a qcow2 of `mib` MiB of random data: big enough that its upload is seen in progress."""
    directory = tmp_path / "out" / "debian12-node"
    directory.mkdir(parents=True)
    raw, image = tmp_path / "random.raw", directory / "debian12-node.qcow2"
    with raw.open("wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(1 << 20))
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(image)], check=True)
    raw.unlink()
    Manifest(directory, {"name": "debian12-node"}).with_records([record_for("qcow2", directory, image)]).write()
    return directory.parent


def publish_argv(spec: Path, out: Path, *clouds: Glance) -> list[str]:
    return [BUILDER, "publish", str(spec), "--to", "glance", "--out", str(out), *(f"--cloud={g.cloud}" for g in clouds)]


def publish(spec: Path, out: Path, glance: Glance, clouds: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(publish_argv(spec, out, glance), capture_output=True, text=True, env=clouds_env(clouds or glance.clouds_yaml))


def clouds_env(clouds_yaml: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "OS_CLOUD"}, "OS_CLIENT_CONFIG_FILE": str(clouds_yaml)}


def only_result(proc: subprocess.CompletedProcess) -> dict:
    (result,) = json.loads(proc.stdout)
    return result


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
    info = only_result(proc)
    assert (info["cloud"], info["status"], info["error"]) == (glance.cloud, "uploaded", None)
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
    assert manifest["artifacts"]["qcow2"]["published"]["glance"]["clouds"][glance.cloud]["image_id"] == image.id


def test_republish_uploads_nothing(glance, tmp_path):
    spec = spec_named(tmp_path, "republish-test")
    out = built_out(tmp_path)
    first = publish(spec, out, glance)
    assert first.returncode == 0, first.stderr
    second = publish(spec, out, glance)
    assert second.returncode == 0, second.stderr
    assert only_result(second)["status"] == "already-there"
    assert only_result(second)["image_id"] == only_result(first)["image_id"]
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
    assert proc.returncode == 0 and only_result(proc)["status"] == "uploaded", proc.stderr


def test_rejected_upload_leaves_no_image(glance, tmp_path):
    """Glance refuses bytes that are not a qcow2: the image it created for them is deleted, not left queued."""
    spec = spec_named(tmp_path, "rejected-test")
    proc = publish(spec, built_out(tmp_path, b"not a qcow2 at all\n" * 4096), glance)
    assert proc.returncode == 1
    assert "glance:" in proc.stderr
    assert only_result(proc)["status"] == "failed" and "was deleted" in only_result(proc)["error"]
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


def wait_for_upload(glance: Glance, name: str, proc: subprocess.Popen) -> str:
    """Poll the region until an image `name` is receiving data (saving); its status then."""
    conn = connection(glance)
    while proc.poll() is None:
        statuses = [image.status for image in conn.image.images(name=name)]
        if statuses and statuses != ["queued"]:
            return statuses[0]
        time.sleep(0.05)
    pytest.fail(f"publish ended before its upload to {glance.cloud} was seen: {proc.stderr.read()}")


def images_ever_named(glance: Glance, name: str) -> int:
    """Rows of Glance's own database for `name`, the deleted ones included: every image ever created under it."""
    with contextlib.closing(sqlite3.connect(glance.server.base / "glance.sqlite")) as db:
        return db.execute("SELECT count(*) FROM images WHERE name = ?", (name,)).fetchone()[0]


def published_clouds(out: Path) -> dict:
    manifest = json.loads((out / "debian12-node" / "manifest.json").read_text())
    return manifest["artifacts"]["qcow2"]["published"]["glance"]["clouds"]


def test_a_region_killed_mid_upload_gets_the_image_on_the_re_run(regions, tmp_path):
    """Region A's Glance dies during the upload: B completes, A is reported; after A's restart a re-run uploads to A only."""
    a, b = regions
    spec, out = spec_named(tmp_path, "regions-test"), big_built_out(tmp_path, mib=256)
    sha512 = file_digest(out / "debian12-node" / "debian12-node.qcow2", "sha512")
    argv = publish_argv(spec, out, a, b)
    try:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clouds_env(a.clouds_yaml)) as proc:
            status = wait_for_upload(a, "regions-test", proc)
            a.server.kill()
            stdout, stderr = proc.communicate(timeout=900)
        assert status == "saving", f"the upload to region-a ended ({status}) before it could be stopped"
        assert proc.returncode == 1, stderr
        first = {result["cloud"]: result for result in json.loads(stdout)}
        assert first["region-a"]["status"] == "failed" and "could not be deleted" in first["region-a"]["error"]
        assert first["region-b"]["status"] == "uploaded" and first["region-b"]["error"] is None
        assert "glance region-a: FAILED" in stderr
        assert "error: glance: regions-test is not in region-a (1 of 2 clouds failed; the others have it)" in stderr
        assert "a re-run uploads only where the image is missing" in stderr
        in_b = connection(b).image.get_image(first["region-b"]["image_id"])
        assert (in_b.status, in_b.hash_algo, in_b.hash_value) == ("active", "sha512", sha512)
        assert set(published_clouds(out)) == {"region-b"}

        a.server.start()
        # What the killed Glance left: the image it was receiving, still `saving` after its restart.
        leftover = [(image.id, image.status) for image in connection(a).image.images(name="regions-test")]
        assert leftover == [(first["region-a"]["image_id"], "saving")]

        again = subprocess.run(argv, capture_output=True, text=True, env=clouds_env(a.clouds_yaml))
        assert again.returncode == 0, again.stderr
        second = {result["cloud"]: result for result in json.loads(again.stdout)}
        assert second["region-b"] == {**first["region-b"], "status": "already-there"}
        assert second["region-a"]["status"] == "uploaded"
        assert f"deleting {leftover[0][0]}, left saving" in again.stderr
        (in_a,) = connection(a).image.images(name="regions-test")
        assert (in_a.id, in_a.status, in_a.hash_value) == (second["region-a"]["image_id"], "active", sha512)
        assert images_ever_named(b, "regions-test") == 1  # the re-run created nothing in region-b
        assert published_clouds(out)["region-a"]["image_id"] == in_a.id
        assert published_clouds(out)["region-b"]["uploaded"] is False
    finally:
        if a.server.pid is None:
            a.server.start()


def test_a_region_that_stops_answering_times_out_and_the_others_complete(regions, tmp_path):
    a, b = regions
    spec, out = spec_named(tmp_path, "stalled-test"), big_built_out(tmp_path, mib=256)
    argv = [*publish_argv(spec, out, a, b), "--timeout", "10"]
    try:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clouds_env(a.clouds_yaml)) as proc:
            status = wait_for_upload(a, "stalled-test", proc)
            a.server.pause()
            stdout, stderr = proc.communicate(timeout=900)
    finally:
        a.server.resume()
    assert status == "saving", f"the upload to region-a ended ({status}) before it could be stopped"
    assert proc.returncode == 1, stderr
    results = {result["cloud"]: result for result in json.loads(stdout)}
    assert results["region-a"]["status"] == "failed" and "could not be deleted" in results["region-a"]["error"]
    assert "timed out" in results["region-a"]["error"].lower()
    assert results["region-b"]["status"] == "uploaded"
    assert set(published_clouds(out)) == {"region-b"}
