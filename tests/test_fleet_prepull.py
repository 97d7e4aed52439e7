"""The fleet benchmark's own parts (benchmarks/fleet_prepull.py): percentiles, the node's registries.conf, the
origin's access log, the counting relay on loopback and the ratios it prints. The benchmark itself is run by hand."""
from __future__ import annotations

import asyncio
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import fleet_prepull as fleet


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


def test_the_update_wave_counts_only_what_a_node_holding_v1_lacks():
    # v1: config c1 and layers a, b; v2: config c2, layer a kept, layer n new (what an errata update changes).
    v2 = fleet.Image("127.0.0.1:1/fleet/node:1", {"sha256:c2": 1_000, "sha256:a": 50_000, "sha256:n": 7_000}, 500,
                     held=frozenset({"sha256:c1", "sha256:a", "sha256:b"}))
    assert v2.size == 58_500
    assert v2.delta == 500 + 1_000 + 7_000
    results = fleet.Results(fleet.Image(v2.ref, v2.blobs, v2.manifest), update=v2)
    assert results.image_of(fleet.Arm.UPDATE) is v2
    assert results.image_of(fleet.Arm.WARMED).delta == 58_500


def test_update_wave_nodes_start_from_their_own_copy_of_v1(tmp_path: Path):
    held = tmp_path / "v1"
    (held / "blobs/sha256").mkdir(parents=True)
    (held / "blobs/sha256/aa").write_bytes(b"layer")
    (held / "index.json").write_text('{"manifests": []}')
    (held / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / "fleet").mkdir()
    nodes = fleet.make_nodes(tmp_path / "fleet", 12, 10, "127.0.0.1:5000", [], held)
    assert [n.holds for n in nodes] == [True] * 12
    first = nodes[0].dest
    assert (first / "blobs/sha256/aa").stat().st_ino == (held / "blobs/sha256/aa").stat().st_ino
    (first / "index.json").write_text("rewritten by skopeo")   # written in place: must not reach v1 or the other nodes
    assert (held / "index.json").read_text() == '{"manifests": []}'
    assert (nodes[1].dest / "index.json").read_text() == '{"manifests": []}'
    first_wave, rest = fleet.waves(fleet.Arm.UPDATE, nodes)
    assert [n.index for n in first_wave] == [0, 10]


def test_report_prints_the_update_wave_against_the_cold_wave():
    v2 = fleet.Image("127.0.0.1:1/fleet/node:1", {"sha256:c": 1_000, "sha256:l": 99_000}, 0)
    results = fleet.Results(v2, update=fleet.Image(v2.ref, v2.blobs, 0, frozenset({"sha256:l"})))
    for arm, fleet_time, origin_bytes in ((fleet.Arm.ORIGIN, 10.0, 2_000_000), (fleet.Arm.WARMED, 8.0, 200_000),
                                          (fleet.Arm.UPDATE, 2.0, 2_000)):
        results.rounds.append(fleet.Round(arm, 20, fleet_time, tuple([1.0] * 20), origin_bytes, Counter()))
    lines: list[str] = []
    fleet.report(results, (20,), (fleet.Arm.ORIGIN, fleet.Arm.WARMED, fleet.Arm.UPDATE), 1, 10, 10, "1.9.3", lines.append)
    text = "\n".join(lines)
    assert "0.00 MB of it new to a node holding v1 (0.010)" in text
    assert ("N=20 update/warmed: fleet time 0.250 [0.250-0.250], pull p50 1.000 [1.000-1.000], "
            "origin bytes 0.010 [0.010-0.010]") in text
    assert "N=20 update: bodies 0.00 MB, relay 0.00 MB, 2 x the update (manifest + blobs v1 lacks) 0.00 MB" in text
