#!/usr/bin/env python3
"""The monthly errata update: what a node holding v1 of the base image pulls for v2, against the lower bound.

Two errata sets, each an image built twice by `builder build --only container` (v1, then v2):

- mirror     the mirror's real errata: v1 from examples/debian12-node.yaml with the `bookworm` repository alone,
             v2 from `bookworm` + `bookworm-security` (the packages that differ are read from the two images
             and printed: the set changes with the mirror);
- synthetic  an errata set that does not depend on the mirror's state: v1 is the example spec as it is, v2 the
             same spec plus a signed apt repository on 127.0.0.1 holding three real packages from the mirror,
             rebuilt as a newer version with one file changed (bytes appended to an ELF file: data past the
             sections is never loaded): zlib1g (Priority required), libpcap0.8 (pulled in by the toolset's
             tcpdump) and tree (a package of the spec's toolset). The v2 image then runs a command that loads
             each changed file.

Subjects, each v1 and v2: builder's images with today's four layers (`container.layers` one per content and
`container.package_layers: 1`), the package-grouped plan (the default), the same with SOURCE_DATE_EPOCH held at
one value for v1 and v2 (plan-epoch, mirror set: the image's date otherwise moves with the mirror state, and every
mtime clamped to it), one layer, each gzip; the package-grouped plan in zstd and in zstd:chunked;
and the peers of benchmarks/container_layers.py (mirror set only: a conventional Dockerfile, the same flattened by
export/import, and squash-with-cleanup). `--subjects` picks some; those left out are said so.

The lower bound: every path of v2 whose content, mode, owner, link target or xattrs differ from v1, or which is
new (package files and package state alike), written by builder's own deterministic tar writer (layer.write_layer
with the list of those paths) as one blob compressed the same way (gzip; zstd for the zstd subjects): what a
perfect file-level update sends. Paths v1 has and v2 has not are counted (they would be whiteouts).

Every image goes to one registry on 127.0.0.1 behind a counting HTTP proxy (tests/support/countingproxy.py). Pullers: Docker (a fresh engine; gzip
only), podman into a fresh overlay storage, and podman with `enable_partial_images` (zstd:chunked only). In each
store v1 is pulled (the cold pull, timed), then v2 (the errata update, timed). Bytes: exact from the manifests
(the config and the layers v1 does not have; by chain for Docker) and measured: the response bodies the proxy
sent to the puller during the pull (manifests and range requests included, HTTP headers not). REPS alternating rounds (default 2).

Needs root, dockerd, docker-registry, podman, debootstrap, dpkg-deb, gpg and the Debian mirror; run as
    sudo BUILDER_MIRRORS="$(scripts/host-mirrors)" REPS=2 .venv/bin/python -m benchmarks.container_errata
(`make bench-errata`; `--sets mirror` or `--sets synthetic` runs one set).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import filecmp
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.container_layers import CLEANUP, conventional_dockerfile, run, say
from builder.baseline.rootfs import dpkg_versions
from builder.bootstrap import BaseTree, fill
from builder.bootstrap.debootstrap import Debootstrap, mirror_for
from builder.bootstrap.definition import image_definition
from builder.container.image import blob_path, read_layout
from builder.container.layer import tree_entries, write_layer
from builder.spec import Compression, load_spec_text
from tests.support.aptrepo import AptRepo, download_debs, rebuild_deb
from tests.support.countingproxy import CountingProxy
from tests.support.engines import Engine, Registry
from tests.support.mirror import EXAMPLE_MIRROR, MIRRORS, debian_mirror
from tests.support.rpmrepo import GpgKey, serve

ROOT = Path(__file__).resolve().parent.parent

SPEC = ROOT / "examples" / "debian12-node.yaml"
REPS = int(os.environ.get("REPS", "2"))
ACCEPT = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
ONE_LAYER = "[[distribution, packages, package-state, configuration]]"
FIXED_EPOCH = 1_700_000_000
FOUR_LAYERS = "[[distribution], [packages], [package-state], [configuration]]"   # the plan before issue 20
SECURITY_REPO = """  - name: debian-security
    baseurl: http://mirror.internal.example.com/debian-security
    suites: [bookworm-security]
    components: [main]
"""
# The synthetic errata: package -> the file of it that changes (an ELF file; the appended bytes are never loaded)
# and the command that loads it in the v2 image.
SYNTHETIC = {
    "zlib1g": ("/lib/x86_64-linux-gnu/libz.so.1.2.13", "dpkg-deb --version"),
    "libpcap0.8": ("/usr/lib/x86_64-linux-gnu/libpcap.so.1.10.3", "tcpdump --version"),
    "tree": ("/usr/bin/tree", "tree --version"),
}
SUFFIX = "+errata1"
APPENDED = b"\0builder synthetic errata\0" * 64
MB = 1e6


@dataclass
class Subject:
    """One image built twice (v1, v2) and pulled by its pullers."""

    name: str
    extra: str = ""                       # lines added under the spec's `container:` (builder's subjects)
    epoch: int | None = None              # SOURCE_DATE_EPOCH for both versions (else the mirror state's date)
    peer: bool = False
    compression: str = "gzip"
    pullers: tuple[str, ...] = ("docker", "podman")
    layers: tuple[int, int] = (0, 0)      # layer count of v1, v2
    cold_bytes: int = 0                   # config + layers of v1, from its manifest
    update_bytes: int = 0                 # config + the layers of v2 that v1 does not have (podman, containerd)
    docker_update_bytes: int = 0          # config + every layer of v2 above its first one v1 lacks (Docker 20.10)
    digests: tuple[str, str] = ("", "")   # manifest digests of v1, v2
    pulls: dict[str, Pulls] = field(default_factory=dict)

    def ref(self, address: str, version: int) -> str:
        return f"{address}/bench/{self.name}:{version}"

    def lower_bound(self, bound: LowerBound) -> int:
        """The lower bound's blob in this subject's compression (zstd:chunked against plain zstd)."""
        return bound.blobs["zstd" if self.compression.startswith("zstd") else "gzip"]


@dataclass
class Pulls:
    cold: list[float] = field(default_factory=list)
    update: list[float] = field(default_factory=list)
    cold_bytes: list[int] = field(default_factory=list)     # measured at the proxy
    update_bytes: list[int] = field(default_factory=list)
    partial: list[int] = field(default_factory=list)         # layers podman said it pulled partially, in the update


def subjects_for(errata: str) -> list[Subject]:
    """The subjects of `errata` (the peers and the subjects about the mirror's moving date: the mirror set only)."""
    subjects = [Subject("four", f"  layers: {FOUR_LAYERS}\n  package_layers: 1\n"), Subject("plan")]
    if errata == "mirror":
        subjects.append(Subject("one", f"  layers: {ONE_LAYER}\n"))
        subjects.append(Subject("plan-epoch", epoch=FIXED_EPOCH))   # the date held still: what the moving date costs
    subjects.append(Subject("plan-zstd", "  compression: zstd\n", compression="zstd", pullers=("podman",)))
    subjects.append(Subject("plan-chunked", "  compression: zstd:chunked\n", compression="zstd:chunked",
                            pullers=("podman", "partial")))
    if errata == "mirror":
        subjects += [Subject(name, peer=True) for name in ("conventional", "flatten", "squash")]
    return subjects


# ---- the errata sets ----

def mirror_specs() -> tuple[str, str]:
    """(v1, v2): the example with `bookworm` alone, and with `bookworm` + `bookworm-security`."""
    text = SPEC.read_text()
    if SECURITY_REPO not in text or "suites: [bookworm, bookworm-updates]" not in text:
        raise SystemExit(f"{SPEC}: its repositories are not the ones this benchmark rewrites")
    v2 = text.replace("suites: [bookworm, bookworm-updates]", "suites: [bookworm]")
    return v2.replace(SECURITY_REPO, ""), v2


def synthetic_debs(work: Path) -> list[Path]:
    """The three packages as the example's repositories offer them, rebuilt newer with one file changed."""
    download = work / "download"
    download.mkdir(parents=True)
    security = MIRRORS[f"{EXAMPLE_MIRROR}/debian-security"]
    sources = [(debian_mirror(), "bookworm"), (debian_mirror(), "bookworm-updates"), (security, "bookworm-security")]
    found = download_debs(sources, list(SYNTHETIC), download)
    rebuilt = work / "rebuilt"
    rebuilt.mkdir()
    return [rebuild_deb(found[name], rebuilt, SUFFIX, path, APPENDED) for name, (path, _) in SYNTHETIC.items()]


def synthetic_spec(text: str, url: str, key_name: str) -> str:
    return text.replace("repos:\n", f"repos:\n  - name: site\n    baseurl: {url}\n    suites: [errata]\n"
                                    f"    components: [main]\n    gpgkey: {key_name}\n", 1)


def with_container(text: str, extra: str) -> str:
    return text.replace("container:\n", "container:\n" + extra, 1)


# ---- building and publishing ----

def build_ours(work: Path, registry: Registry, env: dict[str, str], subject: Subject, texts: tuple[str, str],
               keys: Path | None, versions: tuple[int, ...] = (1, 2)) -> dict[int, Path]:
    """The versions of one of builder's subjects, built and published; version -> its OCI layout."""
    layouts = {}
    for version in versions:
        text = texts[version - 1]
        directory = work / f"spec-{subject.name}-{version}"
        directory.mkdir()
        if keys is not None:
            for key in keys.iterdir():
                shutil.copyfile(key, directory / key.name)
        spec = directory / "node.yaml"
        spec.write_text(with_container(text.replace("name: debian12-node\n", "name: errata-node\n"), subject.extra))
        out = work / f"out-{subject.name}-{version}"
        start = time.perf_counter()
        epoch = {} if subject.epoch is None else {"SOURCE_DATE_EPOCH": str(subject.epoch)}
        run(sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out", str(out),
            env={**env, **epoch}, cwd=ROOT, timeout=3600)
        say(f"built {subject.name} v{version} in {time.perf_counter() - start:.0f} s")
        run(sys.executable, "-m", "builder.cli", "publish", str(spec), "--to", "registry", "--out", str(out), "--registry",
            subject.ref(registry.address, version), "--plain-http", env=env, cwd=ROOT, timeout=600)
        layouts[version] = out / "errata-node" / "container" / "oci"
    return layouts


def build_peers(work: Path, registry: Registry, engine: Engine, texts: tuple[str, str]) -> None:
    """conventional (a Dockerfile: one RUN per baseline step on a debootstrap minbase; v2 built with v1's build
    cache, as a Dockerfile user rebuilds), flatten (conventional exported and imported: one layer) and squash
    (conventional cleaned up, then flattened)."""
    spec, _, _ = load_spec_text(texts[0])
    b = image_definition(spec).bootstrap
    base = BaseTree(Debootstrap(b.variant, b.suite, mirror_for(spec, b.suite), ()))
    fill(base, work / "base", log=say)
    run("bash", "-c", f"tar --numeric-owner -C {work / 'base'} -c . | docker -H {engine.host} import - bench/base:minbase")
    for version, text in enumerate(texts, start=1):
        variant, _, _ = load_spec_text(text)
        context = work / f"context-{version}"
        context.mkdir()
        (context / "Dockerfile").write_text(conventional_dockerfile(variant, upgrade=True))
        start = time.perf_counter()
        run("docker", "-H", engine.host, "build", "--network", "host", "-t", f"bench/conventional:{version}", str(context),
            timeout=3600)
        say(f"built conventional v{version} in {time.perf_counter() - start:.0f} s")
        for name, cleanup in (("flatten", "true"), ("squash", CLEANUP)):
            container = f"bench-{name}-{version}"
            engine.docker("run", "--name", container, "--network", "host", f"bench/conventional:{version}", "bash", "-c",
                          cleanup, timeout=600)
            run("bash", "-c", f"docker -H {engine.host} export {container} | docker -H {engine.host} import "
                              f"--change 'CMD [\"/bin/bash\"]' - bench/{name}:{version}")
            engine.docker("rm", container)
        for name in ("conventional", "flatten", "squash"):
            ref = f"{registry.address}/bench/{name}:{version}"
            engine.docker("tag", f"bench/{name}:{version}", ref)
            engine.docker("push", ref, timeout=1200)


def manifest_of(address: str, repository: str, tag: str) -> tuple[dict, str]:
    request = urllib.request.Request(f"http://{address}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read()), answer.headers["Docker-Content-Digest"]


def update_bytes(v1: dict, v2: dict) -> int:
    """What a store holding v1 fetches for v2, by the manifests: v2's config and the layers v1 does not have."""
    held = {layer["digest"] for layer in v1["layers"]}
    return v2["config"]["size"] + sum(layer["size"] for layer in v2["layers"] if layer["digest"] not in held)


def docker_update_bytes(v1: dict, v2: dict) -> int:
    """What a Docker 20.10 engine holding v1 fetches for v2: it looks layers up by ChainID (the digest of the layer
    and of every layer below it), so every layer of v2 above the first one that differs from v1's at the same
    position is fetched again, even one v1 holds higher up (moby distribution/xfer/download.go)."""
    common = 0
    for old, new in zip(v1["layers"], v2["layers"], strict=False):
        if old["digest"] != new["digest"]:
            break
        common += 1
    return v2["config"]["size"] + sum(layer["size"] for layer in v2["layers"][common:])


def measure_manifests(address: str, subject: Subject) -> None:
    (v1, d1), (v2, d2) = (manifest_of(address, f"bench/{subject.name}", str(v)) for v in (1, 2))
    subject.layers = (len(v1["layers"]), len(v2["layers"]))
    subject.cold_bytes = v1["config"]["size"] + sum(layer["size"] for layer in v1["layers"])
    subject.update_bytes = update_bytes(v1, v2)
    subject.docker_update_bytes = docker_update_bytes(v1, v2)
    subject.digests = (d1, d2)


# ---- the lower bound ----

def unpack(layout: Path, root: Path) -> dict:
    """The image of an OCI layout applied layer by layer into `root` (builder's layers have no whiteouts);
    returns its config."""
    root.mkdir(parents=True)
    _, manifest, config = read_layout(layout)
    for layer in manifest["layers"]:
        run("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", str(blob_path(layout, layer["digest"])),
            "-C", str(root))
    return json.loads(config)


def _xattrs(path: Path) -> dict[str, bytes]:
    try:
        return {name: os.getxattr(path, name, follow_symlinks=False) for name in os.listxattr(path, follow_symlinks=False)
                if name != "security.selinux"}
    except OSError:
        return {}


def differs(old: Path, new: Path) -> bool:
    """Whether a perfect file-level update has to send `new` to a node holding `old`: type, mode, owner, link
    target, content or xattrs differ (mtimes do not count)."""
    a, b = os.lstat(old), os.lstat(new)
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid) or _xattrs(old) != _xattrs(new):
        return True
    if stat.S_ISLNK(b.st_mode):
        return os.readlink(old) != os.readlink(new)
    if stat.S_ISREG(b.st_mode):
        return a.st_size != b.st_size or not filecmp.cmp(old, new, shallow=False)
    return False


def changed_paths(old: Path, new: Path) -> tuple[list[str], list[str]]:
    """(paths of `new` that are new or differ from `old`, in tree order; paths of `old` that `new` does not have)."""
    before = set(tree_entries(old))
    after = tree_entries(new)
    changed = [rel for rel in after if rel not in before or differs(old / rel, new / rel)]
    return changed, sorted(before - set(after))


@dataclass
class LowerBound:
    paths: int = 0
    removed: int = 0
    regular_bytes: int = 0                                       # uncompressed content of the changed regular files
    blobs: dict[str, int] = field(default_factory=dict)          # compression -> bytes of the one tar


def lower_bound(v1: Path, v2: Path, work: Path) -> tuple[LowerBound, dict[str, str], dict[str, tuple[str, str]], Path]:
    """The lower bound of v1 -> v2 (two OCI layouts), the v2 tree's dpkg versions and the packages that differ."""
    old, new = work / "lb-v1", work / "lb-v2"
    unpack(v1, old)
    config = unpack(v2, new)
    epoch = int(datetime.datetime.fromisoformat(config["created"].replace("Z", "+00:00")).timestamp())
    changed, removed = changed_paths(old, new)
    bound = LowerBound(len(changed), len(removed), sum(os.lstat(new / rel).st_size for rel in changed
                                                        if stat.S_ISREG(os.lstat(new / rel).st_mode)))
    for compression in (Compression.GZIP, Compression.ZSTD):
        blob = write_layer(new, work / f"lower-bound.{compression.value}", epoch, compression, changed)
        bound.blobs[compression.value] = blob.size
    versions = [dpkg_versions((root / "var/lib/dpkg/status").read_text()) for root in (old, new)]
    differ = {name: (versions[0].get(name, "-"), versions[1].get(name, "-"))
              for name in sorted(set(versions[0]) | set(versions[1])) if versions[0].get(name) != versions[1].get(name)}
    shutil.rmtree(old)
    return bound, versions[1], differ, new


def runs_the_changed_files(root: Path) -> list[str]:
    """In the v2 tree (chroot: the image's own loader and libraries), each synthetic package's command runs and
    ldd shows the changed library loaded by it; the changed file holds the appended bytes. Returns what they said."""
    said = []
    for name, (path, command) in SYNTHETIC.items():
        if not (root / path.lstrip("/")).read_bytes().endswith(APPENDED):
            raise SystemExit(f"v2 image: {path} of {name} does not hold the synthetic change")
        program = command.split()[0]
        soname = Path(path).name
        check = "" if path.endswith("/" + program) else f" && ldd $(command -v {program}) | grep -F '{soname.split('.so')[0]}.so'"
        proc = subprocess.run(["chroot", str(root), "/bin/sh", "-c", f"out=$({command} 2>&1) && echo \"$out\" | head -1{check}"],
                              capture_output=True, text=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, timeout=60)
        if proc.returncode:
            raise SystemExit(f"v2 image: `{command}` failed ({proc.returncode}): {proc.stdout} {proc.stderr}")
        said.append(f"{command}: " + " | ".join(line.strip() for line in proc.stdout.splitlines()))
    return said


# ---- pulling ----

def timed(proxy: CountingProxy, pull) -> tuple[float, int, object]:
    sent = proxy.bytes_sent
    start = time.perf_counter()
    answer = pull()
    seconds = time.perf_counter() - start
    time.sleep(0.2)  # the proxy's last chunks
    return seconds, proxy.bytes_sent - sent, answer


Pair = tuple[tuple[float, int], tuple[float, int], int]   # (cold s, bytes), (errata s, bytes), partial blobs


def docker_pair(base: Path, proxy: CountingProxy, v1: str, v2: str) -> Pair:
    engine = Engine(base).start()
    try:
        cold = timed(proxy, lambda: engine.docker("pull", "-q", v1))
        update = timed(proxy, lambda: engine.docker("pull", "-q", v2))
        return cold[:2], update[:2], 0
    finally:
        engine.stop()


def podman_pair(base: Path, proxy: CountingProxy, v1: str, v2: str, partial: bool) -> Pair:
    runroot = Path(tempfile.mkdtemp(prefix="errata-run."))  # podman wants a short runroot
    conf = base / "storage.conf"
    base.mkdir(parents=True)
    options = ('pull_options = {enable_partial_images = "true", use_hard_links = "false", ostree_repos = ""}\n'
               if partial else "")
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{base / "storage"}"\nrunroot = "{runroot}"\n'
                    f"[storage.options]\n{options}")
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}
    podman = ["podman", "--root", str(base / "storage"), "--runroot", str(runroot), "--storage-driver", "overlay"]
    pull = [*podman, *(["--log-level=debug"] if partial else []), "pull", "-q", "--tls-verify=false"]
    try:
        cold = timed(proxy, lambda: run(*pull, v1, env=env, timeout=900))
        update = timed(proxy, lambda: run(*pull, v2, env=env, timeout=900))
        return cold[:2], update[:2], update[2].stderr.count("Retrieved partial blob")
    finally:
        subprocess.run([*podman, "system", "reset", "--force"], capture_output=True, check=False, env=env)
        subprocess.run(["rm", "-rf", str(base), str(runroot)], check=False)


def pull_pair(puller: str, base: Path, proxy: CountingProxy, subject: Subject) -> Pair:
    v1, v2 = subject.ref(proxy.address, 1), subject.ref(proxy.address, 2)
    if puller == "docker":
        return docker_pair(base, proxy, v1, v2)
    return podman_pair(base, proxy, v1, v2, partial=puller == "partial")


# ---- the report ----

def spread(samples: Sequence[float], scale: float = 1, digits: int = 2) -> str:
    if not samples:
        return "-"
    values = [s / scale for s in samples]
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def verdict(value: float, limit: float) -> str:
    return f"{value:.3f} (<= {limit}: {'met' if value <= limit else 'NOT met'})"


@dataclass
class SetResult:
    errata: str
    subjects: list[Subject]
    missing: list[str]
    bound: LowerBound
    differ: dict[str, tuple[str, str]]
    packages: int
    proof: list[str] = field(default_factory=list)
    twice: tuple[str, bool, bool] | None = None   # subject, same manifest digest, same layer digests


def report(result: SetResult, out=print) -> None:
    s = {subject.name: subject for subject in result.subjects}
    median = statistics.median
    docker = run("docker", "--version").stdout.split(",")[0].split()[-1]
    podman = run("podman", "--version").stdout.split()[-1]
    out(f"== errata set '{result.errata}': {len(result.differ)} of {result.packages} packages of v2 differ from v1")
    for name, (a, b) in result.differ.items():
        out(f"   {name:24} {a} -> {b}")
    for line in result.proof:
        out(f"   v2 runs the changed files: {line}")
    for line in result.missing:
        out(f"   left out: {line}")
    bound = result.bound
    out(f"lower bound: {bound.paths} paths of v2 new or changed ({bound.regular_bytes / MB:.2f} MB of file content), "
        f"{bound.removed} removed (whiteouts, not counted); one tar: gzip {bound.blobs['gzip']:,d} bytes, "
        f"zstd {bound.blobs['zstd']:,d} bytes")
    out(f"pulls through a counting proxy from a registry on 127.0.0.1 (docker {docker}: fresh engine; podman {podman}: "
        f"fresh overlay storage; partial: podman with enable_partial_images), {REPS} alternating rounds; median [min-max]")
    out("errata bytes by the manifests: by digest (podman, containerd: the layers v1 lacks) and by chain (Docker 20.10:"
        " every layer above the first one v1 lacks)")
    out(f"{'image':14} {'comp':12} {'layers':>7} {'cold MB':>8} {'by digest':>13} {'/ lower bound':>13} "
        f"{'by chain':>13} {'/ lower bound':>13} {'manifest v2':>20}")
    for subject in result.subjects:
        lb = subject.lower_bound(bound)
        out(f"{subject.name:14} {subject.compression:12} {subject.layers[0]:3d}/{subject.layers[1]:<3d} "
            f"{subject.cold_bytes / MB:8.2f} {subject.update_bytes:13,d} {subject.update_bytes / lb:13.2f} "
            f"{subject.docker_update_bytes:13,d} {subject.docker_update_bytes / lb:13.2f} {subject.digests[1][:20]:>20}")
    out(f"{'image':14} {'puller':8} {'cold pull s':>20} {'cold MB (proxy)':>16} {'errata pull s':>20} "
        f"{'errata bytes (proxy)':>22} {'/ lower bound':>13}")
    for subject in result.subjects:
        lb = subject.lower_bound(bound)
        for puller, p in subject.pulls.items():
            out(f"{subject.name:14} {puller:8} {spread(p.cold):>20} {spread(p.cold_bytes, MB):>16} {spread(p.update):>20} "
                f"{median(p.update_bytes) if p.update_bytes else 0:22,.0f} "
                f"{(median(p.update_bytes) / lb) if p.update_bytes else 0:13.2f}"
                + (f"  (podman: 'Retrieved partial blob' x {min(p.partial)}-{max(p.partial)})" if puller == "partial" else ""))
    out("targets (issue 20):")
    lb_gzip, lb_zstd = bound.blobs["gzip"], bound.blobs["zstd"]

    def cold_time(a: Subject, puller: str, b: Subject, b_puller: str) -> float:
        return median(a.pulls[puller].cold) / median(b.pulls[b_puller].cold)

    plan, four, squash = s.get("plan"), s.get("four"), s.get("squash")
    if plan is not None and "docker" in plan.pulls:
        out(f"  errata bytes, gzip plan, Docker: manifests {verdict(plan.docker_update_bytes / lb_gzip, 1.5)}, "
            f"proxy {verdict(median(plan.pulls['docker'].update_bytes) / lb_gzip, 1.5)} x the lower bound")
    chunked = s.get("plan-chunked")
    if chunked is not None and "partial" in chunked.pulls:
        out(f"  errata bytes, zstd:chunked, podman partial pull (proxy): "
            f"{verdict(median(chunked.pulls['partial'].update_bytes) / lb_zstd, 1.2)} x the lower bound")
    if plan is not None and four is not None:
        out(f"  cold bytes, plan / four (gzip): {verdict(plan.cold_bytes / four.cold_bytes, 1.05)}")
        for puller in (p for p in ("docker", "podman") if p in plan.pulls and p in four.pulls):
            out(f"  cold time, plan / four (gzip, {puller}): {verdict(cold_time(plan, puller, four, puller), 1.05)}")
    if squash is not None:
        for subject in (x for x in result.subjects if x.compression.startswith("zstd")):
            for puller in (p for p in ("podman", "partial") if p in subject.pulls):
                out(f"  {subject.name} ({puller}) vs squash (podman): cold time "
                    f"{verdict(cold_time(subject, puller, squash, 'podman'), 0.7)}, "
                    f"cold bytes {verdict(subject.cold_bytes / squash.cold_bytes, 0.6)}")
    if result.twice:
        name, manifest, layers = result.twice
        out(f"  same digest twice ({name} v2 built again): manifest {'same' if manifest else 'DIFFERENT'}, "
            f"layers {'all the same' if layers else 'DIFFERENT'}")


# ---- one errata set ----

def measure_set(errata: str, work: Path, env: dict[str, str], twice: bool, only: Sequence[str] = ()) -> SetResult:
    work.mkdir(parents=True)
    subjects = subjects_for(errata)
    missing = [f"{s.name}: not asked for (--subjects)" for s in subjects if only and s.name not in only]
    subjects = [s for s in subjects if not only or s.name in only]
    registry = Registry(work / "registry").start()
    proxy = CountingProxy.start(registry.address)
    keys = None
    cleanup = contextlib.ExitStack()
    try:
        if errata == "mirror":
            texts = mirror_specs()
        else:
            debs = synthetic_debs(work / "debs")
            key = GpgKey.generate("builder errata benchmark key")
            cleanup.callback(key.remove)
            repo = AptRepo(work / "repo", "errata", key)
            repo.publish(debs, int(time.time()))
            url = cleanup.enter_context(serve(work / "repo"))
            keys = work / "keys"
            keys.mkdir()
            shutil.copyfile(key.public, keys / "site.asc")
            text = SPEC.read_text()
            texts = (text, synthetic_spec(text, url, "site.asc"))
        layouts = {}
        for subject in subjects:
            if not subject.peer:
                layouts[subject.name] = build_ours(work, registry, env, subject, texts, keys)
        if any(subject.peer for subject in subjects):
            engine = Engine(work / "build-engine").start()
            try:
                build_peers(work, registry, engine, texts)
            finally:
                engine.stop()
        result_twice = None
        first = next(s for s in subjects if s.name == ("plan" if "plan" in layouts else "four"))
        if twice:
            again = Subject(first.name + "-again", first.extra)
            layout = build_ours(work, registry, env, again, texts, keys, versions=(2,))[2]
            (b1, m1, _), (b2, m2, _) = read_layout(layouts[first.name][2]), read_layout(layout)
            result_twice = (first.name, b1 == b2, [x["digest"] for x in m1["layers"]] == [x["digest"] for x in m2["layers"]])
        bound, versions, differ, v2_tree = lower_bound(layouts[first.name][1], layouts[first.name][2], work)
        proof = runs_the_changed_files(v2_tree) if errata == "synthetic" else []
        shutil.rmtree(v2_tree)
        for subject in subjects:
            measure_manifests(registry.address, subject)
            subject.pulls = {puller: Pulls() for puller in subject.pullers}
        for rep in range(REPS):
            order = subjects if rep % 2 == 0 else list(reversed(subjects))
            for index, subject in enumerate(order):
                for puller, p in subject.pulls.items():
                    (cold, cold_bytes), (update, update_bytes_), partial = pull_pair(
                        puller, work / f"pull-{rep}-{index}-{puller}", proxy, subject)
                    p.partial.append(partial)
                    p.cold.append(cold)
                    p.cold_bytes.append(cold_bytes)
                    p.update.append(update)
                    p.update_bytes.append(update_bytes_)
                    say(f"{errata} round {rep + 1}: {subject.name} ({puller}): cold {cold:.2f} s {cold_bytes / MB:.2f} MB, "
                        f"errata {update:.2f} s {update_bytes_:,d} bytes")
        return SetResult(errata, subjects, missing, bound, differ, len(versions), proof, result_twice)
    finally:
        cleanup.close()
        proxy.stop()
        registry.stop()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=lambda s: tuple(s.split(",")), default=("mirror", "synthetic"),
                        help="mirror,synthetic (default both)")
    parser.add_argument("--no-twice", action="store_true", help="do not build the plan's v2 a second time")
    parser.add_argument("--subjects", type=lambda s: tuple(s.split(",")), default=(),
                        help="only these subjects (names as printed; default all this checkout can build)")
    args = parser.parse_args(argv)
    for name in args.sets:
        if name not in ("mirror", "synthetic"):
            parser.error(f"--sets: unknown errata set {name!r} (mirror, synthetic)")
    return args


def main(argv: Sequence[str] = sys.argv[1:]) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        say("needs root (dockerd, podman, debootstrap)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-errata."))
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}  # builder's images go to the registry only
    results = []
    try:
        for errata in args.sets:
            results.append(measure_set(errata, work / errata, env, twice=not args.no_twice and errata == args.sets[0],
                                       only=args.subjects))
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    for result in results:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
