#!/usr/bin/env python3
"""Cold pull and update pull of our base image (one layer, the layer plan, gzip and zstd) against its peers.

Images, all from the same spec (examples/debian12-node.yaml), each built three times: as is (v1),
with one line of the baseline's configuration changed (/etc/motd, v2), and with one package
added to the spec (jq, v3: what a node pulls when the package set changes):

- ours-one      builder, container.layers: one layer (what builder wrote before the plan)
- ours-plan     builder, the default layer plan of base-images/ (gzip)
- ours-zstd     the same plan, zstd
- conventional  a plain debootstrap minbase imported, then one Dockerfile RUN per baseline step
- squash        the conventional image, apt clean, no docs/man/info/locales/apt lists, flattened
                (docker export | docker import): the best squash a Dockerfile user gets

Every image is pushed to one registry on 127.0.0.1. A cold pull is a pull of v1 into a fresh
store; an update pull is v1 pulled untimed, then v2 (or v3) timed, into a fresh store. Two
pullers: `docker pull` into a fresh engine (new data-root; gzip images only: this Docker cannot
unpack zstd) and `podman pull` into a fresh containers-storage (overlay; every image), the
engine an EL node pulls with. Rounds alternate the images. Bytes are exact, from the
registry's manifests (an update pull fetches the config and the layers v1 did not have).

Needs root, dockerd, docker-registry, podman, debootstrap and the Debian mirror; run as
    sudo .venv/bin/python -m benchmarks.container_layers        (REPS=3 by default)
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

from builder.baseline import Baseline
from builder.baseline.model import BASELINE_VERSION
from builder.baseline.script import PRELUDE, applicable_steps
from builder.bootstrap import BaseTree, fill
from builder.bootstrap.debootstrap import Debootstrap, mirror_for
from builder.bootstrap.definition import image_definition
from builder.spec import load_spec, load_spec_text
from tests.support.engines import Engine, Registry

ROOT = Path(__file__).resolve().parent.parent

SPEC = ROOT / "examples" / "debian12-node.yaml"
REPS = int(os.environ.get("REPS", "3"))
# Docker here fails to unpack zstd layers ("archive/tar: invalid tar header"; see docs/performance.md);
# podman 4.3 pulls them (tests/test_container.py proves the tree).
ZSTD = "ours-zstd"
VERSIONS = (1, 2, 3)
ONE_PACKAGE = "\npackages:\n  install: [jq]\n"
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
    text = SPEC.read_text().replace(MOTD[0], MOTD[1] if version == 2 else MOTD[0])
    text = text.replace("container:\n", "container:\n" + container_extra, 1)
    return text + ONE_PACKAGE if version == 3 else text


def conventional_dockerfile(spec, upgrade: bool = False) -> str:
    """FROM the plain base, then one RUN per baseline step (the container's steps, in the baseline's order);
    `upgrade`: the package step upgrades the base's packages from the spec's repositories first (as builder does)."""
    b = Baseline(spec, context="container")
    prelude = PRELUDE.format(version=BASELINE_VERSION, target=spec.target.value)
    lines = ["FROM bench/base:minbase"]
    for name, body in applicable_steps(b):
        if name == "packages":
            upgrades = ["DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade"]
            body = ["apt-get update -q", *(upgrades if upgrade else []), *body]
        lines.append("RUN " + json.dumps(["/bin/bash", "-c", prelude + "\n".join(body) + "\n"]))
    lines.append('CMD ["/bin/bash"]')
    return "\n".join(lines) + "\n"


@dataclass
class Pulls:
    """One puller's samples of one image: cold, update after the configuration change (v2), after one more package (v3)."""

    cold: list[float] = field(default_factory=list)
    config: list[float] = field(default_factory=list)
    package: list[float] = field(default_factory=list)


@dataclass
class Subject:
    name: str
    layers: int = 0
    cold_bytes: int = 0
    config_bytes: int = 0
    package_bytes: int = 0
    pulls: dict[str, Pulls] = field(default_factory=dict)   # puller -> samples

    def ref(self, registry: Registry, version: int) -> str:
        return f"{registry.address}/bench/{self.name}:{version}"


def manifest_of(registry: Registry, repository: str, tag: str) -> dict:
    request = urllib.request.Request(f"http://{registry.address}/v2/{repository}/manifests/{tag}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def measure_bytes(registry: Registry, subject: Subject) -> None:
    v1, v2, v3 = (manifest_of(registry, f"bench/{subject.name}", str(v)) for v in VERSIONS)
    held = {layer["digest"] for layer in v1["layers"]}
    subject.layers = len(v1["layers"])
    subject.cold_bytes = v1["config"]["size"] + sum(layer["size"] for layer in v1["layers"])
    subject.config_bytes = v2["config"]["size"] + sum(layer["size"] for layer in v2["layers"] if layer["digest"] not in held)
    subject.package_bytes = v3["config"]["size"] + sum(layer["size"] for layer in v3["layers"] if layer["digest"] not in held)


def docker_pull(base: Path, ref: str, first: str | None = None) -> float:
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


def podman_pull(base: Path, ref: str, first: str | None = None) -> float:
    """Seconds `podman pull ref` takes into a fresh overlay containers-storage (holding `first`, pulled untimed)."""
    runroot = Path(tempfile.mkdtemp(prefix="bench-run."))  # podman wants a runroot of at most 50 characters
    podman = ["podman", "--root", str(base / "storage"), "--runroot", str(runroot), "--storage-driver", "overlay"]
    try:
        if first is not None:
            run(*podman, "pull", "-q", "--tls-verify=false", first)
        start = time.perf_counter()
        run(*podman, "pull", "-q", "--tls-verify=false", ref)
        return time.perf_counter() - start
    finally:
        subprocess.run([*podman, "system", "reset", "--force"], capture_output=True, check=False)  # unmounts its overlays
        subprocess.run(["rm", "-rf", str(base), str(runroot)], check=False)


PULLERS = {"docker": docker_pull, "podman": podman_pull}


def build_ours(work: Path, registry: Registry, env: dict[str, str], name: str, extra: str) -> None:
    for version in VERSIONS:
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
    for version in VERSIONS:
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
    docker = run("docker", "--version").stdout.split(",")[0].split()[-1]
    podman = run("podman", "--version").stdout.split()[-1]
    print(f"pulls from a registry on 127.0.0.1 (docker {docker}: fresh engine; podman {podman}: fresh overlay storage), "
          f"{REPS} alternating rounds; median [min-max]; bytes exact from the manifests")
    print(f"{'image':13} {'layers':>6} {'cold MB':>8} {'config-change bytes':>20} {'one-package bytes':>18}")
    for s in subjects.values():
        print(f"{s.name:13} {s.layers:6d} {s.cold_bytes / mb:8.2f} {s.config_bytes:20,d} {s.package_bytes:18,d}")
    print(f"{'image':13} {'puller':7} {'cold pull':>22} {'config-change pull':>22} {'one-package pull':>22}")
    for s in subjects.values():
        for puller, p in s.pulls.items():
            print(f"{s.name:13} {puller:7} {spread(p.cold):>22} {spread(p.config):>22} {spread(p.package):>22}")
    median = statistics.median
    squash = subjects["squash"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}"

    print("targets (issue 12), each image against the squash peer pulled by the same puller:")
    for name in ("ours-plan", ZSTD):
        s = subjects[name]
        print(f"  {name}: config-change/cold bytes {ratio(s.config_bytes, s.cold_bytes)} (<= 0.01), "
              f"one-package/cold bytes {ratio(s.package_bytes, s.cold_bytes)}, "
              f"cold bytes vs squash {ratio(s.cold_bytes, squash.cold_bytes)} (<= 0.6)")
        for puller, p in s.pulls.items():
            print(f"    {puller}: config-change/cold time {ratio(median(p.config), median(p.cold))} (<= 0.1), "
                  f"cold time vs squash {ratio(median(p.cold), median(squash.pulls[puller].cold))} (<= 0.7)")
    plan, one, conventional = subjects["ours-plan"], subjects["ours-one"], subjects["conventional"]
    for peer in (one, conventional):
        print(f"  ours-plan vs {peer.name}: cold bytes {ratio(plan.cold_bytes, peer.cold_bytes)}, "
              f"config-change bytes {ratio(plan.config_bytes, peer.config_bytes)}, "
              f"one-package bytes {ratio(plan.package_bytes, peer.package_bytes)}, docker cold time "
              f"{ratio(median(plan.pulls['docker'].cold), median(peer.pulls['docker'].cold))}")


def main() -> int:
    if os.geteuid() != 0:
        say("needs root (dockerd, podman, debootstrap)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-layers."))
    registry = Registry(work / "registry").start()
    subjects = {name: Subject(name) for name in ("ours-one", "ours-plan", ZSTD, "conventional", "squash")}
    try:
        builder_engine = Engine(work / "build-engine").start()
        env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}  # ours go to the registry only
        try:
            build_ours(work, registry, env, "ours-one", f"  layers: {ONE_LAYER}\n")
            build_ours(work, registry, env, "ours-plan", "")
            build_ours(work, registry, env, ZSTD, "  compression: zstd\n")
            build_peers(work, registry, builder_engine)
        finally:
            builder_engine.stop()
        for subject in subjects.values():
            measure_bytes(registry, subject)
            subject.pulls = {puller: Pulls() for puller in PULLERS if puller == "podman" or subject.name != ZSTD}
        for rep in range(REPS):
            for index, subject in enumerate(subjects.values()):
                for puller, samples in subject.pulls.items():
                    pull = PULLERS[puller]
                    where = work / f"pull-{rep}-{index}-{puller}"
                    samples.cold.append(pull(where, subject.ref(registry, 1)))
                    samples.config.append(pull(where, subject.ref(registry, 2), subject.ref(registry, 1)))
                    samples.package.append(pull(where, subject.ref(registry, 3), subject.ref(registry, 1)))
                    say(f"round {rep + 1}: {subject.name} ({puller}): cold {samples.cold[-1]:.2f} s, "
                        f"config change {samples.config[-1]:.2f} s, one package {samples.package[-1]:.2f} s")
    finally:
        registry.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    report(subjects)
    return 0


if __name__ == "__main__":
    sys.exit(main())
