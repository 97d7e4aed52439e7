"""What a package repository offers right now, read from its signed index: a Debian suite's InRelease
(or Release), an EL repository's repodata/repomd.xml. A few small requests per build.

The *state* of a repository is the part of that index which decides the packages it serves: for a
Debian suite, the checksums of its Packages indices for the components and architectures used; for an
EL repository, the checksums of its metadata files. A Release file re-signed with the same packages
(Debian's security archive refreshes Valid-Until) leaves the state as it was. Each state carries the
date the repository gives it (Release `Date:`, repomd.xml `revision`), the date builds made from it
take as SOURCE_DATE_EPOCH.

Nothing here is trusted for what gets installed: debootstrap, apt and dnf check every index and
package against the repository's key themselves. A forged answer can only make a build bootstrap
again, or report a stale package that is not.
"""
from __future__ import annotations

import contextlib
import email.utils
import functools
import hashlib
import io
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import BuilderError

# An index is small (Debian bookworm's InRelease: ~150 KiB; an EL repomd.xml: a few KiB): a bigger answer is refused.
INDEX_LIMIT = 8 << 20
TIMEOUT = (10, 60)      # (connect, read) seconds for one request
DEBIAN_ARCH = "amd64"   # the architecture of every image builder makes
EL_ARCH = "x86_64"


@dataclass(frozen=True)
class RepoState:
    """One repository (a Debian suite, or an EL repository) as its index describes it now."""

    index: str          # the URL of the index read (…/dists/SUITE/InRelease, …/repodata/repomd.xml)
    date: int           # the repository's own date of that state (seconds since 1970)
    fingerprint: str    # sha256 over the checksums that decide which packages it serves

    def as_record(self) -> dict[str, str | int]:
        return {"index": self.index, "date": self.date, "fingerprint": self.fingerprint}


def fetch(url: str, limit: int = INDEX_LIMIT) -> bytes:
    """The body of `url` (http, https or file), at most `limit` bytes; BuilderError when it cannot be had."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        path = Path(urlsplit(url).path)
        if not path.is_file():
            raise BuilderError(f"{url}: no such file")
        with path.open("rb") as handle:
            body = handle.read(limit + 1)
    elif scheme in ("http", "https"):
        import requests

        try:
            with requests.get(url, timeout=TIMEOUT, stream=True, headers={"Cache-Control": "no-cache"}) as answer:
                if answer.status_code != 200:
                    raise BuilderError(f"{url}: HTTP {answer.status_code}")
                received = bytearray()
                for chunk in answer.iter_content(1 << 16):
                    received += chunk
                    if len(received) > limit:
                        break
                body = bytes(received)
        except requests.RequestException as error:
            raise BuilderError(f"{url}: {error.__class__.__name__}: {error}") from None
    else:
        raise BuilderError(f"{url}: not an http, https or file URL")
    if len(body) > limit:
        raise BuilderError(f"{url}: larger than {limit >> 20} MiB, which no repository index is")
    return body


# ------------------------------------------------------------------ Debian


def debian_suite_url(baseurl: str, suite: str) -> str:
    return f"{baseurl.rstrip('/')}/dists/{suite}"


def debian_state(baseurl: str, suite: str, components: tuple[str, ...] | list[str]) -> RepoState:
    """The state of one suite of a Debian repository, from its InRelease (else Release)."""
    base = debian_suite_url(baseurl, suite)
    errors = []
    for name in ("InRelease", "Release"):
        try:
            text = fetch(f"{base}/{name}").decode("utf-8", errors="replace")
        except BuilderError as error:
            errors.append(str(error))
            continue
        return release_state(text, f"{base}/{name}", components)
    raise BuilderError(f"cannot read the state of {suite} at {baseurl}: {'; '.join(errors)}",
                       hint="the spec's repository must be a Debian archive reachable from the build host "
                            "(or build with --offline from the cache)")


def release_fields(text: str) -> dict[str, str]:
    """A Release file's fields (continuation lines joined with newlines); the OpenPGP armor of an InRelease skipped."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith("-----BEGIN PGP SIGNATURE"):
            break
        if line.startswith(("-----BEGIN PGP SIGNED", "Hash:")) or not line.strip():
            continue
        if line[0] in " \t" and key is not None:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def release_state(text: str, index: str, components: tuple[str, ...] | list[str]) -> RepoState:
    fields = release_fields(text)
    date = fields.get("Date")
    if not date:
        raise BuilderError(f"{index}: no Date: field", hint="is the repository a Debian archive?")
    wanted = re.compile(rf"^({'|'.join(map(re.escape, components))})/binary-({DEBIAN_ARCH}|all)/Packages(\.\w+)?$")
    entries = sorted(line for line in fields.get("SHA256", "").splitlines()
                     if len(line.split()) == 3 and wanted.match(line.split()[2]))
    # A Release file with no Packages index of ours (a flat or partial archive): the whole file decides.
    basis = "\n".join(entries) if entries else text
    return RepoState(index, int(email.utils.parsedate_to_datetime(date).timestamp()),
                     hashlib.sha256(basis.encode()).hexdigest())


# ------------------------------------------------------------------ EL


def el_repo_url(baseurl: str, variables: dict[str, str]) -> str:
    """An EL baseurl with its dnf variables filled in: `variables` ($releasever, the target's $stream, ...), and
    $basearch and $arch, which are our architecture's."""
    known = {"basearch": EL_ARCH, "arch": EL_ARCH, **variables}

    def value(match: re.Match[str]) -> str:
        name: str = match.group(1) or match.group(2)
        whole: str = match.group(0)
        return known.get(name, whole)
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, baseurl)


def el_state(baseurl: str, variables: dict[str, str]) -> RepoState:
    """The state of one EL repository, from its repodata/repomd.xml."""
    index = f"{el_repo_url(baseurl, variables).rstrip('/')}/repodata/repomd.xml"
    try:
        body = fetch(index)
    except BuilderError as error:
        raise BuilderError(f"cannot read the state of {baseurl}: {error}",
                           hint="the spec's repository must be a dnf repository reachable from the build host "
                                "(or build with --offline from the cache)") from None
    return repomd_state(body, index)


def repomd_state(body: bytes, index: str) -> RepoState:
    try:
        tree = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise BuilderError(f"{index}: not a repomd.xml ({error})") from None
    checksums = sorted(f"{data.get('type')} {element.text.strip()}" for data in tree if data.tag.endswith("}data")
                       for element in data if element.tag.endswith("}checksum") and element.text)
    if not checksums:
        raise BuilderError(f"{index}: no metadata checksums", hint="is the repository made by createrepo_c?")
    return RepoState(index, repomd_date(tree, index), hashlib.sha256("\n".join(checksums).encode()).hexdigest())


def repomd_date(tree: ElementTree.Element, where: str) -> int:
    """repomd.xml's revision (createrepo's default: the time the metadata was made), else its newest timestamp."""
    revision = next((e.text for e in tree.iter() if e.tag.endswith("}revision") or e.tag == "revision"), None)
    if revision and revision.strip().isdigit():
        return int(revision.strip())
    stamps = [int(e.text) for e in tree.iter() if e.tag.endswith("}timestamp") and e.text and e.text.strip().isdigit()]
    if not stamps:
        raise BuilderError(f"no repomd.xml with a revision or timestamp in {where}",
                           hint="the spec's repositories must be yum/dnf repositories (createrepo_c metadata)")
    return max(stamps)


# ------------------------------------------------------------------ what a repository offers: the newest version of each package

# A Packages index or primary.xml, compressed and as read (Debian bookworm main amd64: ~9 MiB xz, ~45 MiB read).
OFFERED_LIMIT = 512 << 20


def _decompress(body: bytes, name: str, limit: int = OFFERED_LIMIT) -> bytes:
    """`body` decompressed by the suffix of `name` (xz, gz, zst, bz2 or none), at most `limit` bytes."""
    import bz2
    import lzma
    import zlib

    if name.endswith(".xz"):
        decompressor = lzma.LZMADecompressor()
        data = decompressor.decompress(body, max_length=limit + 1)
    elif name.endswith(".gz"):
        data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, limit + 1)
    elif name.endswith(".zst"):
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(body) as reader:
            data = reader.read(limit + 1)
    elif name.endswith(".bz2"):
        data = bz2.BZ2Decompressor().decompress(body, max_length=limit + 1)
    else:
        data = body
    if len(data) > limit:
        raise BuilderError(f"{name}: more than {limit >> 20} MiB once decompressed")
    return data


def _checked(url: str, body: bytes, sha256: str | None) -> bytes:
    if sha256 is not None and hashlib.sha256(body).hexdigest() != sha256:
        raise BuilderError(f"{url}: its sha256 is not the one its index names (a mirror caught mid-update?)")
    return body


def keep_newest(offered: dict[str, str], name: str, version: str, compare: Callable[[str, str], int]) -> None:
    """offered[name] = version, unless it already holds a newer one (by `compare`)."""
    if name not in offered or compare(version, offered[name]) > 0:
        offered[name] = version


def _index_file(base: str, path: str, sha256: str, by_hash: bool) -> bytes:
    """An index file the Release names, as apt fetches it: by its hash where the archive serves that (a file
    fetched by name may already be the next state's, or still the last one's), else by name; checked either way."""
    if by_hash:
        url = f"{base}/{path.rsplit('/', 1)[0]}/by-hash/SHA256/{sha256}"
        with contextlib.suppress(BuilderError):
            return _checked(url, fetch(url, OFFERED_LIMIT), sha256)
    url = f"{base}/{path}"
    return _checked(url, fetch(url, OFFERED_LIMIT), sha256)


@functools.lru_cache(maxsize=64)
def debian_offered(baseurl: str, suite: str, components: tuple[str, ...]) -> dict[str, str]:
    """The newest version of every package one suite of a Debian repository offers for our architecture
    (its Packages indices, checked against the Release file's sha256). Read once per process."""
    from .versions import debian_compare

    base = debian_suite_url(baseurl, suite)
    text: str | None = None
    for name in ("InRelease", "Release"):
        with contextlib.suppress(BuilderError):
            text = fetch(f"{base}/{name}").decode("utf-8", errors="replace")
            break
    if text is None:
        raise BuilderError(f"cannot read {base}/InRelease or Release")
    fields = release_fields(text)
    sums = {line.split()[2]: line.split()[0] for line in fields.get("SHA256", "").splitlines() if len(line.split()) == 3}
    by_hash = fields.get("Acquire-By-Hash", "").lower() == "yes"
    offered: dict[str, str] = {}
    # apt reads binary-all only where the Release lists the architecture `all` (Debian's does not: its arch-all
    # packages are in every architecture's index too).
    architectures = [DEBIAN_ARCH] + (["all"] if "all" in fields.get("Architectures", "").split() else [])
    for component in components:
        for arch in architectures:
            stem = f"{component}/binary-{arch}/Packages"
            path = next((stem + suffix for suffix in (".xz", ".gz", "") if stem + suffix in sums), None)
            if path is None:
                continue
            index = _decompress(_index_file(base, path, sums[path], by_hash), path)
            package: str | None = None
            for line in index.decode("utf-8", errors="replace").splitlines():
                if line.startswith("Package:"):
                    package = line.split(":", 1)[1].strip()
                elif line.startswith("Version:") and package:
                    keep_newest(offered, package, line.split(":", 1)[1].strip(), debian_compare)
    return offered


@functools.lru_cache(maxsize=64)
def el_offered(baseurl: str, variables: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The newest [epoch:]version-release of every package (x86_64 and noarch) one EL repository offers (its
    primary metadata, checked against repomd.xml's checksum). Read once per process."""
    from .versions import rpm_compare

    base = el_repo_url(baseurl, dict(variables)).rstrip("/")
    repomd = ElementTree.fromstring(fetch(f"{base}/repodata/repomd.xml"))
    primary = next((data for data in repomd if data.tag.endswith("}data") and data.get("type") == "primary"), None)
    location = primary.find("{*}location") if primary is not None else None
    checksum = primary.find("{*}checksum") if primary is not None else None
    href = location.get("href") if location is not None else None
    if not href:
        raise BuilderError(f"{base}/repodata/repomd.xml names no primary metadata")
    url = f"{base}/{href}"
    expected = checksum.text.strip() if checksum is not None and checksum.get("type") == "sha256" and checksum.text else None
    xml = _decompress(_checked(url, fetch(url, OFFERED_LIMIT), expected), href)
    offered: dict[str, str] = {}
    for _, element in ElementTree.iterparse(io.BytesIO(xml)):
        if not element.tag.endswith("}package"):
            continue
        name, arch, version = element.find("{*}name"), element.find("{*}arch"), element.find("{*}version")
        if name is not None and name.text and arch is not None and version is not None and arch.text in (EL_ARCH, "noarch"):
            evr = f"{version.get('epoch') or '0'}:{version.get('ver')}-{version.get('rel')}"
            keep_newest(offered, name.text, evr, rpm_compare)
        element.clear()
    return offered
