#!/usr/bin/env python3
"""A simulated fleet pre-pulls builder's base image at once: (a) every node straight from one origin registry,
(b) through one pull-through mirror per rack of nodes, (c) the same, each rack's mirror warmed by one node first.

The image: examples/debian12-node.yaml built with `builder build --only container` (gzip, the default layer plan)
and published with `builder publish --to registry` to an origin registry (Debian's docker-registry) on 127.0.0.1.
In front of the origin sits a byte-counting TCP relay (asyncio, in this process): every byte the origin serves
passes through it, so "origin bytes" is exact; the origin's access log says which requests those bytes answered
(a node's or a mirror's, blob or manifest) and the blob sizes in the manifest cross-check the count.

A node is `skopeo copy docker://ORIGIN/fleet/node:1 dir:NODE` into a fresh directory (the compressed blobs,
digests verified, not unpacked: benchmarks/container_layers.py measures unpacking), with a registries.conf of its
own (`skopeo --registries-conf`): the origin as a [[registry]] and, in (b) and (c), its rack's mirror as a
[[registry.mirror]], the mechanism builder configures on nodes, so a failing mirror falls back to the origin.
A mirror is docker-registry with `proxy: remoteurl:` pointing at the origin through the relay, one per rack on
its own port, started fresh (cold) for every round. Node i is in rack i // RACK. All nodes of a round are queued
at once and --at-once of them pull at a time (default 10: see AT_ONCE). The arms alternate their order from
round to round (REPS rounds, default 3); results are medians [min-max] and ratios of medians against (a).

One host, 2 cores shared with other work: loopback throughput is CPU-bound (skopeo's sha256, the registries, the
relay), so origin bytes and requests are exact and the time ratios are rough.

Needs root (the build: debootstrap), docker-registry and skopeo; run as
    sudo BUILDER_MIRRORS="$(scripts/host-mirrors)" .venv/bin/python -m benchmarks.fleet_prepull   (REPS=3)
or, with an image already built by `builder build examples/debian12-node.yaml --only container --out DIR`,
    sudo .venv/bin/python -m benchmarks.fleet_prepull --built DIR
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from benchmarks.container_errata import mirror_specs
from tests.support.engines import Registry
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parent.parent

SPEC = ROOT / "examples" / "debian12-node.yaml"
REPOSITORY, TAG = "fleet/node", "1"
OLD_TAG = "0"   # v1 of the update wave: the same spec built from `bookworm` alone (last month's image)
SIZES = (20, 50)
RACK = 10
# 10 pulls at once: one rack's worth, so every mirror meets a whole rack's concurrent cold misses (the first-miss
# herd); 50 skopeo processes on 2 shared cores would measure the scheduler, not the distribution. Real nodes each
# have their own CPU and NIC and would all start together.
AT_ONCE = 10
ACCEPT = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
CHUNK = 256 * 1024
MB = 1e6
# The combined-format access line docker-registry writes for every request.
NODE_AGENT = "skopeo/"
ACCESS = re.compile(r'"(?P<method>[A-Z]+) /v2/(?P<path>\S*) HTTP/[\d.]+" (?P<status>\d+) (?P<size>\d+) "[^"]*" "(?P<agent>[^"]*)"')


class Arm(StrEnum):
    ORIGIN = "origin"      # (a) every node from the origin
    MIRRORS = "mirrors"    # (b) a cold pull-through mirror per rack, the whole rack at once
    WARMED = "warmed"      # (c) the same, one node per rack first, then the rest
    UPDATE = "update"      # (d) the errata update: nodes holding v1 pull v2 through mirrors warmed with v1, as (c)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- pure parts (tests/test_fleet_prepull.py) ----

def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest sample with at least p % of the samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def spread(samples: Sequence[float], scale: float = 1, digits: int = 2) -> str:
    """median [min-max], each divided by `scale`."""
    values = [s / scale for s in samples]
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def ratio(ours: Sequence[float], base: Sequence[float]) -> str:
    """The ratio of the medians, and the range of the round-by-round ratios."""
    per_round = [o / b for o, b in zip(ours, base, strict=True) if b]
    median = statistics.median(ours) / statistics.median(base)
    return f"{median:.3f} [{min(per_round):.3f}-{max(per_round):.3f}]" if per_round else f"{median:.3f}"


def registries_conf(origin: str, mirror: str | None = None) -> str:
    """The registries.conf a node gets: builder's own drop-in (builder.baseline.prepull, as the kickstart writes it)
    for the origin and its rack's mirror, tried first (plain HTTP on loopback)."""
    from builder.baseline.prepull import mirrors_dropin
    from builder.spec.model import Prepull

    return mirrors_dropin(Prepull(image=f"{origin}/fleet/node:1", plain_http=True), (mirror,) if mirror else ())


def origin_requests(log: str, node_agent: str) -> Counter[tuple[str, str]]:
    """(who, what) -> requests in an access log: who is `node` (the node's own user agent) or `mirror`;
    what is `blob`, `manifest` or `other` (the /v2/ ping), and `body` sums the bytes of the answers."""
    found: Counter[tuple[str, str]] = Counter()
    for line in ACCESS.finditer(log):
        who = "node" if line["agent"].startswith(node_agent) else "mirror"
        what = "blob" if "/blobs/" in line["path"] else "manifest" if "/manifests/" in line["path"] else "other"
        found[who, what] += 1
        found[who, "body"] += int(line["size"])
    return found


@dataclass
class CountingProxy:
    """A TCP relay on 127.0.0.1 in front of `upstream`; `served` counts the bytes upstream sends to its clients."""

    upstream: int
    port: int = 0
    served: int = 0
    received: int = 0
    connections: int = 0
    server: asyncio.Server | None = None
    open: set[asyncio.StreamWriter] = field(default_factory=set)
    relays: set[asyncio.Task] = field(default_factory=set)

    async def start(self) -> CountingProxy:
        self.server = await asyncio.start_server(self.relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening, end the relays still open (a mirror's idle keep-alive connections) and wait for them."""
        if self.server is not None:
            self.server.close()
            for writer in self.open:
                writer.close()
            await asyncio.gather(*self.relays, return_exceptions=True)
            await self.server.wait_closed()

    async def relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            client_writer.close()
            return
        self.connections += 1
        relay = asyncio.current_task()
        self.relays.add(relay)
        self.open |= {client_writer, upstream_writer}
        try:
            await asyncio.gather(self.pump(client_reader, upstream_writer, "received"), self.pump(upstream_reader, client_writer, "served"))
        finally:
            for writer in (client_writer, upstream_writer):
                writer.close()
                self.open.discard(writer)
            self.relays.discard(relay)

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                setattr(self, counter, getattr(self, counter) + len(chunk))
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # the other side sees the end of this direction; its own reply may still come
        except (OSError, RuntimeError):  # a reset, or a transport already closed by the other direction
            writer.close()


# ---- the fleet ----

@dataclass(frozen=True)
class Image:
    ref: str                 # ORIGIN/fleet/node:1, the origin as the nodes name it (through the relay)
    blobs: dict[str, int]    # digest -> size, the config and the layers
    manifest: int            # the manifest's bytes
    held: frozenset[str] = frozenset()   # the blobs a node already holds (the update wave: v1's)

    @property
    def size(self) -> int:
        return self.manifest + sum(self.blobs.values())

    @property
    def delta(self) -> int:
        """What a node holding `held` fetches: the manifest and the blobs it does not hold."""
        return self.manifest + sum(size for digest, size in self.blobs.items() if digest not in self.held)

    @property
    def registry(self) -> str:
        return self.ref.split("/", 1)[0]


@dataclass(frozen=True)
class Node:
    index: int
    rack: int
    conf: Path
    dest: Path
    holds: bool = False      # dest is an OCI layout holding v1 (the update wave); else a fresh dir:


@dataclass(frozen=True)
class Round:
    arm: Arm
    nodes: int
    fleet: float                          # seconds from the queue filled to the last node holding the image
    pulls: tuple[float, ...]              # each node's `skopeo copy`, seconds
    origin_bytes: int                     # what the origin sent, counted by the relay (headers included)
    requests: Counter[tuple[str, str]]    # from the origin's access log, see origin_requests


@dataclass
class Results:
    image: Image
    rounds: list[Round] = field(default_factory=list)
    fallback: int = 0    # requests the origin answered for a node whose mirror was down
    update: Image | None = None   # the update wave's v2 (the image above) with v1's blobs held

    def image_of(self, arm: Arm) -> Image:
        return self.update if arm == Arm.UPDATE and self.update is not None else self.image

    def of(self, arm: Arm, nodes: int) -> list[Round]:
        return [r for r in self.rounds if r.arm == arm and r.nodes == nodes]


def fetch_image(address: str, origin_ref: str, tag: str = TAG) -> Image:
    request = urllib.request.Request(f"http://{address}/v2/{REPOSITORY}/manifests/{tag}", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as answer:
        raw = answer.read()
    manifest = json.loads(raw)
    blobs = {d["digest"]: d["size"] for d in (manifest["config"], *manifest["layers"])}
    return Image(origin_ref, blobs, len(raw))


def check_pulled(dest: Path, image: Image, layout: bool = False) -> None:
    """Every blob in the node's directory (or OCI layout) with its size (skopeo verified the digests while copying)."""
    for digest, size in image.blobs.items():
        blob = (dest / "blobs" / "sha256" if layout else dest) / digest.split(":", 1)[1]
        if not blob.is_file() or blob.stat().st_size != size:
            raise RuntimeError(f"{dest}: {digest} missing or of the wrong size")


async def pull_node(node: Node, image: Image) -> float:
    dest = f"oci:{node.dest}:{TAG}" if node.holds else f"dir:{node.dest}"
    argv = ["skopeo", "--insecure-policy", "--registries-conf", str(node.conf), "copy", "--quiet", "--retry-times", "0",
            f"docker://{image.ref}", dest]
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await proc.communicate()
    except asyncio.CancelledError:  # another node failed: stop this pull, by the PID we started
        proc.kill()
        await proc.wait()
        shutil.rmtree(node.dest, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    try:
        if proc.returncode:
            raise RuntimeError(f"node {node.index}: skopeo copy failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
        check_pulled(node.dest, image, layout=node.holds)
    finally:
        shutil.rmtree(node.dest, ignore_errors=True)
    return seconds


async def pull_wave(nodes: Sequence[Node], image: Image, at_once: int) -> dict[int, float]:
    """Every node queued at once, `at_once` pulling at a time; node index -> seconds of its pull."""
    queue: asyncio.Queue[Node] = asyncio.Queue()
    for node in nodes:
        queue.put_nowait(node)
    seconds: dict[int, float] = {}

    async def puller() -> None:
        while not queue.empty():
            node = queue.get_nowait()
            seconds[node.index] = await pull_node(node, image)

    async with asyncio.TaskGroup() as pullers:  # one failing cancels the others
        for _ in range(min(at_once, len(nodes))):
            pullers.create_task(puller())
    return seconds


def start_mirrors(work: Path, racks: int, remote: str) -> list[Registry]:
    mirrors: list[Registry] = []
    try:
        for rack in range(racks):
            mirrors.append(Registry(work / f"mirror-{rack}", remote=remote).start())
    except BaseException:
        stop_all(mirrors)
        raise
    return mirrors


def stop_all(registries: Sequence[Registry]) -> None:
    for registry in registries:
        registry.stop()


def make_nodes(work: Path, count: int, rack_size: int, origin: str, mirrors: Sequence[Registry],
               holding: Path | None = None) -> list[Node]:
    """The fleet's nodes, each with its rack's registries.conf; with `holding` (an OCI layout of v1), each node's
    store is a copy of it (blobs hard-linked: skopeo writes new blobs as new files, index.json copied)."""
    nodes = []
    for index in range(count):
        rack = index // rack_size
        conf = work / f"registries-{rack}.conf"
        if not conf.exists():
            conf.write_text(registries_conf(origin, mirrors[rack].address if mirrors else None))
        dest = work / f"node-{index}"
        if holding is not None:
            shutil.copytree(holding, dest, copy_function=os.link)
            for name in ("index.json", "oci-layout"):
                (dest / name).unlink()
                shutil.copyfile(holding / name, dest / name)
        nodes.append(Node(index, rack, conf, dest, holds=holding is not None))
    return nodes


def waves(arm: Arm, nodes: list[Node]) -> list[list[Node]]:
    if arm not in (Arm.WARMED, Arm.UPDATE):
        return [nodes]
    first = {}
    for node in nodes:
        first.setdefault(node.rack, node)
    return [list(first.values()), [n for n in nodes if n not in first.values()]]


async def run_round(arm: Arm, count: int, image: Image, proxy: CountingProxy, origin: Registry, work: Path,
                    rack_size: int, at_once: int, held: tuple[Image, Path] | None = None) -> Round:
    """One wave of `count` nodes; the update wave (`held`: v1 and an OCI layout of it) first warms each rack's mirror
    with v1 (one pull of it through each, not counted) and gives every node a store holding v1."""
    work.mkdir(parents=True)
    racks = math.ceil(count / rack_size)
    remote = f"http://127.0.0.1:{proxy.port}"
    mirrors = await asyncio.to_thread(start_mirrors, work, racks, remote) if arm != Arm.ORIGIN else []
    try:
        if held is not None:
            (work / "warm").mkdir()
            warmers = make_nodes(work / "warm", racks * rack_size, rack_size, image.registry, mirrors)[::rack_size]
            await pull_wave(warmers, held[0], at_once)
        nodes = make_nodes(work, count, rack_size, image.registry, mirrors, held[1] if held else None)
        log_start = origin.log.stat().st_size
        served_start = proxy.served
        seconds: dict[int, float] = {}
        start = time.perf_counter()
        for wave in waves(arm, nodes):
            seconds |= await pull_wave(wave, image, at_once)
        fleet = time.perf_counter() - start
        await asyncio.sleep(1)  # a mirror's background fill may still be reading from the origin
        served = proxy.served - served_start
        requests = origin_requests(log_since(origin.log, log_start), NODE_AGENT)
    finally:
        await asyncio.to_thread(stop_all, mirrors)
        shutil.rmtree(work, ignore_errors=True)
    return Round(arm, count, fleet, tuple(seconds[i] for i in range(count)), served, requests)


def log_since(log: Path, offset: int) -> str:
    with log.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def node_requests(requests: Counter[tuple[str, str]]) -> int:
    return sum(n for (who, what), n in requests.items() if who == "node" and what != "body")


async def check_fallback(image: Image, origin: Registry, work: Path) -> int:
    """A node whose rack mirror is down (a port nothing listens on) pulls all the same, from the origin; returns
    how many of its requests the origin answered."""
    work.mkdir(parents=True)
    try:
        conf = work / "registries.conf"
        conf.write_text(registries_conf(image.registry, f"127.0.0.1:{free_port()}"))
        log_start = origin.log.stat().st_size
        await pull_node(Node(0, 0, conf, work / "node"), image)
        return node_requests(origin_requests(log_since(origin.log, log_start), NODE_AGENT))
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def hold_v1(image: Image, work: Path) -> Path:
    """An OCI layout holding v1, pulled once from the origin: the store every node of the update wave starts from."""
    layout = work / "v1-layout"
    conf = work / "v1-registries.conf"
    conf.write_text(registries_conf(image.registry))
    argv = ["skopeo", "--insecure-policy", "--registries-conf", str(conf), "copy", "--quiet", f"docker://{image.ref}",
            f"oci:{layout}:{OLD_TAG}"]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"skopeo copy of v1 failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return layout


async def measure(origin: Registry, work: Path, sizes: Sequence[int], arms: Sequence[Arm], reps: int, rack_size: int,
                  at_once: int) -> Results:
    proxy = await CountingProxy(origin.port).start()
    try:
        image = fetch_image(origin.address, f"127.0.0.1:{proxy.port}/{REPOSITORY}:{TAG}")
        results = Results(image, fallback=await check_fallback(image, origin, work / "fallback"))
        held = None
        if Arm.UPDATE in arms:
            v1 = fetch_image(origin.address, f"127.0.0.1:{proxy.port}/{REPOSITORY}:{OLD_TAG}", OLD_TAG)
            held = (v1, await hold_v1(v1, work))
            results.update = Image(image.ref, image.blobs, image.manifest, frozenset(v1.blobs))
        for rep in range(reps):
            order = list(arms) if rep % 2 == 0 else list(reversed(arms))
            for count in sizes:
                for arm in order:
                    done = await run_round(arm, count, results.image_of(arm), proxy, origin,
                                           work / f"round-{rep}-{count}-{arm}", rack_size, at_once,
                                           held if arm == Arm.UPDATE else None)
                    results.rounds.append(done)
                    say(f"round {rep + 1}: N={count} {arm}: fleet {done.fleet:.1f} s, pull p50 {percentile(done.pulls, 50):.2f} s "
                        f"p95 {percentile(done.pulls, 95):.2f} s, origin {done.origin_bytes / MB:.1f} MB")
        return results
    finally:
        await proxy.close()


# ---- report ----

def fetches_if_coalesced(arm: Arm, count: int, rack_size: int) -> int:
    """How many times the origin sends the image if every mirror fetched each blob once: once per node or per rack."""
    return count if arm == Arm.ORIGIN else math.ceil(count / rack_size)


def requests_of(rnd: Round, what: str) -> int:
    return rnd.requests["node", what] + rnd.requests["mirror", what]


def report(results: Results, sizes: Sequence[int], arms: Sequence[Arm], reps: int, rack_size: int, at_once: int, skopeo: str,
           out: Callable[[str], None] = print) -> None:
    image = results.image
    out(f"fleet pre-pull of {SPEC.name}'s container image ({len(image.blobs) - 1} layers + config, {image.size / MB:.2f} MB "
        f"with the manifest, gzip) from registries on 127.0.0.1; each node `skopeo {skopeo} copy` into a fresh dir: (no unpack); "
        f"{at_once} nodes pulling at a time, racks of {rack_size}; {reps} alternating rounds; median [min-max]")
    out("one host, 2 shared cores: loopback throughput is CPU-bound, so origin bytes and requests are exact, times rough")
    out("origin MB: what the origin sent (the relay's count), /image: that in images; blob and manifest reqs: requests the "
        "origin answered, from nodes: those a node made itself (with a mirror: a fallback)")
    out(f"{'N':>3} {'arm':8} {'fleet s':>20} {'pull p50 s':>18} {'pull p95 s':>18} {'origin MB':>24} {'/image':>6} "
        f"{'blob reqs':>9} {'manifest reqs':>13} {'from nodes':>10}")
    median = statistics.median
    for count in sizes:
        for arm in arms:
            rounds = results.of(arm, count)
            origin = [r.origin_bytes for r in rounds]
            out(f"{count:3d} {arm:8} {spread([r.fleet for r in rounds]):>20} {spread([percentile(r.pulls, 50) for r in rounds]):>18} "
                f"{spread([percentile(r.pulls, 95) for r in rounds]):>18} {spread(origin, MB, 1):>24} "
                f"{median(origin) / results.image_of(arm).size:6.2f} {median(requests_of(r, 'blob') for r in rounds):9.0f} "
                f"{median(requests_of(r, 'manifest') for r in rounds):13.0f} "
                f"{median(node_requests(r.requests) for r in rounds):10.0f}")
    out("cross-check, medians: answer bodies in the origin's access log, bytes the relay counted (bodies + HTTP headers), "
        "and the image once per node (origin) or per rack (mirrors: if each mirror fetched each blob once):")
    for count in sizes:
        for arm in arms:
            rounds = results.of(arm, count)
            fetches = fetches_if_coalesced(arm, count, rack_size)
            what, size = ("the update (manifest + blobs v1 lacks)", results.update.delta) if arm == Arm.UPDATE and \
                results.update else ("image", image.size)
            out(f"  N={count} {arm}: bodies {median(requests_of(r, 'body') for r in rounds) / MB:.2f} MB, "
                f"relay {median(r.origin_bytes for r in rounds) / MB:.2f} MB, {fetches} x {what} {fetches * size / MB:.2f} MB")
    out(f"fallback: a node whose mirror was down pulled from the origin ({results.fallback} requests of its own there)"
        if results.fallback else "fallback: a node whose mirror was down did NOT reach the origin")
    out("ratios against (a) origin, of the medians [range of the per-round ratios]:")
    for count in sizes:
        base = results.of(Arm.ORIGIN, count)
        for arm in arms:
            if arm == Arm.ORIGIN:
                continue
            rounds = results.of(arm, count)
            out(f"  N={count} {arm}/origin: fleet time {ratio([r.fleet for r in rounds], [r.fleet for r in base])}, "
                f"pull p50 {ratio([percentile(r.pulls, 50) for r in rounds], [percentile(r.pulls, 50) for r in base])}, "
                f"p95 {ratio([percentile(r.pulls, 95) for r in rounds], [percentile(r.pulls, 95) for r in base])}, "
                f"origin bytes {ratio([r.origin_bytes for r in rounds], [r.origin_bytes for r in base])} "
                f"(one fetch per rack: {fetches_if_coalesced(arm, count, rack_size) / count:.3f})")
    if Arm.UPDATE in arms and Arm.WARMED in arms and results.update is not None:
        out(f"the update wave against the cold wave (c) warmed, the same image: v2 is {image.size / MB:.2f} MB, "
            f"{results.update.delta / MB:.2f} MB of it new to a node holding v1 ({results.update.delta / image.size:.3f}):")
        for count in sizes:
            update, cold = results.of(Arm.UPDATE, count), results.of(Arm.WARMED, count)
            out(f"  N={count} update/warmed: fleet time {ratio([r.fleet for r in update], [r.fleet for r in cold])}, "
                f"pull p50 {ratio([percentile(r.pulls, 50) for r in update], [percentile(r.pulls, 50) for r in cold])}, "
                f"origin bytes {ratio([r.origin_bytes for r in update], [r.origin_bytes for r in cold])}")


# ---- setup ----

def run(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv[:5])}... failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def publish_image(work: Path, origin: Registry, built: Path | None, spec: Path = SPEC, tag: str = TAG) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}  # to the registry only
    out = built
    if out is None:
        out = work / f"out-{tag}"
        start = time.perf_counter()
        run(sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out", str(out), env=env, cwd=ROOT)
        say(f"built the image ({spec.name}, tag {tag}) in {time.perf_counter() - start:.0f} s")
    run(sys.executable, "-m", "builder.cli", "publish", str(spec), "--to", "registry", "--out", str(out), "--registry",
        f"{origin.address}/{REPOSITORY}:{tag}", "--plain-http", env=env, cwd=ROOT)


def last_months_spec(work: Path) -> Path:
    """The example spec with its `bookworm` repository alone: the image a node holds before this month's errata,
    benchmarks/container_errata.py's v1 (mirror_specs)."""
    spec = work / SPEC.name
    spec.write_text(mirror_specs()[0])
    return spec


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--built", type=Path, help="an --out directory of `builder build SPEC --only container` to publish "
                        "instead of building")
    parser.add_argument("--built-v1", type=Path, help="the same for the update wave's v1 (the spec with `bookworm` alone)")
    parser.add_argument("--at-once", type=int, default=AT_ONCE, help=f"nodes pulling at a time (default {AT_ONCE})")
    parser.add_argument("--rack", type=int, default=RACK, help=f"nodes per rack, one mirror each (default {RACK})")
    parser.add_argument("--sizes", type=lambda s: tuple(int(n) for n in s.split(",")), default=SIZES,
                        help="fleet sizes, comma-separated (default 20,50)")
    parser.add_argument("--arms", type=lambda s: tuple(Arm(a) for a in s.split(",")), default=tuple(Arm),
                        help="origin,mirrors,warmed,update (default all; origin is the base of the ratios and always runs)")
    parser.add_argument("--reps", type=int, default=int(os.environ.get("REPS", "3")), help="rounds (default REPS or 3)")
    args = parser.parse_args(argv)
    if Arm.ORIGIN not in args.arms:
        args.arms = (Arm.ORIGIN, *args.arms)
    return args


def main(argv: Sequence[str] = sys.argv[1:]) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0 and (args.built is None or (Arm.UPDATE in args.arms and args.built_v1 is None)):
        say("needs root to build the image (debootstrap); or pass --built DIR")
        return 2
    for tool in ("docker-registry", "skopeo"):
        if shutil.which(tool) is None:
            say(f"{tool} is not installed")
            return 2
    work = Path(tempfile.mkdtemp(prefix="bench-fleet."))
    origin = Registry(work / "origin").start()
    try:
        publish_image(work, origin, args.built)
        if Arm.UPDATE in args.arms:
            publish_image(work, origin, args.built_v1, last_months_spec(work), OLD_TAG)
        results = asyncio.run(measure(origin, work, args.sizes, args.arms, args.reps, args.rack, args.at_once))
    finally:
        origin.stop()
        shutil.rmtree(work, ignore_errors=True)
    skopeo = run("skopeo", "--version").stdout.split()[-1]
    report(results, args.sizes, args.arms, args.reps, args.rack, args.at_once, skopeo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
