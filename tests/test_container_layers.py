"""The layer plan on a small dpkg-shaped tree: which path goes where, stable digests, union == one layer."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest
from support.requirements import skip_or_fail

from builder.bootstrap.definition import image_definition, layer_plan
from builder.container import plan
from builder.errors import BuilderError, SpecError
from builder.spec import Compression, LayerContent, load_spec_text

EPOCH = 1_700_000_000
ALL = tuple(LayerContent)
RULES = plan.Rules(("required", "important"), ("/var/cache/regenerated",))
SEPARATE = tuple((content,) for content in LayerContent)
STATUS = """Package: base-files
Status: install ok installed
Priority: required

Package: extra
Status: install ok installed
Priority: optional

Package: gone
Status: deinstall ok config-files
Priority: optional
"""


def make_installed(root: Path) -> None:
    """A tree as a package install leaves it: two packages, usr-merged /lib, unowned state files."""
    files = {
        "var/lib/dpkg/status": STATUS,
        "var/lib/dpkg/info/base-files.list": "/.\n/usr\n/usr/bin\n/usr/bin/base-tool\n/lib/libbase.so\n/etc\n/etc/base.conf\n",
        "var/lib/dpkg/info/base-files.md5sums": "00  usr/bin/base-tool\n",
        "var/lib/dpkg/info/extra:amd64.list": "/usr\n/usr/bin\n/usr/bin/extra-tool\n/etc\n/etc/extra.conf\n",
        "usr/bin/base-tool": "base\n",
        "usr/lib/libbase.so": "\x7fELF base\n",
        "usr/bin/extra-tool": "extra\n",
        "etc/base.conf": "base=1\n",
        "etc/extra.conf": "extra=1\n",
        "etc/passwd": "root:x:0:0::/root:/bin/bash\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.symlink("usr/lib", root / "lib")
    os.chmod(root / "usr/bin/extra-tool", 0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (EPOCH - 100, EPOCH - 100), follow_symlinks=False)


def apply_baseline(root: Path, motd: str) -> None:
    """What the baseline does after the install: a new file, a changed package file, a new directory."""
    (root / "etc/motd").write_text(motd)
    (root / "etc/extra.conf").write_text("extra=2\n")
    (root / "etc/builder.d").mkdir()
    (root / "etc/builder.d/done").write_text("yes\n")
    (root / "var/cache").mkdir()
    (root / "var/cache/regenerated").write_text("from a setting that seldom changes\n")


def build(root: Path, motd: str, layers, out: Path) -> list[plan.PlannedLayer]:
    make_installed(root)
    before = plan.snapshot(root)
    apply_baseline(root, motd)
    out.mkdir()
    return plan.write_layers(root, before, layers, RULES, out, EPOCH, Compression.GZIP)


def members(blob: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.read_bytes()))) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]


def union(layers: list[plan.PlannedLayer]) -> dict[str, tuple]:
    """The tree the layers make when applied in order (a later entry replaces an earlier one)."""
    tree: dict[str, tuple] = {}
    for planned in layers:
        data_of: dict[str, bytes | None] = {}
        for member, data in members(planned.layer.path):
            if member.islnk():
                data = data_of[member.linkname]
            data_of[member.name] = data
            kind = "file" if member.islnk() or member.isreg() else member.type
            tree[member.name] = (kind, member.mode, member.uid, member.gid, member.mtime, member.linkname if member.issym() else "", data)
    return tree


def test_each_path_goes_to_its_content(tmp_path: Path):
    root = tmp_path / "root"
    make_installed(root)
    before = plan.snapshot(root)
    apply_baseline(root, "hello\n")
    classes = plan.classify(root, before, RULES).contents
    assert classes["usr/bin/base-tool"] is LayerContent.DISTRIBUTION
    assert classes["usr/lib/libbase.so"] is LayerContent.DISTRIBUTION, "a /lib path of dpkg's list is found under usr/lib"
    assert classes["var/lib/dpkg/info/base-files.md5sums"] is LayerContent.DISTRIBUTION
    assert classes["usr/bin/extra-tool"] is LayerContent.PACKAGES
    assert classes["var/lib/dpkg/info/extra:amd64.list"] is LayerContent.PACKAGES
    assert classes["usr/bin"] is LayerContent.DISTRIBUTION, "a directory two packages own goes to the lower one"
    assert classes["etc/passwd"] is LayerContent.PACKAGE_STATE
    assert classes["var/lib/dpkg/status"] is LayerContent.PACKAGE_STATE
    assert classes["var/cache/regenerated"] is LayerContent.PACKAGE_STATE, "the definition keeps it with the package state"
    for changed in ("etc/motd", "etc/extra.conf", "etc/builder.d", "etc/builder.d/done", "etc"):
        assert classes[changed] is LayerContent.CONFIGURATION, changed


def test_the_same_inputs_give_the_same_digests(tmp_path: Path):
    first = build(tmp_path / "a", "hello\n", SEPARATE, tmp_path / "out-a")
    second = build(tmp_path / "b", "hello\n", SEPARATE, tmp_path / "out-b")
    assert [p.layer.digest for p in first] == [p.layer.digest for p in second]
    assert [p.layer.diff_id for p in first] == [p.layer.diff_id for p in second]


def test_a_configuration_change_changes_only_the_configuration_layer(tmp_path: Path):
    first = build(tmp_path / "a", "hello\n", SEPARATE, tmp_path / "out-a")
    second = build(tmp_path / "b", "changed\n", SEPARATE, tmp_path / "out-b")
    assert [p.layer.digest for p in first[:-1]] == [p.layer.digest for p in second[:-1]]
    assert first[-1].layer.digest != second[-1].layer.digest


def test_the_layers_make_exactly_the_one_layer_tree(tmp_path: Path):
    layered = build(tmp_path / "a", "hello\n", SEPARATE, tmp_path / "out-a")
    single = build(tmp_path / "b", "hello\n", (ALL,), tmp_path / "out-b")
    assert len(layered) == 4 and len(single) == 1
    assert union(layered) == union(single)
    names = [[m.name for m, _ in members(p.layer.path)] for p in layered]
    files = [{n for n in layer if not (tmp_path / "a" / n).is_dir()} for layer in names]
    for i, one in enumerate(files):
        for other in files[i + 1:]:
            assert not one & other, "a file is in one layer only (no whiteouts needed)"
    assert "etc/motd" in names[3] and "etc/motd" not in names[0]
    lower_etc = next(m for m, _ in members(layered[0].layer.path) if m.name == "etc")
    assert lower_etc.mtime == EPOCH - 100, "below the configuration layer a directory is as the install left it"


USERS = "users: [{name: ops, admin: true, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3o2Fw8bC2zq9q1m7qFzK5VdJm1f8yQw0nS2c4XrZ1d ops']}]"
SPEC = """version: 1
name: n
target: debian-12
container:
  layers: LAYERS
""" + USERS + "\n"


@pytest.mark.parametrize("layers, message", [
    ("[[distribution], [packages], [configuration]]", "each layer content appears exactly once"),
    ("[[packages, distribution, package-state, configuration]]", "in this order"),
    ("[[distribution], [], [packages, package-state, configuration]]", "at least one content"),
])
def test_a_bad_layer_plan_is_refused(layers: str, message: str):
    with pytest.raises(SpecError) as error:
        load_spec_text(SPEC.replace("LAYERS", layers), "spec.yaml")
    assert "container.layers" in str(error.value) and message in str(error.value)


def test_an_unknown_layer_content_is_refused_with_its_line():
    with pytest.raises(SpecError) as error:
        load_spec_text(SPEC.replace("LAYERS", "[[distribution, packages, package-state, config]]"), "spec.yaml")
    assert "spec.yaml:5: container.layers" in str(error.value)


def test_the_plan_comes_from_base_images_unless_the_spec_sets_one():
    spec, _, _ = load_spec_text(SPEC.replace("LAYERS", "null"))
    definition = image_definition(spec)
    assert layer_plan(spec, definition) == definition.layers and len(definition.layers) > 1
    one, _, _ = load_spec_text(SPEC.replace("LAYERS", "[[distribution, packages, package-state, configuration]]"))
    assert layer_plan(one, definition) == (ALL,)


def test_a_bad_plan_in_base_images_is_an_error(tmp_path: Path):
    for name in ("common.yaml", "debian-12.yaml"):
        (tmp_path / name).write_text((Path(__file__).resolve().parent.parent / "builder" / "resources" / "base-images" / name).read_text())
    with (tmp_path / "debian-12.yaml").open("a") as handle:
        handle.write("layers: [[configuration], [distribution, packages, package-state]]\n")
    spec, _, _ = load_spec_text(SPEC.replace("LAYERS", "null"))
    with pytest.raises(BuilderError, match="layers: each layer content"):
        image_definition(spec, tmp_path)


def test_zstd_is_refused_for_nodes_that_pull_with_docker():
    text = """version: 1
name: n
target: debian-12
container:
  compression: zstd
  prepull: {image: "127.0.0.1:5000/n", engine: docker}
""" + USERS + "\n"
    with pytest.raises(SpecError, match="container.compression: .*cannot pull zstd"):
        load_spec_text(text, "spec.yaml")


def test_the_layers_make_a_valid_oci_layout_and_docker_archive(tmp_path: Path):
    import json
    import shutil
    import subprocess

    from builder.container.image import make_image, write_docker_archive, write_layout

    if shutil.which("skopeo") is None:
        skip_or_fail("skopeo is not installed (apt-get install skopeo)")
    layered = build(tmp_path / "a", "hello\n", SEPARATE, tmp_path / "out-a")
    built = make_image([p.layer for p in layered], cmd=["/bin/bash"], env={}, labels={}, epoch=EPOCH, tag="latest",
                       history=[p.name for p in layered])
    write_layout(built, tmp_path / "oci")
    write_docker_archive(built, tmp_path / "oci", tmp_path / "image.docker.tar", "n:latest", EPOCH)
    inspect = json.loads(subprocess.run(["skopeo", "inspect", f"oci:{tmp_path / 'oci'}:latest"], capture_output=True, text=True,
                                        check=True).stdout)
    assert inspect["Layers"] == [p.layer.digest for p in layered]
    # A copy checks every blob against its digest; so does reading the docker-archive.
    for source in (f"oci:{tmp_path / 'oci'}:latest", f"docker-archive:{tmp_path / 'image.docker.tar'}"):
        target = tmp_path / ("copy-" + source.split(":")[0])
        subprocess.run(["skopeo", "copy", source, f"dir:{target}"], capture_output=True, text=True, check=True)
        assert json.loads((target / "manifest.json").read_text())["layers"], source
