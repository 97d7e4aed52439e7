"""zstd:chunked layers: the format against independent facts, then real pullers (skopeo, podman 4.3.1's partial pull).

The facts: RFC 8878's skippable frame magic (0x184D2A50, little-endian), containers/storage 1.43's footer
(pkg/chunked/internal/compression.go: offset, compressed length, uncompressed length and type 1 as u64 LE, then
"GnUlInUx", the 40 bytes in a skippable frame at the end of the blob), the tar's own members as the real `zstd -d`
gives them, and what skopeo and podman do with the image.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
import zstandard
from support.countingproxy import CountingProxy
from support.debootstrap import cache_dir
from support.engines import Registry
from support.processes import stop
from support.requirements import skip_or_fail

from builder.container.image import blob_path, make_image, read_layout, write_layout
from builder.container.layer import write_layer
from builder.container.registry import parse_reference, push, warm
from builder.errors import SpecError
from builder.spec import Compression, load_spec_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"
EPOCH = 1_700_000_000
CHECKSUM = "io.containers.zstd-chunked.manifest-checksum"  # the keys podman 4.3.1's binary holds (strings /usr/bin/podman)
POSITION = "io.containers.zstd-chunked.manifest-position"
ZSTD_MEDIA = "application/vnd.oci.image.layer.v1.tar+zstd"


def make_tree(root: Path, seed: int = 1, changed: bool = False) -> None:
    """Directories, regular files (one empty, one large), a hard link, a symlink, other owners and modes."""
    import random

    rng = random.Random(seed)
    (root / "usr/lib").mkdir(parents=True)
    (root / "etc").mkdir()
    for i in range(12):
        (root / f"usr/lib/lib{i}.so").write_bytes(rng.randbytes(40_000))
    if changed:
        (root / "usr/lib/lib7.so").write_bytes(random.Random(seed + 100).randbytes(40_000))
    (root / "usr/lib/big.bin").write_bytes(rng.randbytes(600_000) + bytes(200_000))
    (root / "etc/motd").write_text("changed\n" if changed else "hello\n")
    (root / "etc/empty").write_bytes(b"")
    os.link(root / "usr/lib/lib1.so", root / "etc/lib1-link")
    os.symlink("../usr/lib/lib2.so", root / "etc/lib2-symlink")
    os.chmod(root / "usr/lib/lib3.so", 0o4755)
    os.chown(root / "etc/motd", 101, 102)


def tree_needs_root() -> None:
    if os.geteuid() != 0:
        skip_or_fail("chown needs root")


def frames_end(blob: bytes) -> tuple[int, int, int, int, bytes]:
    """The footer, read as containers/storage 1.43 defines it: the blob's last 48 bytes."""
    frame = blob[-48:]
    assert frame[:4] == b"\x50\x2a\x4d\x18", "a zstd skippable frame (RFC 8878 3.1.2)"
    assert struct.unpack("<I", frame[4:8]) == (40,)
    offset, length, uncompressed, kind = struct.unpack("<4Q", frame[8:40])
    return offset, length, uncompressed, kind, frame[40:48]


def plain_tar(blob: Path) -> bytes:
    return subprocess.run(["zstd", "-dc", str(blob)], capture_output=True, check=True).stdout


@pytest.fixture()
def layers(tmp_path: Path):
    tree_needs_root()
    make_tree(tmp_path / "tree")
    plain = write_layer(tmp_path / "tree", tmp_path / "plain.blob", EPOCH, Compression.ZSTD)
    chunked = write_layer(tmp_path / "tree", tmp_path / "chunked.blob", EPOCH, Compression.ZSTD_CHUNKED)
    return plain, chunked


def test_plain_zstd_reads_the_same_tar(layers):
    plain, chunked = layers
    assert chunked.diff_id == plain.diff_id
    assert plain_tar(chunked.path) == plain_tar(plain.path)
    assert "sha256:" + hashlib.sha256(plain_tar(chunked.path)).hexdigest() == chunked.diff_id
    assert chunked.media_type == plain.media_type == ZSTD_MEDIA
    assert plain.annotations == {} and chunked.digest != plain.digest


def test_the_footer_and_the_toc(layers):
    _, chunked = layers
    blob = chunked.path.read_bytes()
    offset, length, uncompressed, kind, magic = frames_end(blob)
    assert (kind, magic) == (1, b"GnUlInUx")
    assert blob[offset - 8:offset - 4] == b"\x50\x2a\x4d\x18" and struct.unpack("<I", blob[offset - 4:offset]) == (length,)
    assert offset + length == len(blob) - 48, "the TOC frame, then the footer frame, end the blob"
    packed = blob[offset:offset + length]
    assert chunked.annotations == {CHECKSUM: "sha256:" + hashlib.sha256(packed).hexdigest(),
                                   POSITION: f"{offset}:{length}:{uncompressed}:1"}
    toc = json.loads(subprocess.run(["zstd", "-dc"], input=packed, capture_output=True, check=True).stdout)
    assert toc["version"] == 1 and len(json.dumps(toc, separators=(",", ":"))) == uncompressed


def test_the_toc_lists_the_tar_and_each_file_is_its_own_frame(layers):
    _, chunked = layers
    blob = chunked.path.read_bytes()
    offset, length, *_ = frames_end(blob)
    toc = json.loads(zstandard.ZstdDecompressor().decompress(blob[offset:offset + length]))["entries"]
    tar = tarfile.open(fileobj=io.BytesIO(plain_tar(chunked.path)))
    members = tar.getmembers()
    kinds = {tarfile.REGTYPE: "reg", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}
    assert [(e["name"].rstrip("/"), e["type"]) for e in toc] == [(m.name, kinds[m.type]) for m in members]
    for entry, member in zip(toc, members, strict=True):
        # UID, GID, ModTime: the spellings containers/storage 1.43's TOC parser matches (cache_linux.go unmarshalToc)
        assert (entry.get("mode", 0), entry.get("UID", 0), entry.get("GID", 0)) == (member.mode, member.uid, member.gid)
        assert entry.get("linkName", "") == member.linkname
        assert member.mtime == EPOCH and entry["ModTime"] == "2023-11-14T22:13:20Z"  # EPOCH, written by hand
        if member.isreg() and member.size:
            content = tar.extractfile(member).read()
            assert entry["size"] == len(content) and entry["digest"] == "sha256:" + hashlib.sha256(content).hexdigest()
            # the file's frame alone decompresses to its content: a puller can fetch just these bytes
            alone = zstandard.ZstdDecompressor().decompress(blob[entry["offset"]:entry["endOffset"]])
            assert alone == content, entry["name"]
        else:
            assert "offset" not in entry and "digest" not in entry
    assert {e["name"] for e in toc if e["type"] == "dir"} >= {"etc/", "usr/", "usr/lib/"}
    assert [e["mode"] for e in toc if e["name"] == "usr/lib/lib3.so"] == [0o4755]
    assert [(e["UID"], e["GID"]) for e in toc if e["name"] == "etc/motd"] == [(101, 102)]


def test_the_same_tree_gives_the_same_blob(tmp_path: Path, layers):
    _, chunked = layers
    subprocess.run(["cp", "-a", str(tmp_path / "tree"), str(tmp_path / "copy")], check=True)
    again = write_layer(tmp_path / "copy", tmp_path / "again.blob", EPOCH, Compression.ZSTD_CHUNKED)
    assert (again.digest, again.diff_id, again.annotations) == (chunked.digest, chunked.diff_id, chunked.annotations)
    assert not list(tmp_path.glob("*.tar")), "the tar written beside the blob is removed"


def test_the_manifest_carries_the_annotations_only_for_chunked_layers(layers):
    plain, chunked = layers
    image = make_image([plain, chunked], cmd=["/bin/sh"], env={}, labels={}, epoch=EPOCH, history=["a", "b"], tag="1")
    descriptors = json.loads(image.manifest)["layers"]
    assert "annotations" not in descriptors[0]
    assert descriptors[1]["annotations"] == dict(chunked.annotations)


SPEC = """\
version: 1
name: n
target: debian-12
container:
  compression: zstd:chunked
  prepull: {{image: "127.0.0.1:5000/n", engine: {engine}}}
users: [{{name: ops, admin: true, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3o2Fw8bC2zq9q1m7qFzK5VdJm1f8yQw0nS2c4XrZ1d ops']}}]
"""


def test_zstd_chunked_is_refused_for_nodes_that_pull_with_docker():
    with pytest.raises(SpecError, match=r"container.compression: .*cannot pull zstd:chunked layers"):
        load_spec_text(SPEC.format(engine="docker"), "chunked.yaml")
    spec, _, warnings = load_spec_text(SPEC.format(engine="podman"), "chunked.yaml")
    assert spec.container.compression is Compression.ZSTD_CHUNKED
    assert any("enable_partial_images" in str(w) and "container.compression" in str(w) for w in warnings), warnings


# --- real pullers -------------------------------------------------------------------------------------------------

def tree_listing(root: Path) -> dict[str, tuple]:
    """Every path with its type, mode, owner and content (or link target), and a file's mtime: what a puller must
    reproduce (a directory's mtime changes as a puller fills it)."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = ("symlink", os.readlink(path), st.st_uid, st.st_gid)
        elif path.is_dir():
            found[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid)
        else:
            found[rel] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid, min(int(st.st_mtime), EPOCH),
                          hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def needs(*tools: str) -> None:
    tree_needs_root()
    for tool in tools:
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed")


class Podman:
    """podman with a fresh overlay containers-storage of its own, configured by its own storage.conf."""

    def __init__(self, base: Path, partial: bool):
        self.runroot = Path(tempfile.mkdtemp(prefix="chunked-run."))  # podman wants a short runroot
        base.mkdir(parents=True, exist_ok=True)
        self.conf = base / "storage.conf"
        options = 'pull_options = {enable_partial_images = "true", use_hard_links = "false"}\n' if partial else ""
        self.conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{base / "storage"}"\nrunroot = "{self.runroot}"\n'
                             f"[storage.options]\n{options}")
        self.env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(self.conf)}

    def run(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def pull(self, ref: str) -> subprocess.CompletedProcess[str]:
        pulled = self.run("--log-level=debug", "pull", "--tls-verify=false", ref)
        assert pulled.returncode == 0, pulled.stderr[-3000:]
        return pulled

    def tree(self, ref: str) -> dict[str, tuple]:
        mounted = self.run("image", "mount", ref)
        assert mounted.returncode == 0, mounted.stderr
        try:
            return tree_listing(Path(mounted.stdout.strip()))
        finally:
            self.run("image", "unmount", "--all")

    def reset(self) -> None:
        self.run("system", "reset", "--force")  # unmounts its overlays and removes its storage
        shutil.rmtree(self.runroot, ignore_errors=True)


@pytest.fixture()
def registry(tmp_path: Path):
    needs("docker-registry")
    started = Registry(tmp_path / "registry").start()
    yield started
    started.stop()


@pytest.fixture()
def proxy(registry: Registry):
    started = CountingProxy.start(registry.address)
    yield started
    started.stop()


def publish(tmp_path: Path, registry: Registry, version: str, changed: bool) -> tuple[str, dict, Path]:
    """A one-layer zstd:chunked image of make_tree pushed by builder's own push: (ref, manifest, tree)."""
    tree = tmp_path / f"tree-{version}"
    make_tree(tree, changed=changed)
    layer = write_layer(tree, tmp_path / f"layer-{version}", EPOCH, Compression.ZSTD_CHUNKED)
    image = make_image([layer], cmd=["/bin/sh"], env={}, labels={}, epoch=EPOCH, history=["chunked"], tag=version)
    write_layout(image, tmp_path / f"oci-{version}")
    push(tmp_path / f"oci-{version}", parse_reference(f"{registry.address}/base/chunked:{version}"), plain_http=True,
         log=lambda line: None)
    return f"base/chunked:{version}", json.loads(image.manifest), tree


@pytest.mark.slow
def test_skopeo_reads_the_annotations_and_the_blob_as_plain_zstd(tmp_path: Path, registry: Registry):
    needs("skopeo", "zstd")
    ref, manifest, tree = publish(tmp_path, registry, "1", changed=False)
    inspect = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry.address}/{ref}"],
                             capture_output=True, text=True, check=True, timeout=120)
    served = json.loads(inspect.stdout)
    assert served["layers"][0]["annotations"] == manifest["layers"][0]["annotations"], "the registry keeps them"
    copied = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{registry.address}/{ref}",
                             f"dir:{tmp_path / 'dir'}"], capture_output=True, text=True, timeout=300)
    assert copied.returncode == 0, copied.stderr
    digest = manifest["layers"][0]["digest"]
    blob = tmp_path / "dir" / digest.split(":")[1]
    assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == digest, "skopeo copies the blob as it is"
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    subprocess.run(["bash", "-c", f"zstd -dc {blob} | tar --numeric-owner -xpf - -C {extracted}"], check=True)
    assert tree_listing(extracted) == tree_listing(tree)


@pytest.mark.slow
def test_podman_pulls_the_tree_with_and_without_partial_pulls(tmp_path: Path, registry: Registry, proxy: CountingProxy):
    needs("podman")
    ref, manifest, tree = publish(tmp_path, registry, "1", changed=False)
    blob = manifest["layers"][0]
    for partial in (False, True):
        podman = Podman(tmp_path / f"podman-{partial}", partial)
        try:
            proxy.reset()
            pulled = podman.pull(f"{proxy.address}/{ref}")
            assert podman.tree(f"{proxy.address}/{ref}") == tree_listing(tree)
            gets = [r for r in proxy.requests if r.method == "GET" and r.path.endswith(blob["digest"])]
            offset, length, *_ = map(int, blob["annotations"][POSITION].split(":"))
            toc = f"bytes={offset}-{offset + length - 1}"
            assert gets[0].range == toc, "podman 4.3 reads the TOC first, with or without enable_partial_images"
            if partial:  # then the frames of every file (no other layer holds any)
                assert "Retrieved partial blob" in pulled.stderr
                assert all(r.range for r in gets) and len(gets) > 1
            else:  # storage refuses the partial pull, and the whole blob comes as plain zstd
                assert "enable_partial_images not configured" in pulled.stderr
                assert [(r.range, r.body_bytes) for r in gets[1:]] == [(None, blob["size"])]
        finally:
            podman.reset()


@pytest.mark.slow
def test_a_node_holding_v1_fetches_only_the_changed_files_of_v2(tmp_path: Path, registry: Registry, proxy: CountingProxy):
    """podman 4.3.1 (containers/storage 1.43) with enable_partial_images: v2 differs from v1 in two files (40 kB and
    a few bytes), so the pull must fetch the TOC and those two frames, far less than v2's layer blob."""
    needs("podman")
    ref1, _, _ = publish(tmp_path, registry, "1", changed=False)
    ref2, manifest2, tree2 = publish(tmp_path, registry, "2", changed=True)
    layer = manifest2["layers"][0]
    podman = Podman(tmp_path / "podman", partial=True)
    try:
        podman.pull(f"{proxy.address}/{ref1}")
        proxy.reset()
        pulled = podman.pull(f"{proxy.address}/{ref2}")
        fetched = proxy.blob_bytes(layer["digest"])
        assert "Retrieved partial blob" in pulled.stderr
        assert fetched < 0.1 * layer["size"], f"fetched {fetched} of the layer's {layer['size']} bytes"
        assert fetched > 40_000, "the changed 40 kB file (random bytes: incompressible) was fetched"
        assert podman.tree(f"{proxy.address}/{ref2}") == tree_listing(tree2)
    finally:
        podman.reset()


@pytest.mark.slow
def test_containerd_pulls_and_unpacks_it_as_plain_zstd(tmp_path: Path, registry: Registry):
    """containerd 1.6 (Debian 12's, under Docker 23+ too) checks each layer against the config's diff_ids as it
    unpacks: the chunked blob must decompress to exactly the zstd layer's tar."""
    needs("containerd", "ctr")
    ref, _, tree = publish(tmp_path, registry, "1", changed=False)
    base = Path(tempfile.mkdtemp(prefix="chunked-ctr."))  # a socket path must stay short
    socket = base / "c.sock"
    (base / "config.toml").write_text(
        f'version = 2\nroot = "{base / "root"}"\nstate = "{base / "state"}"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{socket}"\n[ttrpc]\n  address = "{base / "t.sock"}"\n')
    daemon = subprocess.Popen(["containerd", "--config", str(base / "config.toml")], stdout=(base / "log").open("wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    mount = base / "mnt"
    try:
        ctr = ["ctr", "--address", str(socket)]
        for _ in range(150):
            if socket.exists() or daemon.poll() is not None:
                break
            time.sleep(0.2)
        pulled = subprocess.run([*ctr, "images", "pull", "--plain-http", f"{registry.address}/{ref}"], capture_output=True,
                                text=True, timeout=300)
        assert pulled.returncode == 0, pulled.stderr + (base / "log").read_text()[-2000:]
        mount.mkdir()
        subprocess.run([*ctr, "images", "mount", f"{registry.address}/{ref}", str(mount)], capture_output=True, check=True,
                       timeout=120)
        try:
            assert tree_listing(mount) == tree_listing(tree)
        finally:
            subprocess.run([*ctr, "images", "unmount", str(mount)], capture_output=True, timeout=120)
    finally:
        stop(daemon)
        subprocess.run(["umount", "-R", str(base / "root")], capture_output=True)  # what containerd left mounted, if any
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_a_partial_pull_through_a_site_mirror_needs_the_mirror_warmed(tmp_path: Path, registry: Registry):
    """Distribution 2.8 as a pull-through cache answers a range request for a blob it does not hold yet with the whole
    blob (200), so a node's partial pull through a cold mirror fetches more than a plain pull; once the mirror holds
    the blob (publish warms every mirror: registry.warm) it serves ranges and the update fetches only the changed files."""
    needs("podman")
    ref1, _, _ = publish(tmp_path, registry, "1", changed=False)
    ref2, manifest2, tree2 = publish(tmp_path, registry, "2", changed=True)
    layer = manifest2["layers"][0]
    mirror = Registry(tmp_path / "mirror", remote=f"http://{registry.address}").start()
    proxy = CountingProxy.start(mirror.address)
    podman = Podman(tmp_path / "podman", partial=True)
    try:
        podman.pull(f"{proxy.address}/{ref1}")
        proxy.reset()
        podman.pull(f"{proxy.address}/{ref2}")  # cold: the mirror has never seen v2's layer
        toc = next(r for r in proxy.requests if r.path.endswith(layer["digest"]))
        assert toc.range and (toc.status, toc.body_bytes) == (200, layer["size"]), "a cold mirror ignores the range"
        podman.run("rmi", "--all", "--force")
        podman.pull(f"{proxy.address}/{ref1}")
        warm(tmp_path / "oci-2", parse_reference(f"{mirror.address}/{ref2}"), plain_http=True, log=lambda line: None)
        proxy.reset()
        podman.pull(f"{proxy.address}/{ref2}")
        assert {r.status for r in proxy.requests if r.path.endswith(layer["digest"])} == {206}
        assert proxy.blob_bytes(layer["digest"]) < 0.1 * layer["size"]
        assert podman.tree(f"{proxy.address}/{ref2}") == tree_listing(tree2)
    finally:
        podman.reset()
        proxy.stop()
        mirror.stop()


@pytest.mark.slow
def test_the_built_debian_image_pulled_partially_is_the_tree_its_layers_hold(tmp_path: Path, registry: Registry,
                                                                              proxy: CountingProxy):
    """`builder build` of the Debian example with zstd:chunked, pushed by `builder publish`; podman 4.3.1 pulls it
    partially (every layer by ranges: a fresh node lacks every file) and unpacks what `zstd -d | tar -x` of its layers
    gives, file for file: owners, modes, mtimes, contents, hard links, setuid programs."""
    needs("podman", "zstd", "tar")
    spec = tmp_path / "debian12-node.yaml"
    spec.write_text(EXAMPLE.read_text().replace("container:\n", "container:\n  compression: zstd:chunked\n", 1))
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}", "BUILDER_CACHE": str(cache_dir())}
    command = [sys.executable, "-m", "builder.cli"]
    built = subprocess.run([*command, "build", str(spec), "--only", "container", "--out", str(tmp_path / "out"), "--quiet"],
                           capture_output=True, text=True, timeout=3600, env=env, cwd=ROOT)
    assert built.returncode == 0, built.stderr[-3000:]
    layout = tmp_path / "out" / "debian12-node" / "container" / "oci"
    manifest = read_layout(layout)[1]
    assert all(layer["annotations"].keys() == {CHECKSUM, POSITION} for layer in manifest["layers"])
    pushed = subprocess.run([*command, "publish", str(spec), "--to", "registry", "--out", str(tmp_path / "out"), "--registry",
                             f"{registry.address}/base/node:1", "--plain-http", "--quiet"],
                            capture_output=True, text=True, timeout=1800, env=env, cwd=ROOT)
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    for layer in manifest["layers"]:
        subprocess.run(["bash", "-c", f"zstd -dc {blob_path(layout, layer['digest'])} | tar --numeric-owner -xpf - -C {unpacked}"],
                       check=True, timeout=600)
    podman = Podman(tmp_path / "podman", partial=True)
    try:
        pulled = podman.pull(f"{proxy.address}/base/node:1")
        assert pulled.stderr.count("Retrieved partial blob") == len(manifest["layers"])
        got, want = podman.tree(f"{proxy.address}/base/node:1"), tree_listing(unpacked)
        assert got.keys() == want.keys()
        differ = [path for path in want if got[path] != want[path]]
        # podman 4.3's partial pull creates symbolic links root-owned (safeSymlink sets no owner); the image has only those
        assert differ == [], differ[:20]
        assert {entry[2:4] for entry in want.values() if entry[0] == "symlink"} == {(0, 0)}
    finally:
        podman.reset()
