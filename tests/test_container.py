"""The container base image for real: debootstrap, a private Docker engine, a registry on loopback.

One image is built for the session (the bootstrapped base comes from the test cache)
and reused; each test that needs a second build or a registry of its own says why.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.debootstrap import cache_dir, mounts_under
from support.engines import Engine, Registry, why_not_engines
from support.requirements import skip_or_fail

from builder.baseline import BASELINE_VERSION
from builder.bootstrap.definition import image_definition
from builder.container.image import blob_path, read_layout, sha256_of
from builder.container.registry import parse_reference, push
from builder.errors import BuilderError
from builder.spec import load_spec

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"
DEFINITION = image_definition(load_spec(EXAMPLE)[0])
DEFAULT_PLAN = DEFINITION.layers
ONE_LAYER = "[[distribution, packages, package-state, configuration]]"
ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def builder(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600, check=False, env={**os.environ, **env})


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if reason := why_not_engines():
        skip_or_fail(reason)
    started = Engine(tmp_path_factory.mktemp("engine")).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def build_env(engine: Engine) -> dict[str, str]:
    return {"DOCKER_HOST": engine.host, "BUILDER_CACHE": str(cache_dir())}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, build_env) -> dict:
    out = tmp_path_factory.mktemp("out")
    proc = builder("build", EXAMPLE, "--only", "container", "--out", out, env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    directory = out / "debian12-node"
    manifest_bytes, manifest, config = read_layout(directory / "container" / "oci")
    return {"out": out, "dir": directory, "stderr": proc.stderr, "digest": sha256_of(manifest_bytes), "manifest": manifest,
            "config": json.loads(config), "config_digest": manifest["config"]["digest"]}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    started = Registry(tmp_path / "registry").start()
    try:
        yield started
    finally:
        started.stop()


def test_the_image_is_the_plans_layers_loaded_into_the_engine(built, engine: Engine):
    # The package files' layer is split by source package, at most package_layers of them.
    assert len(DEFAULT_PLAN) + 10 < len(built["manifest"]["layers"]) <= len(DEFAULT_PLAN) - 1 + DEFINITION.package_layers
    history = [entry["created_by"] for entry in built["config"]["history"]]
    assert any(line.endswith("(packages: openssl)") for line in history), history
    assert history[-2:][0].endswith(": package-state") and history[-1].endswith(": configuration")
    assert {layer["mediaType"] for layer in built["manifest"]["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    inspect = json.loads(engine.docker("image", "inspect", "debian12-node:latest").stdout)[0]
    assert inspect["Id"] == built["config_digest"], "the engine's image id is the config digest"
    assert inspect["RootFS"]["Layers"] == built["config"]["rootfs"]["diff_ids"]
    labels = built["config"]["config"]["Labels"]
    record = json.loads((built["dir"] / "manifest.json").read_text())
    assert labels["io.builder.spec.sha256"] == record["spec_sha256"]
    assert labels["io.builder.baseline.version"] == str(BASELINE_VERSION) and labels["io.builder.build-date"]
    assert built["config"]["config"]["Cmd"] == ["/bin/bash"]
    assert "LANG=en_US.UTF-8" in built["config"]["config"]["Env"]
    assert record["artifacts"]["container"]["sha256"] == built["digest"].split(":")[1]


def test_a_second_build_gives_the_same_digest(built, build_env, tmp_path: Path):
    proc = builder("build", EXAMPLE, "--only", "container", "--out", tmp_path, env=build_env)
    assert proc.returncode == 0, proc.stderr
    manifest_bytes, _, _ = read_layout(tmp_path / "debian12-node" / "container" / "oci")
    assert sha256_of(manifest_bytes) == built["digest"]
    assert not [m for m in mounts_under(Path(tempfile.gettempdir())) if "builder-container." in m], "a build left a mount behind"


def build_variant(tmp_path: Path, build_env, old: str, new: str) -> tuple[Path, dict]:
    """The example built with `old` replaced by `new` in its spec: (its OCI layout, its manifest)."""
    spec = tmp_path / "debian12-node.yaml"
    text = EXAMPLE.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))
    # Not loaded into the session's engine: its debian12-node:latest stays the example's image.
    env = {**build_env, "DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}"}
    proc = builder("build", spec, "--only", "container", "--out", tmp_path / "out", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "container: not loaded" in proc.stderr
    layout = tmp_path / "out" / "debian12-node" / "container" / "oci"
    return layout, read_layout(layout)[1]


def layer_tree(layout: Path, manifest: dict) -> dict[str, tuple]:
    """The tree the image's layers make, applied in order: path -> (type, mode, owner, group, mtime, link, sha256)."""
    import hashlib
    import tarfile

    tree: dict[str, tuple] = {}
    for descriptor in manifest["layers"]:
        digests: dict[str, str] = {}
        with tarfile.open(blob_path(layout, descriptor["digest"]), "r:gz") as tar:
            for member in tar:
                if member.islnk():
                    digest = digests[member.linkname]
                elif member.isreg():
                    digest = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
                else:
                    digest = ""
                digests[member.name] = digest
                kind = tarfile.REGTYPE if member.islnk() else member.type
                tree[member.name] = (kind, member.mode, member.uid, member.gid, member.mtime,
                                     member.linkname if member.issym() else "", digest)
    return tree


def test_the_layers_make_the_one_layer_tree(built, build_env, tmp_path: Path):
    layout, manifest = build_variant(tmp_path, build_env, "container:\n", f"container:\n  layers: {ONE_LAYER}\n")
    assert len(manifest["layers"]) == 1
    single = layer_tree(layout, manifest)
    layered = layer_tree(built["dir"] / "container" / "oci", built["manifest"])
    assert layered.keys() == single.keys()
    assert [path for path in single if single[path] != layered[path]] == []


def test_a_configuration_change_changes_only_the_last_layer(built, build_env, tmp_path: Path):
    _, manifest = build_variant(tmp_path, build_env, "Local changes are overwritten.", "Local changes are lost.")
    before = [layer["digest"] for layer in built["manifest"]["layers"]]
    after = [layer["digest"] for layer in manifest["layers"]]
    assert before[:-1] == after[:-1] and before[-1] != after[-1]
    assert manifest["layers"][-1]["size"] < 0.01 * sum(layer["size"] for layer in manifest["layers"])


def test_podman_pulls_the_zstd_image_and_its_tree_matches_the_package_database(built, build_env, registry: Registry,
                                                                                tmp_path: Path):
    """zstd is for EL nodes that pull with podman: podman 4.3 (the engine an EL node runs) pulls it from a registry,
    checks every layer against the config's diff_ids, and unpacks the tree the gzip image makes."""
    if shutil.which("podman") is None:
        skip_or_fail("podman is not installed (apt-get install podman)")
    layout, manifest = build_variant(tmp_path, build_env, "container:\n", "container:\n  compression: zstd\n")
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    ref = f"{registry.address}/base/zstd:1"
    spec = tmp_path / "debian12-node.yaml"
    pushed = builder("publish", spec, "--to", "registry", "--out", tmp_path / "out", "--registry", ref, "--plain-http", env=build_env)
    assert pushed.returncode == 0, pushed.stderr
    runroot = Path(tempfile.mkdtemp(prefix="podman-run."))  # podman wants a runroot of at most 50 characters
    podman = ["podman", "--root", str(tmp_path / "storage"), "--runroot", str(runroot), "--storage-driver", "vfs"]
    pulled = subprocess.run([*podman, "pull", "--tls-verify=false", ref], capture_output=True, text=True, timeout=900)
    assert pulled.returncode == 0, pulled.stderr
    try:
        inspect = json.loads(subprocess.run([*podman, "image", "inspect", ref], capture_output=True, text=True, check=True).stdout)[0]
        config = json.loads(blob_path(layout, manifest["config"]["digest"]).read_bytes())
        assert inspect["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
        tree = Path(subprocess.run([*podman, "image", "mount", ref], capture_output=True, text=True, check=True).stdout.strip())
        gzip_tree = {path.removeprefix("./").rstrip("/") for path in layer_tree(built["dir"] / "container" / "oci", built["manifest"])}
        unpacked = {str(path.relative_to(tree)) for path in tree.rglob("*")}
        assert unpacked ^ (gzip_tree - {"", "."}) == set(), "podman's tree differs from the gzip image's"
        verify = subprocess.run(["chroot", str(tree), "dpkg", "--verify"], capture_output=True, text=True, timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        changed = [line.split()[-1] for line in verify.stdout.splitlines()]
        assert all(line.split()[1] == "c" for line in verify.stdout.splitlines()), f"package files changed: {changed}"
        assert "managed by builder" in (tree / "etc/motd").read_text()
    finally:
        subprocess.run([*podman, "image", "unmount", "--all"], capture_output=True, check=False)
        shutil.rmtree(runroot, ignore_errors=True)


def test_items_without_meaning_in_a_container_are_reported(built):
    [summed] = [line for line in built["stderr"].splitlines() if "baseline items do not apply" in line]
    for item in ("sshd", "selinux", "firewall", "time", "sysctls", "kernel-args", "services"):
        assert f" {item}," in summed or summed.endswith(f" {item}") or f" {item} (" in summed, item


def test_the_baseline_checks_pass_inside_the_image(built, build_env):
    proc = builder("verify", EXAMPLE, "--image", "debian12-node:latest", "--json", env=build_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    status = {}
    for result in report["results"]:
        status.setdefault(result["item"], set()).add(result["status"])
    assert report["failed"] == 0
    for item in ("packages", "locale", "timezone", "users", "root", "files", "repos"):
        assert status[item] == {"pass"}, item
    for item in ("sshd", "time", "firewall", "selinux", "sysctls", "kernel-args", "services"):
        assert status[item] == {"n/a"}, item


def test_apt_update_in_the_image_reads_each_suite_once_and_warns_nothing(built, engine: Engine):
    """The image's APT sources are the spec's alone (debootstrap's sources.list is not a second definition of the suite):
    `apt-get update` in it, on the host's network (the sources name the mirror the image was built from), says no
    "configured multiple times" and no other warning."""
    proc = engine.docker("run", "--rm", "--network", "host", "debian12-node:latest", "apt-get", "update", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "configured multiple times" not in output
    assert not re.findall(r"^(?:W|E|N): .*$", output, re.M), output
    assert len(re.findall(r"^(?:Get|Hit):\d+ \S+ (bookworm|bookworm-updates|bookworm-security) InRelease", output, re.M)) == 3, output


def test_kernel_docs_and_caches_are_absent(built, engine: Engine):
    script = (
        "set -u; bad=0\n"
        "for p in /boot/vmlinuz* /lib/modules/* /usr/lib/firmware/* /usr/share/man/* /usr/share/info/* "
        "/var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/log/*.log; do "
        "[ -e \"$p\" ] && { echo \"present: $p\"; bad=1; }; done\n"
        "ls /usr/share/doc/*/* 2>/dev/null | grep -v '/copyright$' && bad=1\n"
        "dpkg-query -W -f '${Package}\\n' | grep -E '^(linux-image|grub|firmware-)' && bad=1\n"
        "dpkg --verify && echo verify-clean || bad=1\n"
        "exit $bad\n")
    proc = engine.docker("run", "--rm", "--network", "none", "debian12-node:latest", "bash", "-c", script, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify-clean" in proc.stdout


def test_the_locale_archive_can_be_rebuilt_from_what_the_image_kept(built, engine: Engine):
    """locales' postinst (run on every glibc upgrade) rebuilds the archive from the sources the strip kept."""
    script = ("set -eu\n"
              "rm /usr/lib/locale/locale-archive\n"
              "DEBIAN_FRONTEND=noninteractive dpkg-reconfigure locales\n"
              "locale -a\n"
              "LC_ALL=en_US.UTF-8 locale charmap\n"
              "ls /usr/share/i18n/locales | wc -l\n")
    proc = engine.docker("run", "--rm", "--network", "none", "debian12-node:latest", "bash", "-c", script, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "en_US.utf8" in lines and lines[-2] == "UTF-8", proc.stdout + proc.stderr
    assert "Cannot set LC_ALL" not in proc.stderr, proc.stderr
    assert int(lines[-1]) < 30, "the sources of other locales were left out"  # 300+ in the locales package


def test_push_then_the_registry_digest_is_ours_and_a_second_push_sends_nothing(built, build_env, registry: Registry):
    import requests

    ref = f"{registry.address}/base/debian12-node:1"
    proc = builder("publish", EXAMPLE, "--to", "registry", "--out", built["out"], "--registry", ref, "--plain-http", env=build_env)
    assert proc.returncode == 0, proc.stderr
    answer = requests.get(f"http://{registry.address}/v2/base/debian12-node/manifests/1", headers={"Accept": ACCEPT}, timeout=30)
    assert answer.headers["Docker-Content-Digest"] == built["digest"]
    assert sha256_of(answer.content) == built["digest"]
    assert registry.requests("PUT", "/blobs/uploads/") == 1 + len(built["manifest"]["layers"])
    published = json.loads((built["dir"] / "manifest.json").read_text())["artifacts"]["container"]["published"]["registry"][ref]
    assert published["reference"] == ref and published["digest"] == built["digest"]
    assert json.loads(proc.stdout) == [{"registry": ref, "status": "pushed", "blobs_sent": 1 + len(built["manifest"]["layers"]),
                                        "bytes_sent": published_bytes(built), "blobs_mounted": 0, "digest": built["digest"],
                                        "error": None}]

    before = {m: registry.requests(m) for m in ("POST", "PUT", "PATCH")}
    again = builder("publish", EXAMPLE, "--to", "registry", "--out", built["out"], "--registry", ref, "--plain-http", env=build_env)
    assert again.returncode == 0, again.stderr
    assert {m: registry.requests(m) for m in ("POST", "PUT", "PATCH")} == before, "the second push sent something"
    assert json.loads(again.stdout)[0]["status"] == "already-there"


def published_bytes(built: dict) -> int:
    """The bytes of the image's config and layers: what a first push sends."""
    return built["manifest"]["config"]["size"] + sum(layer["size"] for layer in built["manifest"]["layers"])


def test_tls_is_the_default(built, build_env, registry: Registry):
    proc = builder("publish", EXAMPLE, "--to", "registry", "--out", built["out"], "--registry", f"{registry.address}/x/y", env=build_env)
    assert proc.returncode == 1
    assert "TLS" in proc.stderr and "--plain-http" in proc.stderr


def test_a_registry_stopped_mid_push_is_a_clear_error_and_a_rerun_completes(built, build_env, registry: Registry, engine: Engine):
    layout = built["dir"] / "container" / "oci"
    ref = parse_reference(f"{registry.address}/base/mid-push:latest")
    sent: list[str] = []

    def stop_after_first_blob(digest: str, uploaded: bool) -> None:
        sent.append(digest)
        registry.stop()

    with pytest.raises(BuilderError) as failure:
        push(layout, ref, plain_http=True, attempts=3, backoff=0.05, on_blob=stop_after_first_blob, log=lambda _: None)
    message = str(failure.value)
    assert f"registry {registry.address} did not answer" in message and "after 3 attempts" in message, message
    assert len(sent) == 1

    registry.start()  # same port, same storage
    uploads_before = registry.requests("PUT", "/blobs/uploads/")
    proc = builder("publish", EXAMPLE, "--to", "registry", "--out", built["out"], "--registry", str(ref), "--plain-http", env=build_env)
    assert proc.returncode == 0, proc.stderr
    missing = len(built["manifest"]["layers"])  # the config and the layers, less the one blob sent
    assert registry.requests("PUT", "/blobs/uploads/") == uploads_before + missing, "only the missing blobs are sent again"

    engine.docker("rmi", "-f", str(ref), check=False)
    engine.docker("pull", str(ref))
    inspect = json.loads(engine.docker("image", "inspect", str(ref)).stdout)[0]
    assert inspect["Id"] == built["config_digest"] and f"{ref.host}/{ref.repository}@{built['digest']}" in inspect["RepoDigests"]
    run = engine.docker("run", "--rm", "--network", "none", str(ref), "bash", "-c", "dpkg --verify && cat /etc/motd", check=False)
    assert run.returncode == 0 and "managed by builder" in run.stdout, run.stdout + run.stderr
    verify = builder("verify", EXAMPLE, "--image", str(ref), env=build_env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_an_oversized_image_fails_its_budget_and_names_the_biggest_packages(build_env, tmp_path: Path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(EXAMPLE.read_text().replace("size_budget_mib: 200", "size_budget_mib: 1"))
    out = tmp_path / "out"
    proc = builder("build", spec, "--only", "container", "--out", out, env=build_env)
    assert proc.returncode == 1, proc.stderr
    assert "over its size budget of 1 MiB" in proc.stderr
    packages = proc.stderr.split("biggest packages", 1)[1].split("biggest directories", 1)[0]
    assert "nmap" in packages or "libssl-dev" in packages, packages
    assert not out.exists(), "a failed build leaves nothing in OUT"


def test_the_prepull_script_pulls_with_retries_and_reports_failure(built, build_env, registry: Registry, engine: Engine,
                                                                   tmp_path: Path):
    """The node's pre-pull script, with the docker engine variant, against the session's engine and a loopback registry."""
    from builder.baseline.prepull import prepull_script
    from builder.spec import Prepull

    ref = f"{registry.address}/base/prepull:1"
    pushed = builder("publish", EXAMPLE, "--to", "registry", "--out", built["out"], "--registry", ref, "--plain-http", env=build_env)
    assert pushed.returncode == 0, pushed.stderr
    env = {**os.environ, "DOCKER_HOST": engine.host, "BUILDER_PREPULL_STATE": str(tmp_path / "state")}
    script = prepull_script(Prepull(image=ref, engine="docker", attempts=2, plain_http=True))
    ok = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path / "state" / "done").read_text().strip() == ref
    assert json.loads(engine.docker("image", "inspect", ref).stdout)[0]["Id"] == built["config_digest"]

    registry.stop()
    missing = f"{registry.address}/base/never-pushed:1"
    script = prepull_script(Prepull(image=missing, engine="docker", attempts=2, plain_http=True))
    failed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert failed.returncode == 1
    assert "attempt 1 of 2" in failed.stderr and f"FAILED: {missing} was not pulled after 2 attempts" in failed.stderr
    assert (tmp_path / "state" / "failed").exists()


def test_basic_auth_comes_from_the_docker_config(built, build_env, tmp_path: Path):
    import base64

    registry = Registry(tmp_path / "registry", htpasswd=("ops", "s3cret-pw")).start()
    try:
        ref = f"{registry.address}/base/authed:1"
        args = ("publish", EXAMPLE, "--to", "registry", "--out", built["out"], "--registry", ref, "--plain-http")
        empty = tmp_path / "no-credentials"
        empty.mkdir()
        refused = builder(*args, env={**build_env, "DOCKER_CONFIG": str(empty)})
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr and "docker login" in refused.stderr, refused.stderr
        config = tmp_path / "docker-config"
        config.mkdir()
        (config / "config.json").write_text(json.dumps({"auths": {registry.address: {"auth": base64.b64encode(b"ops:s3cret-pw").decode()}}}))
        proc = builder(*args, env={**build_env, "DOCKER_CONFIG": str(config)})
        assert proc.returncode == 0, proc.stderr
        assert "s3cret-pw" not in proc.stdout + proc.stderr
        assert registry.requests("PUT", "/manifests/1") >= 1
    finally:
        registry.stop()
