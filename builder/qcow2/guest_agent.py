"""A small client for the QEMU guest agent (virtio-serial, JSON lines): run commands in a booted guest."""
from __future__ import annotations

import base64
import json
import random
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuilderError


@dataclass(frozen=True)
class Exec:
    code: int
    out: str
    err: str


def _decode(status: dict, key: str) -> str:
    return base64.b64decode(status.get(key, "")).decode(errors="replace")


class GuestAgent:
    def __init__(self, path: Path):
        self.path = path
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def wait(self, deadline: float, alive) -> None:
        """Until the agent in the guest answers a guest-sync (the guest has booted that far)."""
        while time.monotonic() < deadline:
            if not alive():
                raise BuilderError("the guest stopped before its guest agent answered")
            try:
                if self.sock is None:
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.connect(str(self.path))
                token = random.randrange(1, 1 << 31)
                self._send({"execute": "guest-sync", "arguments": {"id": token}})
                if self._read_until(lambda r, token=token: r.get("return") == token, time.monotonic() + 5) is not None:
                    return
            except OSError:
                self.close()
                time.sleep(1)
        raise BuilderError("the guest agent did not answer in time",
                           hint="see the serial console log; is qemu-guest-agent installed in the image?")

    def run(self, argv: list[str], timeout: float = 60) -> Exec:
        reply = self.call({"execute": "guest-exec", "arguments": {"path": argv[0], "arg": argv[1:], "capture-output": True}})
        pid = reply["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call({"execute": "guest-exec-status", "arguments": {"pid": pid}})
            if status.get("exited"):
                return Exec(status.get("exitcode", -1), _decode(status, "out-data"), _decode(status, "err-data"))
            time.sleep(0.5)
        raise BuilderError(f"guest command did not finish in {timeout:.0f} s: {' '.join(argv)}")

    def shell(self, command: str, timeout: float = 60) -> Exec:
        return self.run(["/bin/sh", "-c", command], timeout)

    def call(self, request: dict) -> dict:
        self._send(request)
        reply = self._read_until(lambda r: "return" in r or "error" in r, time.monotonic() + 60)
        if reply is None:
            raise BuilderError(f"no answer from the guest agent to {request['execute']}")
        if "error" in reply:
            raise BuilderError(f"guest agent: {request['execute']}: {reply['error'].get('desc', reply['error'])}")
        return reply["return"]

    def _send(self, request: dict) -> None:
        assert self.sock is not None
        self.sock.sendall(json.dumps(request).encode() + b"\n")

    def _read_until(self, wanted, deadline: float) -> dict | None:
        assert self.sock is not None
        while time.monotonic() < deadline:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                try:
                    reply = json.loads(line.strip(b"\xff \r"))
                except ValueError:
                    continue
                if isinstance(reply, dict) and wanted(reply):
                    return reply
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise OSError("guest agent socket closed")
            self.buffer += chunk
        return None
