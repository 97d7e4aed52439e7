"""A byte-counting HTTP forwarding proxy on 127.0.0.1 in front of a registry: what a puller really fetched.

Every request (GET with Range included) is forwarded to the upstream as it came (the Host header kept, so the
registry's own URLs name the proxy) and the answer streamed back; `bytes_sent` counts the response body
bytes sent to the client, `requests` records (method, path, Range header, status, body bytes) per request.
Threaded, at most MAX_CONNECTIONS at once (more get 503), every socket with a time-out; `stop()` ends it.

    proxy = CountingProxy.start("127.0.0.1:5000")
    ... pull from proxy.address ...
    proxy.bytes_sent, proxy.requests
    proxy.stop()
"""
from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_CONNECTIONS = 32
TIMEOUT = 60.0
MAX_REQUEST_BODY = 64 << 20
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_COPY = 1 << 16


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class CountingProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.bytes_sent = 0
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, upstream: str) -> CountingProxy:
        """A proxy for `upstream` (HOST:PORT, plain HTTP) listening on a free port of 127.0.0.1."""
        proxy = cls(upstream)
        proxy._server = _Server(("127.0.0.1", 0), proxy._handler())
        proxy._thread = threading.Thread(target=proxy._server.serve_forever, name="counting-proxy", daemon=True)
        proxy._thread.start()
        return proxy

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self.bytes_sent = 0
            self.requests = []

    def blob_bytes(self, digest: str) -> int:
        """Body bytes sent for GETs of one blob (whole or ranges)."""
        with self._lock:
            return sum(r.body_bytes for r in self.requests if r.method == "GET" and r.path.endswith("/blobs/" + digest))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT)
            self._thread = None

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            self.bytes_sent += request.body_bytes

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = TIMEOUT

            def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
                pass

            def _forward(self) -> None:
                if not proxy._slots.acquire(blocking=False):
                    self.send_error(503, "too many connections")
                    self.close_connection = True
                    return
                try:
                    self._forward_one()
                finally:
                    proxy._slots.release()

            def _forward_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BODY or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    self.send_error(413, "request body too large or chunked")
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=TIMEOUT)
                try:
                    upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for key, value in self.headers.items():  # repeated headers (Accept) each kept
                        if key.lower() not in _HOP:
                            upstream.putheader(key, value)
                    upstream.endheaders(body)
                    answer = upstream.getresponse()
                    self.send_response_only(answer.status, answer.reason)
                    known = answer.getheader("Content-Length")
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP:
                            self.send_header(key, value)
                    if known is None and self.command != "HEAD" and answer.status not in (204, 304):
                        self.send_header("Connection", "close")  # the body ends when the connection does
                        self.close_connection = True
                    self.end_headers()
                    sent = 0
                    if self.command != "HEAD":
                        while chunk := answer.read(_COPY):
                            self.wfile.write(chunk)
                            sent += len(chunk)
                    self.wfile.flush()
                    proxy._record(Request(self.command, self.path, self.headers.get("Range"), answer.status, sent))
                finally:
                    upstream.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        return Handler
