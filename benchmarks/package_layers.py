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
    sudo BUILDER_MIRRORS="$(scripts/host-mirrors)" .venv/bin/python benchmarks/package_layers.py
(`COUNTS="1 8 40"` picks the values; `--pull` also publishes every image to a registry on 127.0.0.1 and times the
cold and the errata pulls with Docker and podman, REPS rounds, with container_errata's pullers).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import container_errata as errata

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "debian12-node.yaml"
COUNTS = [int(n) for n in os.environ.get("COUNTS", "1 4 8 16 24 40 62").split()]
FOUR = "  layers: [[distribution], [packages], [package-state], [configuration]]\n  package_layers: 1\n"
SECURITY = re.compile(r"  - name: debian-security\n(    .*\n)+")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def spec_text(version: int, container: str) -> str:
    text = SPEC.read_text()
    if version == 1:
        text, found = SECURITY.subn("", text)
        if found != 1:
            raise SystemExit(f"{SPEC}: no debian-security repository to leave out of v1")
    return text.replace("container:\n", "container:\n" + container, 1)


def build(work: Path, name: str, version: int, container: str) -> tuple[dict, dict]:
    """(manifest, config) of the image built from the variant."""
    spec = work / f"{name}-v{version}.yaml"
    spec.write_text(spec_text(version, container))
    out = work / f"out-{name}-{version}"
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out", str(out),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"building {spec.name} failed:\n{proc.stderr[-3000:]}")
    say(f"built {name} v{version} in {time.perf_counter() - start:.0f} s")
    oci = out / "debian12-node" / "container" / "oci"
    index = json.loads((oci / "index.json").read_text())
    manifest = json.loads((oci / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    config = json.loads((oci / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_text())
    return manifest, config


def update_bytes(v1: tuple[dict, dict], v2: tuple[dict, dict]) -> tuple[int, int, int]:
    """(cold, podman, docker) bytes of v2 for a node holding v1 (see the module's docstring)."""
    (m1, _), (m2, _) = v1, v2
    cold = m2["config"]["size"] + sum(layer["size"] for layer in m2["layers"])
    return cold, errata.update_bytes(m1, m2), errata.docker_update_bytes(m1, m2)


def publish(work: Path, name: str, version: int, ref: str) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "publish", str(work / f"{name}-v{version}.yaml"), "--to",
                           "registry", "--out", str(work / f"out-{name}-{version}"), "--registry", ref, "--plain-http",
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"publishing {name} v{version} failed:\n{proc.stderr[-3000:]}")


def pull_times(work: Path, names: list[str]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(name, puller) -> [(cold pull s, errata pull s)] per round: each v1 and v2 published to a registry on
    127.0.0.1 and pulled by container_errata's pullers (a fresh Docker engine, a fresh podman storage) through its
    counting relay, REPS rounds in alternating order."""
    registry = errata.Registry(work / "registry").start()
    relay = errata.Relay(registry.port)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for name in names:
            for version in (1, 2):
                publish(work, name, version, f"{registry.address}/sweep/{name}:{version}")
        for rep in range(errata.REPS):
            for index, name in enumerate(names if rep % 2 == 0 else list(reversed(names))):
                for puller in ("docker", "podman"):
                    v1, v2 = f"{relay.address}/sweep/{name}:1", f"{relay.address}/sweep/{name}:2"
                    base = work / f"pull-{rep}-{index}-{puller}"
                    if puller == "docker":
                        (cold, _), (update, _), _ = errata.docker_pair(base, relay, v1, v2)
                    else:
                        (cold, _), (update, _), _ = errata.podman_pair(base, relay, v1, v2, partial=False)
                    times.setdefault((name, puller), []).append((cold, update))
                    say(f"round {rep + 1}: {name} ({puller}): cold {cold:.2f} s, errata {update:.2f} s")
    finally:
        relay.stop()
        registry.stop()
    return times


def main(argv: list[str] = sys.argv[1:]) -> int:
    pull = "--pull" in argv
    if os.geteuid() != 0:
        say("needs root (debootstrap)")
        return 2
    rows = []
    times = {}
    with tempfile.TemporaryDirectory(prefix="bench-package-layers.") as work:
        subjects = [("four layers", FOUR)] + [(f"package_layers: {n}", f"  package_layers: {n}\n") for n in COUNTS]
        names = []
        for label, container in subjects:
            name = re.sub(r"\W+", "-", label).strip("-")
            names.append(name)
            v1, v2 = build(Path(work), name, 1, container), build(Path(work), name, 2, container)
            rows.append((label, len(v2[0]["layers"]), *update_bytes(v1, v2)))
        if pull:
            times = pull_times(Path(work), names)
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
