"""publish --to glance to several regions, without a Glance: options, the clouds chosen, the bound, the records.

The clouds here point at closed loopback ports (or are not in clouds.yaml), so every upload fails fast and the
summary shows which clouds were tried; tests/test_glance_publish.py publishes to two real Glance regions.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.processes import free_port

from builder.manifest import Manifest, record_for
from builder.qcow2.glance_regions import published_clouds, record_publication

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"


def built_out(tmp_path: Path) -> Path:
    """An OUT dir with a qcow2 recorded as builder build records it (its bytes never reach a Glance here)."""
    directory = tmp_path / "out" / "debian12-node"
    directory.mkdir(parents=True)
    image = directory / "debian12-node.qcow2"
    image.write_bytes(b"QFI\xfb" + bytes(4096))
    Manifest(directory, {"name": "debian12-node"}).with_records([record_for("qcow2", directory, image)]).write()
    return directory.parent


def unreachable_clouds(tmp_path: Path, *names: str) -> Path:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n" + "".join(
        f"  {name}:\n    auth_type: none\n    image_endpoint_override: http://127.0.0.1:{free_port()}/\n" for name in names))
    return clouds


def spec_with_clouds(tmp_path: Path, clouds: list[str]) -> Path:
    spec = tmp_path / "debian12-node.yaml"
    spec.write_text(EXAMPLE.read_text().replace("qcow2:\n", f"qcow2:\n  glance_clouds: [{', '.join(clouds)}]\n"))
    return spec


def builder(*argv: str, clouds: Path, os_cloud: str | None = None, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OS_CLOUD"} | {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    if os_cloud:
        env["OS_CLOUD"] = os_cloud
    return subprocess.run([sys.executable, "-m", "builder.cli", *argv], capture_output=True, text=True, env=env, cwd=cwd)


def tried(proc: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    return [(result["cloud"], result["status"]) for result in json.loads(proc.stdout)]


@pytest.mark.parametrize("argv, message", [
    (["--to", "pxe", "--root", "tree", "--jobs", "2"], "--jobs is for --to glance or --to registry, not --to pxe"),
    (["--to", "registry", "--cloud", "a"], "--cloud is for --to glance, not --to registry"),
    (["--to", "registry", "--timeout", "0"], "--timeout is for --to glance, not --to registry"),
    (["--to", "glance", "--jobs", "0"], "argument --jobs: at least 1, not 0"),
    (["--to", "glance", "--jobs", "two"], "argument --jobs: not a whole number: 'two'"),
    (["--to", "glance", "--cloud", "a", "--cloud", "b", "--cloud", "a"], "--cloud a is given twice"),
])
def test_publish_options_that_do_not_apply_are_refused(tmp_path, argv, message):
    out = [] if "pxe" in argv else ["--out", str(built_out(tmp_path))]  # --out is refused for pxe, which reads none
    proc = builder("publish", str(EXAMPLE), *out, *argv,
                   clouds=unreachable_clouds(tmp_path, "a", "b"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""


def test_every_cloud_given_is_tried_and_each_failure_named(tmp_path):
    """--cloud replaces the spec's list; one cloud failing does not stop the others; exit 1 names the failed ones."""
    out = built_out(tmp_path)
    spec = spec_with_clouds(tmp_path, ["spec-region"])
    clouds = unreachable_clouds(tmp_path, "region-a", "region-b", "spec-region")
    proc = builder("publish", str(spec), "--to", "glance", "--out", str(out), "--cloud", "region-a", "--cloud", "no-such-cloud",
                   "--cloud", "region-b", clouds=clouds, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert tried(proc) == [("region-a", "failed"), ("no-such-cloud", "failed"), ("region-b", "failed")]
    errors = {result["cloud"]: result["error"] for result in json.loads(proc.stdout)}
    assert "Cloud no-such-cloud was not found" in errors["no-such-cloud"]
    assert "glance region-a: FAILED" in proc.stderr and "hint: is Glance running" in proc.stderr
    assert "error: glance: debian12-node is not in region-a, no-such-cloud, region-b (3 of 3 clouds failed)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "published" not in json.loads((out / "debian12-node" / "manifest.json").read_text())["artifacts"]["qcow2"]


def test_the_spec_lists_the_clouds_and_os_cloud_is_the_default(tmp_path):
    out = built_out(tmp_path)
    clouds = unreachable_clouds(tmp_path, "region-a", "region-b", "from-env")
    listed = builder("publish", str(spec_with_clouds(tmp_path, ["region-b", "region-a"])), "--to", "glance", "--out", str(out),
                     clouds=clouds, os_cloud="from-env", cwd=tmp_path)
    assert tried(listed) == [("region-b", "failed"), ("region-a", "failed")]
    default = builder("publish", str(EXAMPLE), "--to", "glance", "--out", str(out), clouds=clouds, os_cloud="from-env", cwd=tmp_path)
    assert tried(default) == [("from-env", "failed")]


def test_concurrent_records_are_all_kept(tmp_path):
    """Each thread loads, changes and writes the manifest, slowly; the lock keeps every cloud's record."""
    directory = built_out(tmp_path) / "debian12-node"

    def add(cloud: str) -> None:
        def change(manifest: Manifest) -> Manifest:
            time.sleep(0.05)  # widens the window in which an unlocked writer would lose another's record
            clouds = {**published_clouds(manifest.record("qcow2")), cloud: {"image_id": cloud}}
            return manifest.with_publication("qcow2", "glance", {"clouds": clouds})

        Manifest.update(directory, change)

    threads = [threading.Thread(target=add, args=(f"region-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(published_clouds(Manifest.load(directory).record("qcow2"))) == {f"region-{i}" for i in range(8)}


def test_a_record_from_before_regions_is_kept_under_its_cloud(tmp_path):
    from builder.qcow2.glance import CloudResult, LocalImage, Outcome

    directory = built_out(tmp_path) / "debian12-node"
    old = {"image_id": "old-id", "name": "debian12-node", "os_hash_algo": "sha512", "os_hash_value": "0" * 128,
           "cloud": "region-a", "uploaded": True}
    Manifest.load(directory).with_publication("qcow2", "glance", old).write()
    image = LocalImage(directory / "debian12-node.qcow2", "debian12-node", "1" * 128, {}, 60)
    record_publication(directory, image, CloudResult("region-b", Outcome.UPLOADED, "new-id"))
    clouds = json.loads((directory / "manifest.json").read_text())["artifacts"]["qcow2"]["published"]["glance"]["clouds"]
    assert clouds == {"region-a": old, "region-b": {"image_id": "new-id", "name": "debian12-node", "os_hash_algo": "sha512",
                                                     "os_hash_value": "1" * 128, "cloud": "region-b", "uploaded": True}}
