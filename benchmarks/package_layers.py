#!/usr/bin/env python3
"""How many package layers: the update bytes of the mirror's real errata set against the layer count.

For each `container.package_layers` value in COUNTS (and today's four layers: one layer per content, not
split), examples/debian12-node.yaml is built twice with `builder build --only container` (gzip): v1 with the
`bookworm` repository alone, v2 with `bookworm-security` too (what a node sees after a month of security
fixes). From the two images' manifests and configs, exactly:

- cold        the bytes of v2 (config and layers): a node that holds nothing;
- podman      the bytes a node holding v1 fetches for v2 with podman or containerd: the config and the layers
              whose digest v1 does not have (both reuse any layer they hold, wherever it sits);
- docker      the same with Docker 20.10: the config and every layer from the lowest one whose chain (the
              diff_ids up to it) v1 lacks, upward (moby's distribution/xfer/download.go looks layers up by
              chain ID and downloads everything above the first miss).

No pulls: the pulls themselves, the lower bound and the peers are benchmarks/container_errata.py. This one
chooses the count. Needs root, debootstrap and the Debian mirror; run as
    sudo BUILDER_MIRRORS="$(scripts/host-mirrors)" .venv/bin/python -m benchmarks.package_layers
(`COUNTS="1 8 40"` picks the values; `--pull` also publishes every image to a registry on 127.0.0.1 and times the
cold and the errata pulls with Docker and podman, REPS rounds, with container_errata's pullers).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import container_errata as errata
from builder.container.image import read_layout

ROOT = Path(__file__).resolve().parent.parent
COUNTS = [int(n) for n in os.environ.get("COUNTS", "1 4 8 16 24 40 62").split()]
FOUR = f"  layers: {errata.FOUR_LAYERS}\n  package_layers: 1\n"


def build(work: Path, subject: errata.Subject, version: int) -> tuple[dict, dict]:
    """(manifest, config) of `subject`'s image built from the mirror set's version."""
    spec = work / f"{subject.name}-v{version}.yaml"
    spec.write_text(errata.with_container(errata.mirror_specs()[version - 1], subject.extra))
    out = work / f"out-{subject.name}-{version}"
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out", str(out),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"building {spec.name} failed:\n{proc.stderr[-3000:]}")
    errata.say(f"built {subject.name} v{version} in {time.perf_counter() - start:.0f} s")
    _, manifest, config = read_layout(out / "debian12-node" / "container" / "oci")
    return manifest, json.loads(config)


def update_bytes(v1: tuple[dict, dict], v2: tuple[dict, dict]) -> tuple[int, int, int]:
    """(cold, podman, docker) bytes of v2 for a node holding v1 (see the module's docstring)."""
    (m1, _), (m2, _) = v1, v2
    cold = m2["config"]["size"] + sum(layer["size"] for layer in m2["layers"])
    return cold, errata.update_bytes(m1, m2), errata.docker_update_bytes(m1, m2)


def publish(work: Path, subject: errata.Subject, version: int, address: str) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "publish", str(work / f"{subject.name}-v{version}.yaml"),
                           "--to", "registry", "--out", str(work / f"out-{subject.name}-{version}"), "--registry",
                           subject.ref(address, version), "--plain-http", "--quiet"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"publishing {subject.name} v{version} failed:\n{proc.stderr[-3000:]}")


def pull_times(work: Path, subjects: list[errata.Subject]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(name, puller) -> [(cold pull s, errata pull s)] per round: each v1 and v2 published to a registry on
    127.0.0.1 and pulled by container_errata's pullers (a fresh Docker engine, a fresh podman storage) through its
    counting proxy, REPS rounds in alternating order."""
    registry = errata.Registry(work / "registry").start()
    proxy = errata.CountingProxy.start(registry.address)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for subject in subjects:
            for version in (1, 2):
                publish(work, subject, version, registry.address)
        for rep in range(errata.REPS):
            for index, subject in enumerate(subjects if rep % 2 == 0 else list(reversed(subjects))):
                for puller in ("docker", "podman"):
                    (cold, _), (update, _), _ = errata.pull_pair(puller, work / f"pull-{rep}-{index}-{puller}", proxy,
                                                                 subject)
                    times.setdefault((subject.name, puller), []).append((cold, update))
                    errata.say(f"round {rep + 1}: {subject.name} ({puller}): cold {cold:.2f} s, errata {update:.2f} s")
    finally:
        proxy.stop()
        registry.stop()
    return times


def main(argv: list[str] = sys.argv[1:]) -> int:
    pull = "--pull" in argv
    if os.geteuid() != 0:
        errata.say("needs root (debootstrap)")
        return 2
    rows = []
    times = {}
    with tempfile.TemporaryDirectory(prefix="bench-package-layers.") as work:
        labels = ["four layers"] + [f"package_layers: {n}" for n in COUNTS]
        subjects = [errata.Subject("four-layers", FOUR)] + [errata.Subject(f"package-layers-{n}", f"  package_layers: {n}\n")
                                                            for n in COUNTS]
        for label, subject in zip(labels, subjects, strict=True):
            v1, v2 = build(Path(work), subject, 1), build(Path(work), subject, 2)
            rows.append((label, len(v2[0]["layers"]), *update_bytes(v1, v2)))
        if pull:
            times = pull_times(Path(work), subjects)
    four = rows[0]
    print("the mirror's errata (v1: bookworm; v2: + bookworm-security), examples/debian12-node.yaml, gzip; bytes exact "
          "from the manifests")
    print(f"{'plan':22} {'layers':>6} {'cold MB':>8} {'podman MB':>10} {'vs four':>8} {'docker MB':>10} {'vs four':>8} "
          f"{'cold vs four':>12}")
    for label, layers, cold, podman, docker in rows:
        print(f"{label:22} {layers:6d} {cold / 1e6:8.2f} {podman / 1e6:10.2f} {podman / four[3]:8.3f} {docker / 1e6:10.2f} "
              f"{docker / four[4]:8.3f} {cold / four[2]:12.4f}")
    if times:
        print(f"pull times: cold pull of v1, then the errata pull of v2 into that store; {errata.REPS} alternating rounds, "
              "median [min-max] s, and the median's ratio to four layers'")
        print(f"{'plan':22} {'puller':7} {'cold s':>18} {'vs four':>8} {'errata s':>18} {'vs four':>8}")
        names = [subject.name for subject in subjects]
        for (label, *_), name in zip(rows, names, strict=True):
            for puller in ("docker", "podman"):
                cold = [c for c, _ in times[(name, puller)]]
                update = [u for _, u in times[(name, puller)]]
                four_cold = [c for c, _ in times[(names[0], puller)]]
                four_update = [u for _, u in times[(names[0], puller)]]
                median = errata.statistics.median
                print(f"{label:22} {puller:7} {errata.spread(cold):>18} {median(cold) / median(four_cold):8.3f} "
                      f"{errata.spread(update):>18} {median(update) / median(four_update):8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
