"""`builder publish --to registry` to several real registries (Debian's docker-registry on 127.0.0.1) at once.

What each registry received is read from its own access log: a re-run must send no blob, a stopped
registry must not stop the other, and a second repository on the same registry mounts the first one's blobs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.engines import Registry
from support.oci import spec_text, write_small_image
from support.requirements import skip_or_fail

from builder.container.image import MANIFEST_TYPE
from builder.container.registry import parse_reference, push

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NAME = "fleet-node"
BLOB_WRITES = ("POST", "PUT", "PATCH")


def builder(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=False, env=dict(os.environ))


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[list[Registry]]:
    if shutil.which("docker-registry") is None:
        skip_or_fail("docker-registry is not installed (apt-get install docker-registry)")
    started: list[Registry] = []
    try:
        for index in range(2):
            started.append(Registry(tmp_path / f"registry{index}").start())
        yield started
    finally:
        for registry in started:
            registry.stop()


@pytest.fixture
def image(tmp_path: Path) -> dict:
    return write_small_image(tmp_path / "out", NAME)


def spec_file(tmp_path: Path, container: str = "{}") -> Path:
    spec = tmp_path / f"{NAME}.yaml"
    spec.write_text(spec_text(NAME, container))
    return spec


def served_digest(registry: Registry, repository: str, tag: str) -> str | None:
    answer = requests.get(f"http://{registry.address}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPE}, timeout=30)
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def writes(registry: Registry) -> dict[str, int]:
    return {method: registry.requests(method) for method in BLOB_WRITES}


def recorded(image: dict) -> dict:
    return json.loads((image["directory"] / "manifest.json").read_text())["artifacts"]["container"]["published"]["registry"]


def test_a_push_to_two_registries_then_a_rerun_sends_no_blob(registries, image, tmp_path: Path):
    refs = [f"{registry.address}/base/{NAME}:1" for registry in registries]
    spec = spec_file(tmp_path, f"{{registry: [{', '.join(refs)}]}}")  # the spec's list, no --registry
    first = builder("publish", spec, "--to", "registry", "--out", tmp_path / "out", "--plain-http")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert [line["registry"] for line in summary] == refs
    for line in summary:
        assert line | {"registry": None} == {"registry": None, "status": "pushed", "blobs_sent": image["blobs"],
                                             "bytes_sent": image["bytes"], "blobs_mounted": 0, "digest": image["digest"],
                                             "error": None}
    for registry in registries:
        assert served_digest(registry, f"base/{NAME}", "1") == image["digest"]
        assert registry.requests("PUT", "/blobs/uploads/") == image["blobs"]
    assert {ref: record["digest"] for ref, record in recorded(image).items()} == dict.fromkeys(refs, image["digest"])

    before = [writes(registry) for registry in registries]
    again = builder("publish", spec, "--to", "registry", "--out", tmp_path / "out", "--plain-http")
    assert again.returncode == 0, again.stderr
    assert [line["status"] for line in json.loads(again.stdout)] == ["already-there"] * 2
    assert [line["blobs_sent"] for line in json.loads(again.stdout)] == [0, 0]
    assert [writes(registry) for registry in registries] == before, "the re-run sent something"


def test_a_stopped_registry_stops_not_the_other_and_a_rerun_completes_only_it(registries, image, tmp_path: Path):
    up, down = registries
    refs = [f"{up.address}/base/{NAME}:1", f"{down.address}/base/{NAME}:1"]
    down.stop()
    args = ["publish", spec_file(tmp_path), "--to", "registry", "--out", tmp_path / "out", "--plain-http", "--jobs", "2"]
    for ref in refs:
        args += ["--registry", ref]
    failed = builder(*args)
    assert failed.returncode == 1, failed.stderr
    summary = {line["registry"]: line for line in json.loads(failed.stdout)}
    assert summary[refs[0]]["status"] == "pushed" and summary[refs[0]]["blobs_sent"] == image["blobs"]
    assert summary[refs[1]]["status"] == "failed" and f"registry {down.address} did not answer" in summary[refs[1]]["error"]
    assert f"{refs[1]}: failed: registry {down.address} did not answer" in failed.stderr
    assert served_digest(up, f"base/{NAME}", "1") == image["digest"]
    assert set(recorded(image)) == {refs[0]}, "only the registry that has the image is recorded"

    down.start()  # same port, same storage
    before_up = writes(up)
    rerun = builder(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert [line["status"] for line in json.loads(rerun.stdout)] == ["already-there", "pushed"]
    assert writes(up) == before_up, "the registry that had the image got nothing again"
    assert down.requests("PUT", "/blobs/uploads/") == image["blobs"]
    assert served_digest(down, f"base/{NAME}", "1") == image["digest"]
    assert set(recorded(image)) == set(refs)


def test_a_second_repository_on_the_same_registry_mounts_the_blobs(registries, image, tmp_path: Path):
    registry = registries[0]
    first, second = f"{registry.address}/base/{NAME}:1", f"{registry.address}/base/{NAME}-dc2:1"
    proc = builder("publish", spec_file(tmp_path), "--to", "registry", "--out", tmp_path / "out", "--plain-http",
                   "--registry", first, "--registry", second)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [(line["status"], line["blobs_sent"], line["blobs_mounted"]) for line in summary] == [
        ("pushed", image["blobs"], 0), ("pushed", 0, image["blobs"])]
    assert summary[1]["bytes_sent"] == 0
    assert registry.requests("POST", f"/base/{NAME}-dc2/blobs/uploads/?mount=sha256") == image["blobs"]
    assert registry.requests("PUT", f"/base/{NAME}-dc2/blobs/uploads/") == 0, "a blob of the second repository was uploaded"
    assert registry.requests("PUT", f"/base/{NAME}/blobs/uploads/") == image["blobs"]
    assert served_digest(registry, f"base/{NAME}-dc2", "1") == image["digest"]


def test_a_mount_the_registry_declines_falls_back_to_an_upload(registries, image):
    """A source repository without the blobs: the registry answers 202 with an upload session, and the blob goes there."""
    registry = registries[0]
    ref = parse_reference(f"{registry.address}/base/{NAME}:1")
    pushed = push(image["layout"], ref, plain_http=True, log=lambda _: None, mount_from="base/never-pushed")
    assert (pushed.blobs_sent, pushed.blobs_mounted, pushed.bytes_sent) == (image["blobs"], 0, image["bytes"])
    assert registry.requests("POST", "?mount=sha256") == image["blobs"]
    assert registry.requests("POST", "/blobs/uploads/ ") == 0, "the upload went to the session the mount opened"
    assert served_digest(registry, f"base/{NAME}", "1") == image["digest"]


# ---------------------------------------------------------------- what is pushed is checked first


def layer_digests(image: dict) -> list[str]:
    manifest = json.loads((image["layout"] / "blobs" / "sha256" / image["digest"].split(":")[1]).read_bytes())
    return [layer["digest"] for layer in manifest["layers"]]


def blob_file(image: dict, digest: str) -> Path:
    return image["layout"] / "blobs" / "sha256" / digest.split(":")[1]


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def publish_to(registry: Registry, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return builder("publish", spec_file(tmp_path), "--to", "registry", "--out", tmp_path / "out", "--plain-http",
                   "--registry", f"{registry.address}/base/{NAME}:1")


def assert_refused_before_sending(proc: subprocess.CompletedProcess[str], registry: Registry, before: dict[str, int],
                                  words: list[str]) -> None:
    assert proc.returncode == 1, proc.stderr
    (line,) = json.loads(proc.stdout)
    assert (line["status"], line["blobs_sent"], line["bytes_sent"], line["blobs_mounted"]) == ("failed", 0, 0, 0)
    for word in words:
        assert word in line["error"], line["error"]
    assert writes(registry) == before, "something was sent (a blob or the manifest) for a reference whose image is damaged"


def test_a_layer_with_one_flipped_byte_is_refused_before_any_blob_is_sent(registries, image, tmp_path: Path):
    registry = registries[0]
    damaged = layer_digests(image)[1]
    flip_a_byte(blob_file(image, damaged))
    proc = publish_to(registry, tmp_path)
    assert_refused_before_sending(proc, registry, dict.fromkeys(BLOB_WRITES, 0),
                                  [f"blob {damaged}", str(blob_file(image, damaged)), "holds other bytes"])
    assert registry.requests("HEAD") == 0, "the registry was asked about an image that is damaged here"
    assert served_digest(registry, f"base/{NAME}", "1") is None


def test_a_missing_blob_file_is_named_with_its_path_not_errno(registries, image, tmp_path: Path):
    registry = registries[0]
    missing = layer_digests(image)[2]
    blob_file(image, missing).unlink()
    proc = publish_to(registry, tmp_path)
    assert_refused_before_sending(proc, registry, dict.fromkeys(BLOB_WRITES, 0),
                                  [f"blob {missing} is missing", str(blob_file(image, missing))])
    assert "Errno" not in proc.stdout + proc.stderr
    assert served_digest(registry, f"base/{NAME}", "1") is None


def test_local_corruption_is_not_reported_as_already_there(registries, image, tmp_path: Path):
    registry = registries[0]
    first = publish_to(registry, tmp_path)
    assert first.returncode == 0, first.stderr
    assert served_digest(registry, f"base/{NAME}", "1") == image["digest"]
    damaged = layer_digests(image)[0]
    flip_a_byte(blob_file(image, damaged))
    before = writes(registry)
    again = publish_to(registry, tmp_path)
    assert_refused_before_sending(again, registry, before, [f"blob {damaged}", str(blob_file(image, damaged))])
    assert "already-there" not in again.stdout


def test_a_failure_half_way_says_which_blobs_and_bytes_went(registries, image, tmp_path: Path):
    """The registry cannot store the second layer (its storage path is taken by a file): the failure line counts the
    config and first layer the registry accepted, and every byte sent, the retried uploads of the second layer included."""
    registry = registries[0]
    config = json.loads((image["layout"] / "blobs" / "sha256" / image["digest"].split(":")[1]).read_bytes())["config"]["digest"]
    layers = layer_digests(image)
    blocked = layers[1]
    hexdigest = blocked.split(":")[1]
    where = registry.base / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexdigest[:2]
    where.mkdir(parents=True)
    (where / hexdigest).write_text("not a directory\n")
    proc = publish_to(registry, tmp_path)
    assert proc.returncode == 1, proc.stderr
    (line,) = json.loads(proc.stdout)
    accepted = [lines for lines in registry.request_lines("PUT", "/blobs/uploads/") if '" 201 ' in lines]
    refused = [lines for lines in registry.request_lines("PUT", "/blobs/uploads/") if hexdigest in lines and '" 201 ' not in lines]
    assert len(accepted) == 2 and refused, registry.log.read_text()[-3000:]
    size = {digest: blob_file(image, digest).stat().st_size for digest in (config, *layers)}
    expected = size[config] + size[layers[0]] + len(refused) * size[blocked]
    assert (line["status"], line["blobs_sent"], line["bytes_sent"]) == ("failed", 2, expected), line
    assert f"(2 blob(s), {expected} bytes sent, 0 mounted)" in proc.stderr
    assert served_digest(registry, f"base/{NAME}", "1") is None
