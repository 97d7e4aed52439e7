"""Push the image from its OCI layout to one registry reference (distribution spec).

HEAD each blob and send only the missing ones (POST, then PUT ?digest=), PUT the manifest
with its exact bytes and media type, and compare the registry's Docker-Content-Digest
with the local digest. An image whose manifest the registry already has is not sent
again. Given another repository of the same registry that has the blobs (`mount_from`),
a missing blob is mounted from it (POST ?mount=&from=: 201) instead of sent; a registry
that does not mount answers 202 with an upload session, which the blob is then sent to.
Connection errors, 429 and 5xx are retried with exponential backoff; each retry
restarts the step (an upload session does not survive a registry restart).

Before anything is sent, and before the registry is asked whether it has the image, every blob
of the image is re-hashed against its digest in the layout (streamed): a missing or changed blob
fails the push with nothing pushed for the reference. A blob is hashed again while it is sent,
so bytes that changed after the check never get a manifest. What was sent is counted as it goes
(`Sent`), so a push that fails half-way still says which blobs and bytes went.
Pushing to several references and recording them is `container.publish`.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin

from pydantic import TypeAdapter, ValidationError

from ..errors import BuilderError, UsageError
from ..host import run
from ..spec import fields
from .image import DAMAGED_HINT, check_blob, read_layout, sha256_of

Answer = TypeVar("Answer")   # what a retried registry step returns

TRANSIENT = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Reference:
    host: str
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}:{self.tag}"


def parse_reference(text: str) -> Reference:
    try:
        TypeAdapter(fields.ImageRef).validate_python(text)
    except ValidationError:
        raise UsageError(f"{text!r} is not a registry reference",
                           hint="give HOST[:PORT]/REPO[:TAG], like registry.internal.example.com:5000/base/debian12-node") from None
    host, _, rest = text.partition("/")
    repository, _, tag = rest.partition(":")
    return Reference(host, repository, tag or "latest")


class _Transient(Exception):
    pass


def docker_credentials(host: str) -> tuple[str, str] | None:
    """(user, secret) for `host` from the docker config (DOCKER_CONFIG or ~/.docker): auths, credHelpers, credsStore."""
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BuilderError(f"{path}: cannot be read ({exc})") from None
    for key, entry in (config.get("auths") or {}).items():
        if re.sub(r"^https?://", "", key).split("/")[0] == host:
            if entry.get("auth"):
                user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
                return user, secret
            if entry.get("username"):
                return entry["username"], entry.get("password", "")
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        proc = run([f"docker-credential-{helper}", "get"], f"the docker credential helper {helper}", input=host, timeout=60,
                   check=False)
        if proc.returncode == 0:
            answer = json.loads(proc.stdout)
            return answer["Username"], answer["Secret"]
    return None


class Registry:
    def __init__(self, ref: Reference, plain_http: bool = False, attempts: int = 5, backoff: float = 1.0,
                 scope: str = "pull,push"):
        import requests

        self.requests, self.ref, self.attempts, self.backoff, self.scope = requests, ref, attempts, backoff, scope
        self.base = f"{'http' if plain_http else 'https'}://{ref.host}"
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment between us and an internal registry
        self.authorization: str | None = None
        self.requests_sent = 0

    # ------------------------------------------------------------ transport
    def request(self, method: str, path: str, **kwargs):
        url = path if path.startswith("http") else urljoin(self.base, path)
        for _ in range(2):  # the second time with the credentials a 401 asked for
            headers = dict(kwargs.pop("headers", {}) or {})
            if self.authorization:
                headers["Authorization"] = self.authorization
            data = kwargs.pop("data", None)
            body = data() if callable(data) else data
            try:
                self.requests_sent += 1
                response = self.session.request(method, url, headers=headers, data=body, timeout=(10, 600), **kwargs)
            except self.requests.exceptions.SSLError as exc:
                raise BuilderError(f"TLS with {self.ref.host} failed: {exc}",
                                   hint="a registry without TLS needs --plain-http (only on a trusted network)") from None
            except (self.requests.exceptions.ConnectionError, self.requests.exceptions.Timeout) as exc:
                raise _Transient(f"{type(exc).__name__}: {exc}") from None
            finally:
                if hasattr(body, "close"):
                    body.close()
            if response.status_code in TRANSIENT:
                raise _Transient(f"HTTP {response.status_code} for {method} {url}")
            if response.status_code == 401 and self._authenticate(response):
                kwargs["headers"], kwargs["data"] = headers, data
                continue
            return response
        return response

    def _authenticate(self, response) -> bool:
        """Answer a 401 challenge (Basic, or Bearer with a token from the realm); False if there is nothing to try."""
        challenge = response.headers.get("WWW-Authenticate", "")
        credentials = docker_credentials(self.ref.host)
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if credentials is None or self.authorization:
                return False
            self.authorization = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
            return True
        if scheme.lower() != "bearer":
            return False
        fields_ = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields_.get("realm")
        if not realm or self.authorization and self.authorization.startswith("Bearer ") and "error" not in fields_:
            return False
        query = {"service": fields_.get("service", ""), "scope": fields_.get("scope") or f"repository:{self.ref.repository}:{self.scope}"}
        answer = self.session.get(realm, params=query, auth=credentials, timeout=(10, 60))
        if answer.status_code != 200:
            raise BuilderError(f"{self.ref.host}: the token service {realm} refused ({answer.status_code})",
                               hint="log in first (docker login), or check the credentials in your docker config")
        token = answer.json().get("token") or answer.json().get("access_token")
        self.authorization = f"Bearer {token}"
        return True

    def retrying(self, what: str, step: Callable[[], Answer]) -> Answer:
        delay, last = self.backoff, ""
        for attempt in range(1, self.attempts + 1):
            try:
                return step()
            except _Transient as exc:
                last = str(exc)
            if attempt < self.attempts:
                time.sleep(delay)
                delay *= 2
        raise BuilderError(f"registry {self.ref.host} did not answer while {what}, after {self.attempts} attempts: {last}",
                           hint="check that the registry is up and reachable; a re-run sends only what is still missing")

    # ------------------------------------------------------------ distribution API
    def _fail(self, response, what: str):
        hint = None
        if response.status_code in (401, 403):
            hint = (f"log in first (docker login {self.ref.host}): credentials are read from "
                    "$DOCKER_CONFIG/config.json or ~/.docker/config.json")
        raise BuilderError(f"registry {self.ref.host} refused {what}: HTTP {response.status_code} {response.text[:300].strip()}",
                           hint=hint)

    def manifest_digest(self, media_type: str) -> str | None:
        response = self.request("HEAD", f"/v2/{self.ref.repository}/manifests/{self.ref.tag}", headers={"Accept": media_type})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._fail(response, f"a manifest query for {self.ref}")
        return response.headers.get("Docker-Content-Digest")

    def has_blob(self, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{self.ref.repository}/blobs/{digest}")
        if response.status_code not in (200, 404):
            self._fail(response, f"a blob query for {digest}")
        return response.status_code == 200

    def mount(self, digest: str, source: str) -> str | None:
        """Mount the blob from repository `source` of the same registry: None when mounted, else the upload session's URL."""
        start = self.request("POST", f"/v2/{self.ref.repository}/blobs/uploads/", params={"mount": digest, "from": source})
        if start.status_code == 201:
            return None
        if start.status_code != 202 or "Location" not in start.headers:
            self._fail(start, f"mounting {digest} from {source}")
        return start.headers["Location"]

    def upload(self, digest: str, path: Path, session: str | None = None, sent: Sent | None = None) -> None:
        """Send the blob, in the upload session `session` if one was started (a refused mount), else a new one; the bytes
        that leave are added to `sent`, and hashed: bytes other than the digest's (the file changed) fail the push."""
        if session is None:
            start = self.request("POST", f"/v2/{self.ref.repository}/blobs/uploads/")
            if start.status_code != 202 or "Location" not in start.headers:
                self._fail(start, f"starting the upload of {digest}")
            session = start.headers["Location"]
        location = urljoin(self.base + "/", session)
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        size = path.stat().st_size
        sent = sent if sent is not None else Sent()
        bodies: list[_Body] = []

        def body() -> _Body:
            bodies.append(_Body(path, size, sent))
            return bodies[-1]

        done = self.request("PUT", location, data=body,
                            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        if done.status_code != 201:
            self._fail(done, f"the upload of {digest}")
        if bodies and bodies[-1].digest() != digest:
            raise BuilderError(f"blob {digest}: {path} changed while it was sent ({bodies[-1].digest()})", hint=DAMAGED_HINT)

    def manifest_body_digest(self, media_type: str) -> str | None:
        """GET the tag's manifest (a pull-through cache keeps what it served) and return the digest of its bytes."""
        response = self.request("GET", f"/v2/{self.ref.repository}/manifests/{self.ref.tag}", headers={"Accept": media_type})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            self._fail(response, f"the manifest of {self.ref}")
        return sha256_of(response.content)

    def fetch_blob(self, digest: str) -> int:
        """GET the blob, check its sha256 and return its size (read and dropped: what a pull-through cache keeps)."""
        import hashlib

        response = self.request("GET", f"/v2/{self.ref.repository}/blobs/{digest}", stream=True)
        if response.status_code != 200:
            self._fail(response, f"the blob {digest}")
        hashed, size = hashlib.sha256(), 0
        try:
            for chunk in response.iter_content(1 << 20):
                hashed.update(chunk)
                size += len(chunk)
        except self.requests.RequestException as exc:
            raise _Transient(f"{type(exc).__name__} while reading {digest}: {exc}") from None
        if f"sha256:{hashed.hexdigest()}" != digest:
            raise BuilderError(f"{self.ref.host} served other bytes for {digest} (sha256:{hashed.hexdigest()})")
        return size

    def put_manifest(self, manifest: bytes, media_type: str) -> str:
        response = self.request("PUT", f"/v2/{self.ref.repository}/manifests/{self.ref.tag}", data=manifest,
                                headers={"Content-Type": media_type})
        if response.status_code != 201:
            self._fail(response, f"the manifest of {self.ref}")
        return response.headers.get("Docker-Content-Digest", "")


@dataclass
class Sent:
    """What a push has sent so far (also when it fails half-way): blobs the registry accepted, the bytes of every
    blob body sent (a retried or cut upload included) and blobs mounted."""

    blobs: int = 0
    bytes: int = 0
    mounted: int = 0


class _Body:
    """A blob's file as a request body (read by the HTTP client in blocks): counts and hashes what it hands out."""

    def __init__(self, path: Path, size: int, sent: Sent):
        self.file, self.size, self.sent, self.hashed = path.open("rb"), size, sent, hashlib.sha256()

    def __len__(self) -> int:
        return self.size

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        self.hashed.update(chunk)
        self.sent.bytes += len(chunk)
        return chunk

    def digest(self) -> str:
        return "sha256:" + self.hashed.hexdigest()

    def close(self) -> None:
        self.file.close()


class BlobFate(StrEnum):
    THERE = "already there"
    MOUNTED = "mounted"
    SENT = "sent"


@dataclass(frozen=True)
class Pushed:
    """What a push did: the image's digest, and which blobs it had to mount or send."""

    digest: str
    already_there: bool = False
    """The registry already served the image under the tag: nothing was sent."""
    blobs_sent: int = 0
    bytes_sent: int = 0
    blobs_mounted: int = 0


def push(layout: Path, ref: Reference, plain_http: bool = False, attempts: int = 5, backoff: float = 1.0,
         on_blob: Callable[[str, bool], None] | None = None, log=print, mount_from: str | None = None,
         sent: Sent | None = None) -> Pushed:
    """Push the layout's image to `ref`, mounting missing blobs from repository `mount_from` of the same registry;
    `sent` (given by the caller) says what went, also when the push fails."""
    manifest_bytes, manifest, _config = read_layout(layout)
    digest, media_type = sha256_of(manifest_bytes), manifest["mediaType"]
    descriptors = [manifest["config"], *manifest["layers"]]
    files = {d["digest"]: check_blob(layout, d) for d in descriptors}  # all of them, before the registry hears of any
    sent = sent if sent is not None else Sent()
    registry = Registry(ref, plain_http, attempts, backoff)
    if registry.retrying("reading the manifest", lambda: registry.manifest_digest(media_type)) == digest:
        log(f"{ref}: already has {digest}: nothing sent")
        return Pushed(digest, already_there=True)
    for descriptor in descriptors:
        blob = descriptor["digest"]

        def step(blob=blob) -> BlobFate:
            if registry.has_blob(blob):
                return BlobFate.THERE
            session = None
            if mount_from is not None:
                session = registry.mount(blob, mount_from)
                if session is None:
                    return BlobFate.MOUNTED
            registry.upload(blob, files[blob], session, sent)
            return BlobFate.SENT

        fate = registry.retrying(f"sending blob {blob}", step)
        sent.blobs += fate is BlobFate.SENT
        sent.mounted += fate is BlobFate.MOUNTED
        log(f"{ref}: blob {blob[:19]}... {fate}" + (f" from {mount_from}" if fate is BlobFate.MOUNTED else ""))
        if on_blob is not None:
            on_blob(blob, fate is BlobFate.SENT)
    answered = registry.retrying("sending the manifest", lambda: registry.put_manifest(manifest_bytes, media_type))
    if answered != digest:
        raise BuilderError(f"{ref}: the registry stored manifest {answered or '(no digest)'}, expected {digest}",
                           hint="the registry changed the manifest (a proxy or an old registry that converts it)")
    confirmed = registry.retrying("confirming the manifest", lambda: registry.manifest_digest(media_type))
    if confirmed != digest:
        raise BuilderError(f"{ref}: the registry serves {confirmed} for the tag, expected {digest}")
    return Pushed(digest, blobs_sent=sent.blobs, bytes_sent=sent.bytes, blobs_mounted=sent.mounted)


def warm(layout: Path, ref: Reference, plain_http: bool = False, attempts: int = 5, backoff: float = 1.0,
         log=print) -> int:
    """Pull the layout's image through `ref` (a pull-through cache's address, the origin's repository and tag) so that
    the cache holds every blob before nodes ask for it; the bytes fetched.

    One request at a time: the blobs a cache is still fetching are fetched from the origin again by every other
    request for them (Distribution 2.8 does not coalesce misses; docs/performance.md, the fleet section).
    """
    manifest_bytes, manifest, _config = read_layout(layout)
    digest, media_type = sha256_of(manifest_bytes), manifest["mediaType"]
    mirror = Registry(ref, plain_http, attempts, backoff, scope="pull")
    served = mirror.retrying("reading the manifest", lambda: mirror.manifest_body_digest(media_type))
    if served != digest:
        raise BuilderError(f"{ref}: the mirror serves {served or 'no image'} for the tag, not {digest}",
                           hint="is it a pull-through cache of the registry the image was pushed to (proxy.remoteurl)?")
    fetched = 0
    for descriptor in [manifest["config"], *manifest["layers"]]:
        blob = descriptor["digest"]
        fetched += mirror.retrying(f"fetching blob {blob}", functools.partial(mirror.fetch_blob, blob))
        log(f"{ref}: blob {blob[:19]}... fetched")
    return fetched
