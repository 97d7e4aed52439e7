"""`builder serve` started as a user starts it, on loopback, and stopped by its PID."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .install_spec import ROOT


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    root: Path
    log: Path

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, headers=headers or {})  # the path goes out exactly as written
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        return self.request("GET", path, headers)

    def post(self, path: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
        return self.request("POST", path, {"Authorization": f"Bearer {token}"} if token else {})


# The report line of a machine's kickstart (its last %post), as a reader of the kickstart finds it.
REPORT_LINE = re.compile(r"^curl .* -X POST -H 'Authorization: Bearer (?P<token>[A-Za-z0-9_-]{43})' (?P<url>\S+)$", re.M)


def report_token(root: Path, key: str) -> str:
    """The token machine `key`'s published kickstart reports with."""
    (match,) = REPORT_LINE.finditer((root / f"ks/{key}.cfg").read_text())
    return match["token"]


def machine_states(root: Path) -> dict[str, dict]:
    """The install state in force, as written in the tree."""
    return json.loads((root / ".state/current/machines.json").read_text())


def boots(root: Path, key: str) -> dict[str, str]:
    """What each loader's entry of machine `key` does: "install" or "local" (read from the files a loader reads)."""
    pxelinux = (root / f"pxelinux.cfg/01-{key}").read_text()
    grub = (root / f"grub.cfg-01-{key}").read_text()
    ipxe = (root / f"boot-01-{key}.ipxe").read_text()
    return {
        "pxelinux": "local" if "DEFAULT local\n" in pxelinux else "install" if "DEFAULT install\n" in pxelinux else "?",
        "grub": "local" if "menuentry 'Boot from local disk' {\n  exit\n}" in grub else "install" if "\n  linux " in grub else "?",
        "ipxe": "local" if ipxe.endswith("\nexit\n") else "install" if ipxe.endswith("\nboot\n") else "?",
    }


def free_port() -> int:
    """A port free now, for a spec whose server_url must name it before serve starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(spec: Path, root: Path, log: Path, port: int = 0) -> Iterator[Server]:
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "builder.cli", "serve", str(spec), "--root", str(root), "--port", str(port)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while not (match := re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/", log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "builder serve did not start"
            time.sleep(0.1)
        yield Server(process, int(match[1]), root, log)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
