"""`builder serve`: the published tree over HTTP, with each machine's kickstart chosen by MAC.

A kickstart request (/ks, /ks/default.cfg, /ks/<mac>.cfg, /ks?mac=<mac>) gets the
machine's own kickstart when its MAC is known, from the URL or from Anaconda's
`X-RHN-Provisioning-MAC-<n>: eth0 52:54:00:...` headers (inst.ks.sendmac), and
ks/default.cfg otherwise. Nothing outside the tree is served, and no listings.

`POST /done/<mac>` is a listed machine's kickstart reporting its install complete:
its PXE entries are rewritten (atomically) to boot the local disk, like Cobbler's
pxe_just_once. An unknown MAC gets 404 and nothing is written.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import BuilderError
from .install import DONE_PATH, mac_key
from .spec import Spec

MAC = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
KS_BY_MAC = re.compile(r"/ks/(?P<mac>[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5})\.cfg")
KS_GENERIC = ("/ks", "/ks/", "/ks/default.cfg")
DONE = re.compile(rf"/{DONE_PATH}/(?P<mac>[0-9A-Fa-f]{{2}}([:-][0-9A-Fa-f]{{2}}){{5}})")
TYPES = {".cfg": "text/plain; charset=utf-8", ".ipxe": "text/plain; charset=utf-8", ".c32": "application/octet-stream"}


@dataclass(frozen=True)
class Answer:
    status: HTTPStatus
    file: Path | None = None
    kickstart: str | None = None    # the kickstart chosen, relative to the root


class Tree:
    """What a request path means in one published tree.

    `machines`: MAC key -> (host name, the boot entries it gets once installed), from pxe.local_boot_entries.
    """

    def __init__(self, root: Path, machines: dict[str, tuple[str, dict[str, bytes]]] | None = None):
        self.root = Path(os.path.realpath(root))
        self.machines = machines or {}
        self._writing = threading.Lock()

    def report_done(self, raw_path: str, client: str) -> tuple[HTTPStatus, str]:
        """A machine's "installed" report: switch its entries to the local disk. (status, message)"""
        match = DONE.fullmatch(urlsplit(raw_path).path)
        if match is None:
            return HTTPStatus.NOT_FOUND, "not found"
        key = mac_key(match["mac"])
        if key not in self.machines:
            return HTTPStatus.NOT_FOUND, f"{key} is not a machine of this spec"
        from .pxe import mark_installed  # like serve_spec: pxe (and pykickstart) load only when needed

        hostname, entries = self.machines[key]
        with self._writing:
            mark_installed(self.root, key, entries, f"reported by {client}")
        return HTTPStatus.OK, f"{hostname} is installed: its PXE entries now boot the local disk"

    def kickstart_for(self, mac: str | None) -> str:
        if mac and MAC.fullmatch(mac):
            name = f"ks/{mac_key(mac)}.cfg"
            if (self.root / name).is_file():
                return name
        return "ks/default.cfg"

    def answer(self, raw_path: str, headers) -> Answer:
        url = urlsplit(raw_path)
        path = unquote(url.path, errors="strict") if url.path else "/"
        if "\x00" in path or "\\" in path or not path.startswith("/"):
            return Answer(HTTPStatus.BAD_REQUEST)
        parts = path.split("/")
        if ".." in parts or any(part.startswith(".") for part in parts):
            return Answer(HTTPStatus.FORBIDDEN)
        if path in KS_GENERIC:
            macs = parse_qs(url.query).get("mac", []) or header_macs(headers)
            chosen = next((ks for ks in map(self.kickstart_for, macs) if ks != "ks/default.cfg"), "ks/default.cfg")
            return self._file(chosen, kickstart=True)
        match = KS_BY_MAC.fullmatch(path)
        if match:
            return self._file(self.kickstart_for(match["mac"]), kickstart=True)
        return self._file(path.lstrip("/"))

    def _file(self, relative: str, kickstart: bool = False) -> Answer:
        real = Path(os.path.realpath(self.root / relative))
        if real != self.root and self.root not in real.parents:
            return Answer(HTTPStatus.FORBIDDEN)  # a symlink pointing out of the tree
        if not real.is_file():
            return Answer(HTTPStatus.NOT_FOUND, kickstart=relative if kickstart else None)
        return Answer(HTTPStatus.OK, real, relative if kickstart else None)


def header_macs(headers) -> list[str]:
    """MACs from `X-RHN-Provisioning-MAC-0: eth0 52:54:00:12:34:56` headers, in header order."""
    out = []
    for name, value in headers.items():
        if name.lower().startswith("x-rhn-provisioning-mac-") and value.split():
            out.append(value.split()[-1])
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "builder-serve"
    sys_version = ""
    tree: Tree

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._respond(body=True)

    def do_HEAD(self):  # noqa: N802
        self._respond(body=False)

    def do_POST(self):  # noqa: N802
        try:
            status, message = self.tree.report_done(self.path, self.client_address[0])
        except BuilderError as exc:
            status, message = HTTPStatus.FORBIDDEN, str(exc)
        print(f"{self.client_address[0]} POST {self.path} -> {int(status)} {message}", file=sys.stderr, flush=True)
        body = (message + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _respond(self, body: bool) -> None:
        try:
            answer = self.tree.answer(self.path, self.headers)
        except UnicodeDecodeError:
            answer = Answer(HTTPStatus.BAD_REQUEST)
        print(f"{self.client_address[0]} {self.command} {self.path} -> {answer.kickstart or '-'} {int(answer.status)}",
              file=sys.stderr, flush=True)
        if answer.file is None:
            self.send_response(answer.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(answer.status)
            self.send_header("Content-Type", TYPES.get(answer.file.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(answer.file.stat().st_size))
            if answer.kickstart:
                self.send_header("X-Builder-Kickstart", answer.kickstart)
            self.end_headers()
            if body:
                with answer.file.open("rb") as handle:
                    shutil.copyfileobj(handle, self.wfile)

    def log_message(self, format, *args):  # noqa: A002 - our own line above replaces http.server's
        pass


def make_server(root: Path, bind: str, port: int, machines: dict[str, tuple[str, dict[str, bytes]]] | None = None) -> ThreadingHTTPServer:
    handler = type("TreeHandler", (Handler,), {"tree": Tree(root, machines)})
    server = ThreadingHTTPServer((bind, port), handler)
    server.daemon_threads = True
    return server


def _stop(signum, frame):
    raise KeyboardInterrupt


def serve_spec(spec: Spec, spec_file: object, root: Path | None, bind: str, port: int) -> None:
    """Publish the spec's tree (into `root`, or a temporary directory removed at the end) and serve it until stopped."""
    from .pxe import local_boot_entries, publish

    with tempfile.TemporaryDirectory(prefix="builder-serve-") as scratch:
        root = root or Path(scratch)
        publish(spec, spec_file, root)
        server = make_server(root, bind, port, local_boot_entries(spec, spec_file))
        host, port = server.server_address[:2]
        print(f"serving {root} at http://{host}:{port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, _stop)  # a service manager's stop cleans up like Ctrl-C
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
