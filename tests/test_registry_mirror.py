"""A node pulls through its site's registry mirror, and falls back to the origin when the mirror is gone.

Everything real, on 127.0.0.1: the origin is Debian's docker-registry, the mirror the same package as a
pull-through cache of it (`proxy: remoteurl:`), and the node is podman running the pre-pull script builder
generates, with a registries.conf holding the drop-in builder generates (as the kickstart writes it) and
storage of its own. Who fetched what is read from the registries' access logs: podman says who it is
("containers/..."), the mirror's fetches from the origin do not.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.engines import Engine, Registry
from support.oci import spec_text, write_small_image
from support.requirements import skip_or_fail

from builder.baseline import Baseline, render_script
from builder.baseline import paths as m
from builder.baseline.prepull import prepull_script
from builder.container.registry import parse_reference, push
from builder.spec import load_spec_text

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NAME = "rack-node"
PODMAN = "containers/"  # podman's User-Agent: containers/5.x (github.com/containers/image)
DOCKER = '"docker/'  # dockerd's: docker/20.10.x go/... (the mirror's own fetches say Go-http-client)


@pytest.fixture
def origin_and_mirror(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    for tool, package in (("docker-registry", "docker-registry"), ("podman", "podman")):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (apt-get install {package})")
    origin = Registry(tmp_path / "origin").start()
    mirror = None
    try:
        mirror = Registry(tmp_path / "mirror", remote=f"http://{origin.address}").start()
        yield origin, mirror
    finally:
        if mirror is not None:
            mirror.stop()
        origin.stop()


def generated_dropin(script: str) -> str:
    """The drop-in as the baseline script (the kickstart's %post, the qcow2's element) writes it."""
    start = f"builder_put {m.MIRRORS_DROPIN} 0644 root root <<'BUILDER_EOF'\n"
    assert start in script, "the script writes no mirror drop-in"
    return script.split(start, 1)[1].split("\nBUILDER_EOF\n", 1)[0] + "\n"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[[str], dict[str, str]]]:
    """node(name) -> the environment of a node with podman storage of its own (runroot: at most 50 characters)."""
    runroots: list[str] = []

    def node(name: str) -> dict[str, str]:
        runroots.append(tempfile.mkdtemp(prefix="podman-run."))
        conf = tmp_path / f"{name}.storage.conf"
        conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path / name}"\nrunroot = "{runroots[-1]}"\n')
        return {"CONTAINERS_STORAGE_CONF": str(conf), "BUILDER_PREPULL_STATE": str(tmp_path / f"{name}.state")}

    try:
        yield node
    finally:
        for runroot in runroots:
            shutil.rmtree(runroot, ignore_errors=True)


def pull(script: str, registries_conf: Path, node: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the node's pre-pull script, as its unit would, with the registries.conf given."""
    env = {**os.environ, **node, "CONTAINERS_REGISTRIES_CONF": str(registries_conf)}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=600, check=False)


def images(node: dict[str, str]) -> str:
    proc = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **node}, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_node_pulls_through_its_sites_mirror_then_from_the_origin_without_it(origin_and_mirror, nodes, tmp_path: Path):
    origin, mirror = origin_and_mirror
    image = write_small_image(tmp_path / "out", NAME)
    ref = f"{origin.address}/base/{NAME}:1"
    spec = tmp_path / f"{NAME}.yaml"
    spec.write_text(spec_text(NAME, f"{{prepull: {{image: '{ref}', plain_http: true, site: rack1, "
                                    f"mirrors: {{rack1: ['{mirror.address}'], rack2: ['127.0.0.1:9']}}}}}}"))
    pushed = subprocess.run([sys.executable, "-m", "builder.cli", "publish", spec, "--to", "registry", "--out", tmp_path / "out",
                             "--registry", ref, "--plain-http", "--no-warm"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert pushed.returncode == 0, pushed.stderr

    baseline = Baseline(load_spec_text(spec.read_text())[0])
    registries_conf = tmp_path / "registries.conf"
    registries_conf.write_text("unqualified-search-registries = []\n" + generated_dropin(render_script(baseline)))
    script = prepull_script(baseline.prepull, baseline.prepull_mirrors)
    assert script in render_script(baseline)
    origin_before = len(origin.request_lines("GET"))

    node1 = nodes("node1")
    through = pull(script, registries_conf, node1)
    assert through.returncode == 0, through.stdout + through.stderr
    assert (tmp_path / "node1.state" / "done").read_text().strip() == ref
    assert f"{ref} {image['digest']}" in images(node1), "the image is known by its origin name"
    served = [line for line in mirror.request_lines("GET", f"/base/{NAME}/") if PODMAN in line]
    assert any(f"/base/{NAME}/manifests/1 " in line for line in served), "the mirror served the manifest to the node"
    assert len([line for line in served if "/blobs/sha256:" in line]) == image["blobs"], "the mirror served every blob"
    fetched = origin.request_lines("GET")[origin_before:]
    assert fetched and not [line for line in fetched if PODMAN in line], "the node went to the origin itself"

    mirror.stop()
    origin_before = len(origin.request_lines("GET"))
    node2 = nodes("node2")
    fallback = pull(script, registries_conf, node2)
    assert fallback.returncode == 0, fallback.stdout + fallback.stderr
    assert f"{ref} {image['digest']}" in images(node2)
    direct = [line for line in origin.request_lines("GET")[origin_before:] if PODMAN in line]
    assert len([line for line in direct if "/blobs/sha256:" in line]) == image["blobs"], "the origin served the node itself"


def test_publish_warms_every_mirror_so_it_serves_the_image_without_the_origin(origin_and_mirror, tmp_path: Path):
    """After the push, publish pulls the image through each mirror of container.prepull: the mirror then holds every
    blob (it serves them with the origin stopped), and a mirror that does not answer fails publish, naming its site."""
    import requests

    origin, mirror = origin_and_mirror
    image = write_small_image(tmp_path / "out", NAME)
    ref = f"{origin.address}/base/{NAME}:1"
    spec = tmp_path / f"{NAME}.yaml"
    spec.write_text(spec_text(NAME, f"{{prepull: {{image: '{ref}', plain_http: true, "
                                    f"mirrors: {{rack1: ['{mirror.address}'], rack2: ['127.0.0.1:9']}}}}}}"))
    command = [sys.executable, "-m", "builder.cli", "publish", spec, "--to", "registry", "--out", tmp_path / "out",
               "--registry", ref, "--plain-http"]
    published = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert published.returncode == 1, published.stderr
    lines = {line["registry"]: line for line in json.loads(published.stdout)}
    assert lines[ref]["status"] == "pushed"
    warmed = lines[f"{mirror.address}/base/{NAME}:1"]
    assert (warmed["status"], warmed["site"], warmed["bytes_fetched"]) == ("warmed", "rack1", image["bytes"])
    down = lines[f"127.0.0.1:9/base/{NAME}:1"]
    assert (down["status"], down["site"]) == ("failed", "rack2") and down["error"]

    # Each blob went from the origin to the mirror (Distribution 2.8 fetches a first miss twice: at most two).
    to_mirror = [line for line in origin.request_lines("GET", "/blobs/sha256:") if PODMAN not in line]
    assert image["blobs"] <= len(to_mirror) <= 2 * image["blobs"]

    # --no-warm: the push only (the registry has the image already: exit 0), and no mirror is asked.
    asked = len(mirror.request_lines("GET")) + len(mirror.request_lines("HEAD"))
    quiet = subprocess.run([*command, "--no-warm"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stderr
    assert [(line["status"], "site" in line) for line in json.loads(quiet.stdout)] == [("already-there", False)]
    assert len(mirror.request_lines("GET")) + len(mirror.request_lines("HEAD")) == asked

    origin.stop()
    index = json.loads((image["layout"] / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    listed = json.loads((image["layout"] / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    for blob in [listed["config"], *listed["layers"]]:
        answer = requests.get(f"http://{mirror.address}/v2/base/{NAME}/blobs/{blob['digest']}", timeout=30)
        assert answer.status_code == 200 and len(answer.content) == blob["size"], f"the mirror lacks {blob['digest']}"


def test_a_docker_node_pulls_through_its_sites_mirror_then_from_the_origin_without_it(origin_and_mirror, tmp_path: Path):
    """Docker has no mirror setting for this registry: the generated script pulls the mirror's reference and tags it."""
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        skip_or_fail("needs root and dockerd (apt-get install docker.io)")
    origin, mirror = origin_and_mirror
    image = write_small_image(tmp_path / "out", NAME)
    ref = f"{origin.address}/base/{NAME}:1"
    text = spec_text(NAME, f"{{prepull: {{image: '{ref}', engine: docker, site: rack1, mirrors: {{rack1: ['{mirror.address}']}}}}}}")
    baseline = Baseline(load_spec_text(text)[0])
    assert m.MIRRORS_DROPIN not in render_script(baseline)
    script = prepull_script(baseline.prepull, baseline.prepull_mirrors)
    assert script in render_script(baseline)
    push(image["layout"], parse_reference(ref), plain_http=True, log=lambda _: None)
    engine = Engine(Path(tempfile.mkdtemp(prefix="engine."))).start()  # a short path: the socket's name has a limit
    try:
        env = {**os.environ, "DOCKER_HOST": engine.host, "BUILDER_PREPULL_STATE": str(tmp_path / "state")}
        origin_before = len(origin.request_lines("GET"))
        through = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=600, check=False)
        assert through.returncode == 0, through.stdout + through.stderr
        assert f"came from mirror {mirror.address}" in through.stdout
        tags = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        assert tags == [ref], "known by its origin name only"
        served = [line for line in mirror.request_lines("GET", f"/base/{NAME}/") if DOCKER in line]
        assert len([line for line in served if "/blobs/sha256:" in line]) == image["blobs"], "the mirror served every blob"
        assert not [line for line in origin.request_lines("GET")[origin_before:] if DOCKER in line]

        mirror.stop()
        engine.docker("rmi", ref)
        (tmp_path / "state" / "done").unlink()
        origin_before = len(origin.request_lines("GET"))
        fallback = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=600, check=False)
        assert fallback.returncode == 0, fallback.stdout + fallback.stderr
        assert f"mirror {mirror.address} did not give {ref}" in fallback.stderr
        assert engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == [ref]
        direct = [line for line in origin.request_lines("GET")[origin_before:] if DOCKER in line]
        assert len([line for line in direct if "/blobs/sha256:" in line]) == image["blobs"], "the origin served the node itself"
    finally:
        engine.stop()
