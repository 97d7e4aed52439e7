"""The fleet benchmark's own parts (benchmarks/fleet_prepull.py): percentiles, the node's registries.conf, the
origin's access log, the counting relay on loopback and the ratios it prints. The benchmark itself is run by hand."""
from __future__ import annotations

import asyncio
import importlib.util
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "fleet_prepull.py"
spec = importlib.util.spec_from_file_location("fleet_prepull", PATH)
fleet = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = fleet  # dataclasses look their module up by name
spec.loader.exec_module(fleet)


def test_percentiles_are_nearest_rank():
    twenty = [float(n) for n in range(20, 0, -1)]
    assert fleet.percentile(twenty, 50) == 10
    assert fleet.percentile(twenty, 95) == 19
    assert fleet.percentile(twenty, 100) == 20
    assert fleet.percentile([3.5], 95) == 3.5
    with pytest.raises(ValueError):
        fleet.percentile([], 50)


def test_registries_conf_names_the_origin_and_the_rack_mirror():
    conf = tomllib.loads(fleet.registries_conf("127.0.0.1:5000", "127.0.0.1:5001"))
    assert conf == {"registry": [{"location": "127.0.0.1:5000", "insecure": True,
                                  "mirror": [{"location": "127.0.0.1:5001", "insecure": True}]}]}
    assert tomllib.loads(fleet.registries_conf("127.0.0.1:5000")) == {"registry": [{"location": "127.0.0.1:5000", "insecure": True}]}


def test_origin_requests_tell_nodes_from_mirrors():
    log = "\n".join([
        'time="2026-12-02T06:10:18Z" level=info msg="response completed" http.request.uri="/v2/fleet/node/blobs/sha256:ab"',
        '127.0.0.1 - - [02/Dec/2026:06:10:18 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "Go-http-client/1.1"',
        '127.0.0.1 - - [02/Dec/2026:06:10:18 +0000] "GET /v2/fleet/node/blobs/sha256:ab HTTP/1.1" 200 1605 "" "Go-http-client/1.1"',
        '127.0.0.1 - - [02/Dec/2026:06:10:18 +0000] "HEAD /v2/fleet/node/manifests/1 HTTP/1.1" 200 0 "" "Go-http-client/1.1"',
        '127.0.0.1 - - [02/Dec/2026:06:10:19 +0000] "GET /v2/fleet/node/manifests/1 HTTP/1.1" 200 900 "" "skopeo/1.9.3"',
    ])
    assert fleet.origin_requests(log, "skopeo/") == Counter({
        ("mirror", "other"): 1, ("mirror", "blob"): 1, ("mirror", "manifest"): 1, ("mirror", "body"): 1607,
        ("node", "manifest"): 1, ("node", "body"): 900})


def test_relay_counts_every_byte_both_ways():
    async def scenario() -> tuple[bytes, object]:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        proxy = await fleet.CountingProxy(server.sockets[0].getsockname()[1]).start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(bytes(range(256)) * 4000)
            writer.write_eof()
            answer = await reader.read()
            writer.close()
            idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", proxy.port)  # left open: close() ends it
            idle_writer.write(b"x")
            assert await idle_reader.readexactly(1) == b"x"
        finally:
            await proxy.close()
            server.close()
        assert await idle_reader.read() == b""
        return answer, proxy

    answer, proxy = asyncio.run(scenario())
    assert answer == bytes(range(256)) * 4000
    assert (proxy.received, proxy.served, proxy.connections) == (1_024_001, 1_024_001, 2)
    assert not proxy.relays and not proxy.open


def test_the_warmed_arm_pulls_one_node_per_rack_first(tmp_path: Path):
    nodes = fleet.make_nodes(tmp_path, 25, 10, "127.0.0.1:5000", [])
    first, rest = fleet.waves(fleet.Arm.WARMED, nodes)
    assert [n.index for n in first] == [0, 10, 20]
    assert [n.index for n in rest] == [i for i in range(25) if i % 10]
    assert fleet.waves(fleet.Arm.MIRRORS, nodes) == [nodes]


def test_report_prints_ratios_against_the_origin_arm():
    image = fleet.Image("127.0.0.1:1/fleet/node:1", {"sha256:c": 1000, "sha256:l": 99_000}, 0)
    results = fleet.Results(image, fallback=7)
    for rep, scale in enumerate((1.0, 1.2)):
        results.rounds.append(fleet.Round(fleet.Arm.ORIGIN, 20, 10 * scale, tuple([2.0 * scale] * 20), 20 * 100_000,
                                          Counter({("node", "blob"): 40})))
        results.rounds.append(fleet.Round(fleet.Arm.MIRRORS, 20, 5 * scale, tuple([1.0 * scale] * 20), 2 * 100_000 + rep,
                                          Counter({("mirror", "blob"): 4})))
    lines: list[str] = []
    fleet.report(results, (20,), (fleet.Arm.ORIGIN, fleet.Arm.MIRRORS), 2, 10, 10, "1.9.3", lines.append)
    text = "\n".join(lines)
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines if line.startswith(" 20 ")}
    assert rows[("20", "origin")] == ["11.00", "[10.00-12.00]", "2.20", "[2.00-2.40]", "2.20", "[2.00-2.40]", "2.0", "[2.0-2.0]", "20.00",
                                      "40", "0", "40"]
    assert rows[("20", "mirrors")][6:] == ["0.2", "[0.2-0.2]", "2.00", "4", "0", "0"]
    assert "a node whose mirror was down pulled from the origin (7 requests of its own there)" in text
    assert ("N=20 mirrors/origin: fleet time 0.500 [0.500-0.500], pull p50 0.500 [0.500-0.500], p95 0.500 [0.500-0.500], "
            "origin bytes 0.100 [0.100-0.100] (one fetch per rack: 0.100)") in text
