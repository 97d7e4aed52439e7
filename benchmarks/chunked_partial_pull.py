#!/usr/bin/env python3
"""What a podman node fetches for an update with zstd:chunked partial pulls, against plain zstd: measured bytes.

The Debian example spec is built by builder three times (v1; v2 = a changed motd, the configuration layer;
v3 = one more package, jq), with `compression: zstd` and with `compression: zstd:chunked`, and pushed to Debian's
docker-registry on 127.0.0.1. For each, a podman 4.3 node (a fresh overlay containers-storage, storage.conf with
`enable_partial_images = "true"`) pulls v1 and then v2 or v3 through a byte-counting proxy
(tests/support/countingproxy.py): the response body bytes it fetched, range requests included, against the
bytes of the layers that changed (what a whole-blob pull sends). Loopback only; stops by itself.

    sudo .venv/bin/python -m benchmarks.chunked_partial_pull
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.countingproxy import CountingProxy
from tests.support.engines import Registry
from tests.support.mirror import BUILDER_MIRRORS  # the example's mirror -> this host's, as the tests use

ROOT = Path(__file__).resolve().parent.parent

SPEC = ROOT / "examples" / "debian12-node.yaml"
MOTD = ("Local changes are overwritten.", "Local changes are overwritten (v2).")
ONE_PACKAGE = "\npackages:\n  install: [jq]\n"
VERSIONS = {1: "v1", 2: "v2: motd changed", 3: "v3: one more package (jq)"}
ACCEPT = "application/vnd.oci.image.manifest.v1+json"
TIMEOUT = 1800


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=TIMEOUT, check=False, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def spec_text(version: int, compression: str) -> str:
    text = SPEC.read_text().replace(MOTD[0], MOTD[1] if version == 2 else MOTD[0])
    text = text.replace("container:\n", f"container:\n  compression: {compression}\n", 1)
    return text + ONE_PACKAGE if version == 3 else text


def build(work: Path, registry: Registry, compression: str) -> None:
    env = {"BUILDER_MIRRORS": BUILDER_MIRRORS, **os.environ, "DOCKER_HOST": "unix:///nonexistent"}  # to the registry only
    name = compression.replace(":", "-")
    for version in VERSIONS:
        spec = work / f"{name}-{version}.yaml"
        spec.write_text(spec_text(version, compression))
        out = work / f"out-{name}-{version}"
        start = time.perf_counter()
        run(sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out", str(out), "--quiet",
            env=env, cwd=ROOT)
        run(sys.executable, "-m", "builder.cli", "publish", str(spec), "--to", "registry", "--out", str(out), "--registry",
            f"{registry.address}/bench/{name}:{version}", "--plain-http", "--quiet", env=env, cwd=ROOT)
        say(f"built and pushed {name} {VERSIONS[version]} in {time.perf_counter() - start:.0f} s")


def manifest(registry: Registry, name: str, version: int) -> dict:
    request = urllib.request.Request(f"http://{registry.address}/v2/bench/{name}/manifests/{version}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def podman_update(work: Path, proxy: CountingProxy, name: str, version: int) -> tuple[int, float, int, float, str]:
    """(bytes and seconds of v1's pull, bytes and seconds of the update's pull, the storage's "Missing N bytes" lines)
    on a fresh node."""
    runroot = Path(tempfile.mkdtemp(prefix="bench-run."))  # podman wants a short runroot
    base = work / f"node-{name}-{version}"
    base.mkdir()
    conf = base / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{base / "storage"}"\nrunroot = "{runroot}"\n'
                    '[storage.options]\npull_options = {enable_partial_images = "true", use_hard_links = "false"}\n')
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}
    podman = ["podman", "--log-level=debug", "pull", "--tls-verify=false"]
    try:
        proxy.reset()
        start = time.perf_counter()
        run(*podman, f"{proxy.address}/bench/{name}:1", env=env)
        cold, cold_time = proxy.bytes_sent, time.perf_counter() - start
        proxy.reset()
        start = time.perf_counter()
        update = run(*podman, f"{proxy.address}/bench/{name}:{version}", env=env)
        update_time = time.perf_counter() - start
        missing = [line.split('msg="')[1].rstrip('"') for line in update.stderr.splitlines() if "Missing " in line]
        return cold, cold_time, proxy.bytes_sent, update_time, "; ".join(missing)
    finally:
        subprocess.run(["podman", "system", "reset", "--force"], env=env, capture_output=True, check=False, timeout=TIMEOUT)
        subprocess.run(["rm", "-rf", str(base), str(runroot)], check=False)


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("run as root (debootstrap, podman's overlay storage)")
    work = Path(tempfile.mkdtemp(prefix="bench-chunked."))
    registry = Registry(work / "registry").start()
    proxy = CountingProxy.start(registry.address)
    try:
        for compression in ("zstd", "zstd:chunked"):
            build(work, registry, compression)
        print(f"{'image':14} {'layers':>6} {'blobs':>12} {'update':28} {'changed layers':>15} {'podman fetched':>15} "
              f"{'ratio':>6} {'time':>7}  {'cold pull':>11} {'time':>7}")
        for compression in ("zstd", "zstd:chunked"):
            name = compression.replace(":", "-")
            v1 = manifest(registry, name, 1)
            held = {layer["digest"] for layer in v1["layers"]}
            blobs = v1["config"]["size"] + sum(layer["size"] for layer in v1["layers"])
            for version in (2, 3):
                image = manifest(registry, name, version)
                changed = image["config"]["size"] + sum(layer["size"] for layer in image["layers"] if layer["digest"] not in held)
                cold, cold_time, fetched, update_time, missing = podman_update(work, proxy, name, version)
                print(f"{compression:14} {len(v1['layers']):6} {blobs:12,} {VERSIONS[version]:28} {changed:15,} {fetched:15,} "
                      f"{fetched / changed:6.3f} {update_time:6.2f}s  {cold:11,} {cold_time:6.2f}s"
                      + (f"  ({missing})" if missing else ""), flush=True)
    finally:
        proxy.stop()
        registry.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
