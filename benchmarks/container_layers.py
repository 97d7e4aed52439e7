#!/usr/bin/env python3
"""Cold pull and update pull of our base image (one layer, the layer plan, gzip and zstd) against its peers.

Images, all from the same spec (examples/debian12-node.yaml), each built twice: as is (v1)
and with one line of the baseline's configuration changed (/etc/motd, v2):

- ours-one      builder, container.layers: one layer (what builder wrote before the plan)
- ours-plan     builder, the default layer plan of base-images/ (gzip)
- ours-zstd     the same plan, zstd
- conventional  a plain debootstrap minbase imported, then one Dockerfile RUN per baseline step
- squash        the conventional image, apt clean, no docs/man/info/locales/apt lists, flattened
                (docker export | docker import): the best squash a Dockerfile user gets

Every image is pushed to one registry on 127.0.0.1. A cold pull is `docker pull` of v1 into
a fresh engine (new data-root); an update pull is v1 pulled untimed, then v2 timed, into a
fresh engine. Rounds alternate the images. Bytes are exact, from the registry's manifests
(an update pull fetches the config and the layers v1 did not have).

Needs root, dockerd, docker-registry, debootstrap and the Debian mirror; run as
    sudo .venv/bin/python benchmarks/container_layers.py        (REPS=3 by default)
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.engines import Engine, Registry  # noqa: E402

from builder.baseline import Baseline  # noqa: E402
from builder.baseline.model import BASELINE_VERSION  # noqa: E402
from builder.baseline.script import PRELUDE, STEP_ITEMS, STEPS  # noqa: E402
from builder.bootstrap import BaseTree, fill  # noqa: E402
from builder.bootstrap.debootstrap import Debootstrap, mirror_for  # noqa: E402
from builder.container.definition import image_definition  # noqa: E402
from builder.spec import load_spec, load_spec_text  # noqa: E402

SPEC = ROOT / "examples" / "debian12-node.yaml"
REPS = int(os.environ.get("REPS", "3"))
# Docker 28 here failed to unpack our zstd layers ("archive/tar: invalid tar header"; see docs/performance.md):
# PULL_ZSTD=1 pulls them too.
PULL_ZSTD = os.environ.get("PULL_ZSTD") == "1"
ACCEPT = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
MOTD = ("Local changes are overwritten.", "Local changes are overwritten (v2).")
ONE_LAYER = "[[distribution, packages, package-state, configuration]]"
CLEANUP = ("apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/info/* "
           "/usr/share/locale/* /var/cache/debconf/*-old /var/log/*.log /var/log/apt/*")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv[:5])}... failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def spec_text(version: int, container_extra: str = "") -> str:
    text = SPEC.read_text().replace(MOTD[0], MOTD[version - 1])
    return text.replace("container:\n", "container:\n" + container_extra, 1)


def conventional_dockerfile(spec) -> str:
    """FROM the plain base, then one RUN per baseline step (the container's steps, in the baseline's order)."""
    b = Baseline(spec, context="container")
    prelude = PRELUDE.format(version=BASELINE_VERSION, target=spec.target.value)
    lines = ["FROM bench/base:minbase"]
    for name, step in STEPS:
        if STEP_ITEMS.get(name, name) in b.not_applicable:
            continue
        body = step(b)
        if not body:
            continue
        if name == "packages":
            body = ["apt-get update -q", *body]
        lines.append("RUN " + json.dumps(["/bin/bash", "-c", prelude + "\n".join(body) + "\n"]))
    lines.append('CMD ["/bin/bash"]')
    return "\n".join(lines) + "\n"


@dataclass
class Subject:
    name: str
    layers: int = 0
    cold_bytes: int = 0
    update_bytes: int = 0
    cold: list[float] = field(default_factory=list)
    update: list[float] = field(default_factory=list)

    def ref(self, registry: Registry, version: int) -> str:
        return f"{registry.address}/bench/{self.name}:{version}"


def manifest_of(registry: Registry, repository: str, tag: str) -> dict:
    request = urllib.request.Request(f"http://{registry.address}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def measure_bytes(registry: Registry, subject: Subject) -> None:
    v1, v2 = (manifest_of(registry, f"bench/{subject.name}", str(v)) for v in (1, 2))
    held = {layer["digest"] for layer in v1["layers"]}
    subject.layers = len(v1["layers"])
    subject.cold_bytes = v1["config"]["size"] + sum(layer["size"] for layer in v1["layers"])
    subject.update_bytes = v2["config"]["size"] + sum(layer["size"] for layer in v2["layers"] if layer["digest"] not in held)


def timed_pull(base: Path, ref: str, first: str | None = None) -> float:
    """Seconds `docker pull ref` takes in a fresh engine (that already holds `first`, pulled untimed)."""
    engine = Engine(base).start()
    try:
        if first is not None:
            engine.docker("pull", "-q", first)
        start = time.perf_counter()
        engine.docker("pull", "-q", ref)
        return time.perf_counter() - start
    finally:
        engine.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)


def build_ours(work: Path, registry: Registry, env: dict[str, str], name: str, extra: str) -> None:
    for version in (1, 2):
        spec = work / f"{name}-{version}.yaml"
        spec.write_text(spec_text(version, extra))
        out = work / f"out-{name}-{version}"
        start = time.perf_counter()
        run(sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out", str(out), env=env, cwd=ROOT)
        say(f"built {name} v{version} in {time.perf_counter() - start:.0f} s")
        run(sys.executable, "-m", "builder.cli", "publish", str(spec), "--to", "registry", "--out", str(out), "--registry",
            f"{registry.address}/bench/{name}:{version}", "--plain-http", env=env, cwd=ROOT)


def build_peers(work: Path, registry: Registry, engine: Engine) -> None:
    spec, _, _ = load_spec(SPEC)
    definition = image_definition(spec)
    b = definition.bootstrap
    base = BaseTree(Debootstrap(b.variant, b.suite, mirror_for(spec, b.suite), ()))
    fill(base, work / "base", log=say)
    run("bash", "-c", f"tar --numeric-owner -C {work / 'base'} -c . | docker -H {engine.host} import - bench/base:minbase")
    for version in (1, 2):
        variant, _, _ = load_spec_text(spec_text(version))
        context = work / f"context-{version}"
        context.mkdir()
        (context / "Dockerfile").write_text(conventional_dockerfile(variant))
        start = time.perf_counter()
        run("docker", "-H", engine.host, "build", "--network", "host", "-t", f"bench/conventional:{version}", str(context),
            timeout=3600)
        say(f"built conventional v{version} in {time.perf_counter() - start:.0f} s")
        container = f"bench-squash-{version}"
        engine.docker("run", "--name", container, "--network", "host", f"bench/conventional:{version}", "bash", "-c", CLEANUP,
                      timeout=600)
        run("bash", "-c", f"docker -H {engine.host} export {container} | docker -H {engine.host} import "
                          f"--change 'CMD [\"/bin/bash\"]' - bench/squash:{version}")
        engine.docker("rm", container)
        for name in ("conventional", "squash"):
            ref = f"{registry.address}/bench/{name}:{version}"
            engine.docker("tag", f"bench/{name}:{version}", ref)
            engine.docker("push", ref, timeout=1200)


def spread(samples: list[float]) -> str:
    if not samples:
        return "not pulled"
    return f"{statistics.median(samples):6.2f} s [{min(samples):.2f}-{max(samples):.2f}]"


def report(subjects: dict[str, Subject]) -> None:
    mb = 1e6
    print(f"docker {run('docker', '--version').stdout.split(',')[0].split()[-1]} pulls from a registry on 127.0.0.1, "
          f"each into a fresh engine, {REPS} alternating rounds; median [min-max]; bytes exact from the manifests")
    print(f"{'image':13} {'layers':>6} {'cold MB':>9} {'cold pull':>22} {'update bytes':>13} {'update pull':>22}")
    for s in subjects.values():
        print(f"{s.name:13} {s.layers:6d} {s.cold_bytes / mb:9.2f} {spread(s.cold):>22} {s.update_bytes:13,d} {spread(s.update):>22}")
    plan, squash, one = subjects["ours-plan"], subjects["squash"], subjects["ours-one"]
    cold = statistics.median

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}"

    print("targets (issue 12):")
    for name in ("ours-plan", "ours-zstd"):
        s = subjects[name]
        times = (f"update/cold time {ratio(cold(s.update), cold(s.cold))} (<= 0.1), cold time vs squash "
                 f"{ratio(cold(s.cold), cold(squash.cold))} (<= 0.7)") if s.cold else "not pulled"
        print(f"  {name}: update/cold bytes {ratio(s.update_bytes, s.cold_bytes)} (<= 0.01), "
              f"cold bytes vs squash {ratio(s.cold_bytes, squash.cold_bytes)} (<= 0.6); {times}")
    print(f"  ours-plan vs ours-one: cold bytes {ratio(plan.cold_bytes, one.cold_bytes)}, "
          f"cold time {ratio(cold(plan.cold), cold(one.cold))}, update bytes {ratio(plan.update_bytes, one.update_bytes)}")
    conventional = subjects["conventional"]
    print(f"  ours-plan vs conventional: cold bytes {ratio(plan.cold_bytes, conventional.cold_bytes)}, "
          f"cold time {ratio(cold(plan.cold), cold(conventional.cold))}, "
          f"update bytes {ratio(plan.update_bytes, conventional.update_bytes)}")


def main() -> int:
    if os.geteuid() != 0:
        say("needs root (dockerd, debootstrap)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-layers."))
    registry = Registry(work / "registry").start()
    subjects = {name: Subject(name) for name in ("ours-one", "ours-plan", "ours-zstd", "conventional", "squash")}
    try:
        builder_engine = Engine(work / "build-engine").start()
        env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}  # ours go to the registry only
        try:
            build_ours(work, registry, env, "ours-one", f"  layers: {ONE_LAYER}\n")
            build_ours(work, registry, env, "ours-plan", "")
            build_ours(work, registry, env, "ours-zstd", "  compression: zstd\n")
            build_peers(work, registry, builder_engine)
        finally:
            builder_engine.stop()
        for subject in subjects.values():
            measure_bytes(registry, subject)
        pulled = [s for s in subjects.values() if PULL_ZSTD or s.name != "ours-zstd"]
        for rep in range(REPS):
            for index, subject in enumerate(pulled):
                subject.cold.append(timed_pull(work / f"pull-{rep}-{index}-cold", subject.ref(registry, 1)))
                subject.update.append(timed_pull(work / f"pull-{rep}-{index}-update", subject.ref(registry, 2),
                                                 subject.ref(registry, 1)))
                say(f"round {rep + 1}: {subject.name}: cold {subject.cold[-1]:.2f} s, update {subject.update[-1]:.2f} s")
    finally:
        registry.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    report(subjects)
    return 0


if __name__ == "__main__":
    sys.exit(main())
