"""The registry publisher's parts that need no registry: which references, grouped how, recorded how."""
from __future__ import annotations

import json
import threading
from pathlib import Path

from support.oci import spec_text, write_small_image

from builder.container.publish import by_host, record_publication, references
from builder.container.registry import parse_reference
from builder.manifest import Manifest
from builder.spec import load_spec_text
from builder.spec.load import LoadedSpec


def loaded(container: str) -> LoadedSpec:
    return LoadedSpec(Path("node.yaml"), load_spec_text(spec_text("node", container))[0], [])


def test_registry_options_replace_the_specs_list():
    item = loaded("{registry: [a.example.com/base/node:1, b.example.com:5000/base/node:1]}")
    assert [str(ref) for ref in references(item, None)] == ["a.example.com/base/node:1", "b.example.com:5000/base/node:1"]
    assert [str(ref) for ref in references(item, ["c.example.com/x/y"])] == ["c.example.com/x/y:latest"]


def test_references_on_one_host_are_one_group_in_their_order():
    refs = [parse_reference(text) for text in ("a.example.com/base/node", "b.example.com/base/node", "a.example.com/base/node-dc2")]
    assert [[str(ref) for ref in group] for group in by_host(refs)] == [
        ["a.example.com/base/node:latest", "a.example.com/base/node-dc2:latest"], ["b.example.com/base/node:latest"]]


def test_concurrent_records_are_all_kept(tmp_path: Path):
    image = write_small_image(tmp_path, "node", layers=1, layer_bytes=64)
    refs = [parse_reference(f"r{index}.example.com/base/node:1") for index in range(24)]
    threads = [threading.Thread(target=record_publication, args=(image["directory"], ref, image["digest"])) for ref in refs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    published = json.loads((image["directory"] / "manifest.json").read_text())["artifacts"]["container"]["published"]
    assert set(published["registry"]) == {str(ref) for ref in refs}
    assert published["registry"][str(refs[0])]["pinned"] == f"r0.example.com/base/node@{image['digest']}"


def test_a_record_of_one_registry_from_before_is_kept(tmp_path: Path):
    image = write_small_image(tmp_path, "node", layers=1, layer_bytes=64)
    old = {"reference": "old.example.com/base/node:1", "digest": image["digest"], "pinned": "old.example.com/base/node@x"}
    Manifest.load(image["directory"]).with_publication("container", "registry", old).write()
    record_publication(image["directory"], parse_reference("new.example.com/base/node:1"), image["digest"])
    published = Manifest.load(image["directory"]).record("container").published["registry"]
    assert published == {"old.example.com/base/node:1": old, "new.example.com/base/node:1": {
        "reference": "new.example.com/base/node:1", "digest": image["digest"], "pinned": f"new.example.com/base/node@{image['digest']}"}}


def test_a_failed_reference_ends_the_publish_with_exit_1_after_its_line_and_the_summary(tmp_path: Path):
    """The exit convention every publisher shares (PublishFailed): each target's line and the summary, then exit 1.
    Nothing listens on the port, so the push fails at its first request."""
    import socket
    import subprocess
    import sys

    write_small_image(tmp_path / "out", "node", layers=1, layer_bytes=1024)
    spec = tmp_path / "node.yaml"
    spec.write_text(spec_text("node"))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        reference = f"127.0.0.1:{closed.getsockname()[1]}/base/node:1"
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "publish", str(spec), "--to", "registry", "--out",
                           str(tmp_path / "out"), "--plain-http", "--registry", reference],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1, proc.stderr
    assert [(line["registry"], line["status"]) for line in json.loads(proc.stdout)] == [(reference, "failed")]
    assert f"{reference}: failed: " in proc.stderr
    assert "error:" not in proc.stderr and "Traceback" not in proc.stderr  # its line said it: nothing is added
