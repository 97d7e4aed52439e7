"""`builder serve` under load, on loopback: plain GETs, slow clients, 1,000 concurrent reports, a rack reporting.

Starts `builder serve` (as a user does) for a generated spec of 1,040 machines in a temporary directory, runs
four bounded phases against 127.0.0.1, prints the figures and stops serve by its PID. Targets (issue 18):
p99 <= 100 ms and 0 errors for the GETs, slow clients closed by serve's time-out without slowing a normal GET,
every report answered with 0 client time-outs, a rack of 40 done in under 1 s.

    .venv/bin/python -m benchmarks.serve_load
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RACK, REPORTS = 40, 1000
MACHINES = RACK + REPORTS
TOKEN = re.compile(r"-H 'Authorization: Bearer ([A-Za-z0-9_-]+)'")
SPEC = """\
version: 1
name: load
target: rocky-9
users:
  - name: ops
    admin: true
    ssh_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example]
kickstart:
  install_source: http://mirror.example.com/rocky/9/BaseOS/x86_64/os/
  disk: {{device: vda}}
install:
  pxe:
    server_url: http://127.0.0.1:{port}
  machines:
"""


PROBE = """
import http.client, json, sys, time
statuses, latencies = [], []
for _ in range(50):
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
    try:
        connection.request("GET", "/ks/default.cfg")
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        latencies.append(time.perf_counter() - start)
    except OSError as exc:
        statuses.append(type(exc).__name__)
    finally:
        connection.close()
    time.sleep(0.1)
print(json.dumps([statuses, latencies]))
"""


def mac(i: int) -> str:
    return f"52:54:00:aa:{i // 256:02x}:{i % 256:02x}"


def key(i: int) -> str:
    return mac(i).replace(":", "-")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def figures(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        return "no answers"
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


async def timed(port: int, method: str, path: str, headers: str = "", timeout: float = 30) -> tuple[int | str, float]:
    """One request on its own connection, as a firmware or Anaconda makes it; (status or error, seconds)."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\r\n".encode())
                answer = await reader.read()
            finally:
                writer.close()
        return int(answer.split(b" ", 2)[1]), time.perf_counter() - start
    except TimeoutError:
        return "client time-out", time.perf_counter() - start
    except (OSError, IndexError, ValueError) as exc:
        return type(exc).__name__, time.perf_counter() - start


async def gets(port: int, total: int, concurrent: int) -> tuple[list, list]:
    limit = asyncio.Semaphore(concurrent)

    async def one(i: int):
        async with limit:
            path = ("/boot.ipxe", "/pxelinux.cfg/default", f"/ks/{key(i % MACHINES)}.cfg", "/ks/default.cfg")[i % 4]
            return await timed(port, "GET", path)
    results = await asyncio.gather(*(one(i) for i in range(total)))
    return [s for s, _ in results if s != 200], [t for s, t in results if s == 200]


async def slow_client(port: int, closed_after: list[float], until: float) -> None:
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /ks/default.cfg HTTP/1.1\r\n")
        while time.monotonic() < until:
            writer.write(b"X-Trickle: 1\r\n")   # one header line a second: never a complete head
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                    closed_after.append(time.monotonic() - start)
                    return
            except TimeoutError:
                continue
    except (ConnectionError, OSError):
        closed_after.append(time.monotonic() - start)
    finally:
        writer.close()


async def slow_clients(port: int, count: int) -> None:
    closed_after: list[float] = []
    until = time.monotonic() + 40
    slow = [asyncio.create_task(slow_client(port, closed_after, until)) for _ in range(count)]
    await asyncio.sleep(2)  # all of them connected and trickling
    # The normal GETs from another process, so that this one's event loop (driving the slow clients) is not measured.
    probe = await asyncio.create_subprocess_exec(sys.executable, "-c", PROBE, str(port), stdout=asyncio.subprocess.PIPE)
    output, _ = await probe.communicate()
    statuses, latencies = json.loads(output)
    errors = [s for s in statuses if s != 200]
    print(f"{count} slow clients trickling: 50 normal GETs one at a time: {len(errors)} errors, {figures(latencies)}")
    await asyncio.gather(*slow)
    print(f"  slow clients closed by serve: {len(closed_after)} of {count}"
          + (f", after {min(closed_after):.1f}-{max(closed_after):.1f} s" if closed_after else "")
          + " (serve's head time-out is 10 s)")


async def reports(port: int, root: Path, machines: range) -> None:
    tokens = {i: TOKEN.search((root / f"ks/{key(i)}.cfg").read_text())[1] for i in machines}
    start = time.perf_counter()
    results = await asyncio.gather(*(timed(port, "POST", f"/done/{key(i)}", f"Authorization: Bearer {tokens[i]}\r\n", timeout=60)
                                     for i in machines))
    wall = time.perf_counter() - start
    statuses: dict = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"{len(machines)} concurrent reports: answers {statuses}, client time-outs {statuses.get('client time-out', 0)}, "
          f"all done in {wall:.2f} s, {figures([t for _, t in results])}")


async def main() -> int:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="serve-load-") as scratch:
        spec, root, log = Path(scratch) / "load.yaml", Path(scratch) / "tree", Path(scratch) / "serve.log"
        spec.write_text(SPEC.format(port=port) + "".join(f'    - {{hostname: n{i:04d}.example.com, mac: "{mac(i)}"}}\n'
                                                         for i in range(MACHINES)))
        start = time.monotonic()
        with log.open("w") as stderr:
            serve = subprocess.Popen([sys.executable, "-m", "builder.cli", "serve", str(spec), "--root", str(root), "--port", str(port)],
                                     cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            while "serving " not in log.read_text():
                if serve.poll() is not None or time.monotonic() - start > 600:
                    print(log.read_text()[-2000:], file=sys.stderr)
                    return 1
                await asyncio.sleep(0.5)
            print(f"serve published {MACHINES} machines and started in {time.monotonic() - start:.0f} s "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
            errors, latencies = await gets(port, 2000, 64)
            print(f"2000 GETs at 64 concurrent: {len(errors)} errors {sorted(set(map(str, errors)))}, {figures(latencies)} "
                  f"(load average {os.getloadavg()[0]:.1f})")
            await slow_clients(port, 300)
            await reports(port, root, range(RACK))
            await reports(port, root, range(RACK, MACHINES))
            lines = log.read_text().splitlines()
            print(f"serve's log: {sum(' POST /done/' in line for line in lines)} report lines, "
                  f"{sum('Traceback' in line for line in lines)} tracebacks")
        finally:
            if serve.poll() is None:
                os.kill(serve.pid, signal.SIGTERM)
                serve.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
