#!/usr/bin/env python3
"""`docker pull` of the flattened base image vs the same content built the conventional way, into an EMPTY engine.

Conventional: the same debootstrap minbase (imported as one layer), then one Dockerfile
RUN per baseline step (the packages step runs `apt-get update` and installs from the
Debian mirror, as such Dockerfiles do), built with `docker build --network host`.
Both images are pushed to one registry on 127.0.0.1; every pull goes into a fresh engine
(new data-root), alternating the two images, REPS times each. Prints medians, ratios
(targets: time <= 0.5, bytes <= 0.6) and our compressed size next to the stock minimal
images of the family (reference sizes from DOMAIN-NOTES: none can be pulled here).

Needs root, dockerd, docker-registry, debootstrap and the Debian mirror; run as
    sudo .venv/bin/python benchmarks/container_pull.py
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.engines import Engine, Registry  # noqa: E402

from builder.baseline import Baseline  # noqa: E402
from builder.baseline.model import BASELINE_VERSION  # noqa: E402
from builder.baseline.script import applicable_steps  # noqa: E402
from builder.baseline.shell import PRELUDE  # noqa: E402
from builder.container.bootstrap import BaseTree, fill  # noqa: E402
from builder.container.build import mirror_for  # noqa: E402
from builder.container.definition import image_definition  # noqa: E402
from builder.spec import load_spec  # noqa: E402

SPEC = ROOT / "examples" / "debian12-node.yaml"
REPS = int(os.environ.get("REPS", "5"))
ACCEPT = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
# Compressed sizes quoted in /work/shared/DOMAIN-NOTES.md (checked 2026-11-25), for comparison only.
STOCK_MINIMAL = {"almalinux:9-minimal": 36, "ubi9-minimal": 32, "rockylinux:9-minimal": 47}


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv[:4])}... failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def conventional_dockerfile(spec) -> str:
    """FROM the plain base, then one RUN per baseline step (the container's steps, in the baseline's order)."""
    b = Baseline(spec, context="container")
    prelude = PRELUDE.format(version=BASELINE_VERSION, target=spec.target.value)
    lines = ["FROM bench/base:minbase"]
    for name, body in applicable_steps(b):
        if name == "packages":
            body = ["apt-get update -q", *body]
        lines.append("RUN " + json.dumps(["/bin/bash", "-c", prelude + "\n".join(body) + "\n"]))
    lines.append('CMD ["/bin/bash"]')
    return "\n".join(lines) + "\n"


def pulled_bytes(registry: Registry, repository: str, tag: str) -> int:
    request = urllib.request.Request(f"http://{registry.address}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as answer:
        manifest = json.loads(answer.read())
    return manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])


def timed_pull(base: Path, ref: str) -> float:
    engine = Engine(base).start()
    try:
        start = time.perf_counter()
        engine.docker("pull", "-q", ref)
        return time.perf_counter() - start
    finally:
        engine.stop()


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (dockerd, debootstrap)", file=sys.stderr)
        return 2
    spec, _, _ = load_spec(SPEC)
    work = Path(tempfile.mkdtemp(prefix="bench-pull."))
    registry = Registry(work / "registry").start()
    builder_engine = Engine(work / "build-engine").start()
    env = {**os.environ, "DOCKER_HOST": builder_engine.host}
    try:
        # Ours: builder build + builder publish.
        out = work / "out"
        run(sys.executable, "-m", "builder.cli", "build", str(SPEC), "--only", "container", "--out", str(out), env=env, cwd=ROOT)
        ours = f"{registry.address}/bench/flattened:1"
        run(sys.executable, "-m", "builder.cli", "publish", str(SPEC), "--to", "registry", "--out", str(out), "--registry", ours,
            "--plain-http", env=env, cwd=ROOT)

        # Conventional: plain minbase imported, one RUN per baseline step.
        definition = image_definition(spec)
        base = BaseTree(definition.bootstrap, mirror_for(spec, definition), ())
        fill(base, work / "base", log=lambda m: print(m, file=sys.stderr))
        run("bash", "-c", f"tar --numeric-owner -C {work / 'base'} -c . | docker -H {builder_engine.host} import - bench/base:minbase")
        context = work / "context"
        context.mkdir()
        (context / "Dockerfile").write_text(conventional_dockerfile(spec))
        run("docker", "-H", builder_engine.host, "build", "--network", "host", "-t", "bench/conventional:1", str(context), timeout=3600)
        conventional = f"{registry.address}/bench/conventional:1"
        builder_engine.docker("tag", "bench/conventional:1", conventional)
        builder_engine.docker("push", conventional)
        layers = len(json.loads(builder_engine.docker("image", "inspect", conventional).stdout)[0]["RootFS"]["Layers"])
    finally:
        builder_engine.stop()

    try:
        times: dict[str, list[float]] = {"flattened": [], "conventional": []}
        for rep in range(REPS):
            for name, ref in (("flattened", ours), ("conventional", conventional)):
                times[name].append(timed_pull(work / f"pull-{name}-{rep}", ref))
        size = {"flattened": pulled_bytes(registry, "bench/flattened", "1"),
                "conventional": pulled_bytes(registry, "bench/conventional", "1")}
    finally:
        registry.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)

    med = {name: statistics.median(samples) for name, samples in times.items()}
    mib = 1 << 20
    print(f"docker pull into an empty engine, median of {REPS} (each sample a fresh data-root):")
    print(f"  flattened     1 layer : {size['flattened'] / mib:7.1f} MiB  {med['flattened']:6.2f} s  "
          f"samples {', '.join(f'{t:.2f}' for t in times['flattened'])}")
    print(f"  conventional {layers:2d} layers: {size['conventional'] / mib:7.1f} MiB  {med['conventional']:6.2f} s  "
          f"samples {', '.join(f'{t:.2f}' for t in times['conventional'])}")
    print(f"  ratio bytes {size['flattened'] / size['conventional']:.2f} (target <= 0.60), "
          f"time {med['flattened'] / med['conventional']:.2f} (target <= 0.50)")
    print(f"our compressed size {size['flattened'] / 1e6:.0f} MB; stock minimal images of the EL family (DOMAIN-NOTES, not pulled here): "
          + ", ".join(f"{name} {mb} MB" for name, mb in STOCK_MINIMAL.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
