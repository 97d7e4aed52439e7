"""`builder serve`: the published tree over HTTP, with each machine's kickstart chosen by MAC.

A kickstart request (/ks, /ks/default.cfg, /ks/<mac>.cfg, /ks?mac=<mac>) gets the
machine's own kickstart when its MAC is known, from the URL or from Anaconda's
`X-RHN-Provisioning-MAC-<n>: eth0 52:54:00:...` headers (inst.ks.sendmac), and
ks/default.cfg otherwise. Nothing outside the tree is served, and no listings.

`POST /done/<mac>` (the MAC as in file names: lower case, dashes) with `Authorization: Bearer <token>` is a
listed machine's kickstart reporting its install complete. It is accepted only with one of that machine's
tokens while the machine is armed; then its entries switch to the local disk in one transaction of the install
state (builder.install.pxe_state), like Cobbler's pxe_just_once. Anything else changes nothing: 400 (not the canonical
form), 404 (not a listed machine), 403 (no valid token), 409 (already reported; a token is good once).

The HTTP server is aiohttp's (asyncio): slow clients cost a socket, not a thread; a request's head must arrive
within HEAD_SECONDS of the connection (or of the previous answer), which is also the idle limit; a request,
answer included, ends after TOTAL_SECONDS; at most MAX_CONNECTIONS are open (others get 503); the listen
backlog is BACKLOG. Reports arriving together share one transaction, so one flush (builder.install.pxe_state.commit).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import resource
import signal
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from ..errors import BuilderError
from ..spec import Spec
from .machines import DONE_PATH, mac_key
from .pxe_state import Outcome, Report, State, judge, prune, read_state, record_reports

MAC = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
KS_BY_MAC = re.compile(r"/ks/(?P<mac>[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5})\.cfg")
KS_GENERIC = ("/ks", "/ks/", "/ks/default.cfg")
DONE = re.compile(rf"/{DONE_PATH}/(?P<key>[0-9a-f]{{2}}(-[0-9a-f]{{2}}){{5}})")
TYPES = {".cfg": "text/plain; charset=utf-8", ".ipxe": "text/plain; charset=utf-8", ".c32": "application/octet-stream"}

HEAD_SECONDS = 10.0        # read and idle limit: the request's head, from the connection or the previous answer
TOTAL_SECONDS = 120.0      # one request, answer included (an initrd to a slow firmware is the longest)
MAX_CONNECTIONS = 1024     # open at once; more get 503 and are closed
BACKLOG = 1024             # connections the kernel queues before serve accepts them
MAX_PATH = 2048            # a longer request target gets 414
MAX_REQUEST_LINE = 8190    # the parser's own limit for the request line (longer: 414 too, see Protocol)
MAX_HEADER_FIELD = 8191    # ... and for a header line (longer: 431); one apart so that the error tells which
SMALL_FILE = 1 << 20      # files up to this size are answered from memory, larger ones streamed


def printable(text: str) -> str:
    """`text` for a log line: control and other non-printable characters escaped, so a client cannot forge lines."""
    return "".join("\\\\" if c == "\\" else c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def log(line: str) -> None:
    print(printable(line), file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Answer:
    status: HTTPStatus
    file: Path | None = None
    kickstart: str | None = None    # the kickstart chosen, relative to the root


class Tree:
    """What a request path means in one published tree."""

    def __init__(self, root: Path):
        self.root = Path(os.path.realpath(root))

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
        try:
            real = Path(os.path.realpath(self.root / relative))
        except OSError:
            return Answer(HTTPStatus.NOT_FOUND)
        if real != self.root and self.root not in real.parents:
            return Answer(HTTPStatus.FORBIDDEN)  # a symlink pointing out of the tree
        try:
            is_file = real.is_file()
        except OSError:   # a name too long for the file system, ...
            is_file = False
        if not is_file:
            return Answer(HTTPStatus.NOT_FOUND, kickstart=relative if kickstart else None)
        return Answer(HTTPStatus.OK, real, relative if kickstart else None)


def header_macs(headers) -> list[str]:
    """MACs from `X-RHN-Provisioning-MAC-0: eth0 52:54:00:12:34:56` headers, in header order."""
    out = []
    for name, value in headers.items():
        if name.lower().startswith("x-rhn-provisioning-mac-") and value.split():
            out.append(value.split()[-1])
    return out


def bearer(headers) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Reports:
    """Machines' install reports: checked against the state in force, then applied in batches (one transaction each).

    `machines`: MAC key -> (host name, the boot entries it gets once installed), from pxe.local_boot_entries.
    """

    def __init__(self, root: Path, machines: dict[str, tuple[str, dict[str, bytes]]]):
        self.root = root
        self.hostnames = {key: hostname for key, (hostname, _) in machines.items()}
        self.local_entries = {key: entries for key, (_, entries) in machines.items()}
        self.pending: list[tuple[Report, asyncio.Future]] = []
        self.draining = False
        self.drainer: asyncio.Task | None = None
        self._state = State(None, {})

    def state(self) -> State:
        """The state in force, read again only when its generation changed."""
        try:
            generation = os.readlink(self.root / ".state" / "current")
        except FileNotFoundError:
            generation = None
        if generation != self._state.generation:
            self._state = read_state(self.root)
        return self._state

    async def report(self, raw_path: str, token: str | None, client: str) -> tuple[int, str]:
        """(status, message) for `POST raw_path`."""
        if not raw_path.startswith(f"/{DONE_PATH}/"):
            return 404, "not found"
        match = DONE.fullmatch(raw_path)
        if match is None:
            return 400, (f"a report is POST /{DONE_PATH}/<mac>, the MAC in lower case with dashes "
                         f"(/{DONE_PATH}/52-54-00-0a-00-11) and nothing after it, as the machine's kickstart sends it")
        report = Report(match["key"], token, client)
        outcome = judge(self.state().machines.get(report.key), report)   # refuse early what cannot change anything
        if outcome.status == 200:
            outcome = await self.submit(report)                        # the answer under the lock
        if outcome.status == 200:
            return 200, f"{self.hostnames[report.key]} is installed: its PXE entries now boot the local disk"
        return outcome.status, outcome.message

    async def submit(self, report: Report) -> Outcome:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((report, future))
        if not self.draining:
            self.draining = True
            self.drainer = asyncio.get_running_loop().create_task(self.drain())   # kept: the loop holds tasks weakly
        return await future

    async def drain(self) -> None:
        """Apply what is pending, in batches: every report that arrived while one transaction ran joins the next."""
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                when = datetime.now(UTC).isoformat(timespec="seconds")
                try:
                    outcomes = await asyncio.to_thread(record_reports, self.root, [r for r, _ in batch], self.local_entries, when)
                except (BuilderError, OSError) as exc:
                    outcomes = [Outcome(500, f"the install state could not be changed: {exc}")] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
                if not self.pending and any(outcome.status == 200 for outcome in outcomes):
                    with contextlib.suppress(BuilderError, OSError):  # after the answers, when nothing waits
                        await asyncio.to_thread(prune, self.root)
        finally:
            self.draining = False


class Service:
    def __init__(self, root: Path, machines: dict[str, tuple[str, dict[str, bytes]]]):
        self.tree = Tree(root)
        self.reports = Reports(self.tree.root, machines)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        client = request.remote or "-"
        try:
            async with asyncio.timeout(TOTAL_SECONDS):
                response = await self._handle(request, client)
                await response.prepare(request)   # the answer is sent within the time-out too
                return response
        except TimeoutError:
            log(f"{client} {request.method} {request.raw_path} -> timed out after {TOTAL_SECONDS:.0f} s")
            raise
        except (BuilderError, OSError) as exc:
            log(f"{client} {request.method} {request.raw_path} -> 500 {exc}")
            return web.Response(status=500, text="internal error\n")

    async def _handle(self, request: web.BaseRequest, client: str) -> web.StreamResponse:
        raw_path = request.raw_path
        if len(raw_path) > MAX_PATH:
            log(f"{client} {request.method} {raw_path[:80]}... ({len(raw_path)} characters) -> 414")
            return web.Response(status=414, text=f"the path is longer than {MAX_PATH} characters\n")
        if request.method == "POST":
            if request.content_length:
                status, message = 413, "a report has no body"
            else:
                status, message = await self.reports.report(raw_path, bearer(request.headers), client)
            log(f"{client} POST {raw_path} -> {status} {message}")   # the one line of a state change (or refusal)
            return web.Response(status=status, text=message + "\n")
        if request.method not in ("GET", "HEAD"):
            log(f"{client} {request.method} {raw_path} -> 405")
            return web.Response(status=405, headers={"Allow": "GET, HEAD, POST"})
        try:
            answer = self.tree.answer(raw_path, request.headers)
        except UnicodeDecodeError:
            answer = Answer(HTTPStatus.BAD_REQUEST)
        log(f"{client} {request.method} {raw_path} -> {answer.kickstart or '-'} {int(answer.status)}")
        if answer.file is None:
            return web.Response(status=answer.status)
        headers = {"Content-Type": TYPES.get(answer.file.suffix, "application/octet-stream")}
        if answer.kickstart:
            headers["X-Builder-Kickstart"] = answer.kickstart
        if answer.file.stat().st_size > SMALL_FILE:   # a kernel or initrd: streamed (sendfile)
            return web.FileResponse(answer.file, headers=headers)
        # configs and kickstarts: from the page cache, no worker thread (aiohttp sends no body to a HEAD)
        return web.Response(status=200, body=answer.file.read_bytes(), headers=headers)


class Protocol(RequestHandler):
    """aiohttp's connection handler; a request the parser refuses gets its status and one log line, no traceback."""

    def __init__(self, cap: Server, **kwargs: Any) -> None:
        super().__init__(cap, **kwargs)
        self._cap = cap              # the server that counts this connection as open until it is lost
        self._counted_out = False

    def connection_lost(self, exc):
        if not self._counted_out:
            self._counted_out = True
            self._cap.open -= 1
        super().connection_lost(exc)

    def handle_error(self, request, status=500, exc=None, message=None):
        if status == 500:
            return super().handle_error(request, status, exc, message)
        if isinstance(exc, LineTooLong):
            status = 414 if str(exc.args[1]) == str(MAX_REQUEST_LINE) else 431
        log(f"{request.remote or '-'} refused by the HTTP parser -> {status} {type(exc).__name__}")
        response = web.Response(status=status, text=f"{HTTPStatus(status).phrase}\n")
        response.force_close()
        return response


class Refused(asyncio.Protocol):
    """A connection over MAX_CONNECTIONS: 503 and closed."""

    def connection_made(self, transport):
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")
        transport.close()


class Server(web.Server):
    """aiohttp's low-level server with our connection handler and a cap on open connections (counted when a
    connection is accepted: asyncio accepts a burst before any of them is "made")."""

    open = 0

    def __call__(self):
        if self.open >= MAX_CONNECTIONS:
            return Refused()
        self.open += 1
        return Protocol(self, loop=self._loop, **self._kwargs)


def raise_open_files_limit() -> None:
    """Room for MAX_CONNECTIONS sockets plus files (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


class OneLine(logging.Handler):
    """aiohttp's own messages, one escaped line each (a client's bytes never reach the log raw, nor a traceback)."""

    def emit(self, record: logging.LogRecord) -> None:
        detail = f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}" if record.exc_info and record.exc_info[1] else ""
        log(f"aiohttp {record.levelname.lower()}: {record.getMessage()}{detail}")


async def serve_forever(root: Path, bind: str, port: int, machines: dict[str, tuple[str, dict[str, bytes]]]) -> None:
    raise_open_files_limit()
    aiohttp_log = logging.getLogger("aiohttp")
    aiohttp_log.addHandler(OneLine())
    aiohttp_log.propagate = False
    loop = asyncio.get_running_loop()
    service = Service(root, machines)
    server = Server(service.handle, access_log=None, keepalive_timeout=HEAD_SECONDS, max_line_size=MAX_REQUEST_LINE,
                    max_field_size=MAX_HEADER_FIELD, max_headers=64, lingering_time=1.0)
    listening = await loop.create_server(server, bind, port, backlog=BACKLOG, reuse_address=True)
    host, port = listening.sockets[0].getsockname()[:2]
    print(f"serving {root} at http://{host}:{port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # a service manager's stop cleans up like Ctrl-C
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        listening.close()
        await server.shutdown(5.0)
        await listening.wait_closed()


def serve_spec(spec: Spec, spec_file: object, root: Path | None, bind: str, port: int) -> None:
    """Publish the spec's tree (into `root`, or a temporary directory removed at the end) and serve it until stopped."""
    from .pxe import local_boot_entries, publish

    with tempfile.TemporaryDirectory(prefix="builder-serve-") as scratch:
        root = root or Path(scratch)
        publish(spec, spec_file, root)   # under the install state's lock, after removing what a killed writer left
        asyncio.run(serve_forever(root, bind, port, local_boot_entries(spec, spec_file)))
