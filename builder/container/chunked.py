"""zstd:chunked: a zstd layer whose every regular file's content is its own zstd frame, with a table of contents.

The format is the one containers/storage 1.43 reads (podman 4.3.1 on Debian 12 vendors it; its
pkg/chunked/compressor and pkg/chunked/internal): the tar stream is cut at each file's content, so the
headers (and the previous file's padding) between two contents are one frame and each content is one frame;
after the last frame come two zstd skippable frames: the TOC (a zstd-compressed JSON list of the tar's
entries, each regular file with the sha256 of its content and the [offset, endOffset) of its frame in the
blob) and a 40-byte footer (TOC offset, compressed and uncompressed length, type 1, magic "GnUlInUx", each
u64 little-endian but the magic). A zstd decoder skips skippable frames, so plain `zstd -d` (Docker 23+,
containerd, skopeo, podman without partial pulls) gives exactly the tar the plain zstd layer holds.

The manifest's layer descriptor carries the TOC's sha256 and position as annotations; with them (and
`enable_partial_images` in storage.conf) containers/storage fetches the TOC with one range request and then
only the frames of files no local layer already has. The keys are 1.43's (io.containers.*): storage 1.44
renamed them (io.github.containers.*) and 1.48 added a tar-split part, so a newer podman sees a plain
zstd layer and pulls the whole blob. Files are not split into rolling-checksum chunks (a changed file is
fetched whole) and no tar-split is written: 1.43's reader uses neither.
"""
from __future__ import annotations

import base64
import hashlib
import json
import struct
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from ..errors import BuilderError

SKIPPABLE_MAGIC = struct.pack("<I", 0x184D2A50)  # RFC 8878 3.1.2: skippable frames are 0x184D2A50..0x184D2A5F
FOOTER_MAGIC = b"GnUlInUx"
MANIFEST_TYPE_CRFS = 1
FOOTER_SIZE = 40
TOC_VERSION = 1
MANIFEST_CHECKSUM = "io.containers.zstd-chunked.manifest-checksum"
MANIFEST_POSITION = "io.containers.zstd-chunked.manifest-position"
TOC_LIMIT = 50 << 20  # what 1.43's reader accepts, compressed and uncompressed
_COPY = 1 << 20

_TYPES = {tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.LNKTYPE: "hardlink", tarfile.SYMTYPE: "symlink",
          tarfile.DIRTYPE: "dir", tarfile.FIFOTYPE: "fifo", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block"}


class _Counting:
    def __init__(self, sink):
        self.sink, self.offset = sink, 0

    def write(self, data) -> int:
        self.offset += len(data)
        return self.sink.write(data)


def skippable_frame(data: bytes) -> bytes:
    return SKIPPABLE_MAGIC + struct.pack("<I", len(data)) + data


def _entry(member: tarfile.TarInfo) -> dict:
    """The TOC entry of a tar member, with the fields (and names) of containers/storage's FileMetadata."""
    kind = _TYPES.get(member.type)
    if kind is None:
        raise BuilderError(f"zstd:chunked: {member.name}: tar entry type {member.type!r} has no TOC type")
    name = member.name + "/" if member.isdir() else member.name  # as the tar header holds it (tarfile strips the slash)
    try:
        name.encode("utf-8")
        member.linkname.encode("utf-8")
    except UnicodeEncodeError:
        raise BuilderError(f"zstd:chunked: {name!r} is not UTF-8, which the TOC (JSON) cannot carry",
                           hint="use compression: zstd, or rename the file") from None
    entry: dict = {"type": kind, "name": name}
    if member.linkname:
        entry["linkName"] = member.linkname
    # "UID", "GID", "ModTime": 1.43's TOC parser (cache_linux.go unmarshalToc) matches these spellings only, and
    # its own writer's lower-case ones are skipped, so its partial pulls left every file root-owned with the pull's
    # mtime (fixed in 1.47, commit f3a7e9c1c, which lower-cases the key); Go's json matches either case.
    for key, value in (("mode", member.mode), ("size", member.size if member.isreg() else 0),
                       ("UID", member.uid), ("GID", member.gid)):
        if value:
            entry[key] = value
    entry["ModTime"] = datetime.fromtimestamp(member.mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if member.devmajor or member.devminor:
        entry["devMajor"], entry["devMinor"] = member.devmajor, member.devminor
    xattrs = {key.removeprefix("SCHILY.xattr."): base64.b64encode(value.encode("utf-8", "surrogateescape")).decode()
              for key, value in sorted(member.pax_headers.items()) if key.startswith("SCHILY.xattr.")}
    if xattrs:
        entry["xattrs"] = xattrs
    return entry


def compress(tar_path: Path, out, level: int) -> dict[str, str]:
    """The uncompressed tar at `tar_path` written to the file object `out` as a zstd:chunked blob; returns the
    layer annotations. The same tar and level give the same bytes."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
    blob = _Counting(out)
    toc: list[dict] = []

    def frame(source, start: int, end: int, hashed=None) -> None:
        """The tar's bytes [start, end) as one zstd frame."""
        source.seek(start)
        writer = compressor.compressobj(size=end - start)
        left = end - start
        while left:
            data = source.read(min(left, _COPY))
            if not data:
                raise BuilderError(f"zstd:chunked: {tar_path} ended early")
            left -= len(data)
            if hashed is not None:
                hashed.update(data)
            blob.write(writer.compress(data))
        blob.write(writer.flush())

    with tar_path.open("rb") as source, tarfile.open(tar_path, "r:", errors="surrogateescape") as tar:
        done = 0  # the tar's bytes already in a frame
        for member in tar:
            entry = _entry(member)
            if member.isreg() and member.size:
                frame(source, done, member.offset_data)  # this header (and the bytes before it)
                digest = hashlib.sha256()
                entry["offset"] = blob.offset
                frame(source, member.offset_data, member.offset_data + member.size, digest)
                entry["digest"], entry["endOffset"] = "sha256:" + digest.hexdigest(), blob.offset
                done = member.offset_data + member.size
            toc.append(entry)
        end = source.seek(0, 2)
        frame(source, done, end)  # the last padding, the end-of-archive blocks and the record's padding
    manifest = json.dumps({"version": TOC_VERSION, "entries": toc}, separators=(",", ":")).encode()
    if len(manifest) > TOC_LIMIT:
        raise BuilderError(f"zstd:chunked: the table of contents is {len(manifest) >> 20} MiB, over the readers' "
                           f"{TOC_LIMIT >> 20} MiB", hint="use compression: zstd, or split the layer (container.layers)")
    packed = compressor.compress(manifest)
    position = blob.offset + 8  # after the skippable frame's magic and size
    blob.write(skippable_frame(packed))
    blob.write(skippable_frame(struct.pack("<QQQQ", position, len(packed), len(manifest), MANIFEST_TYPE_CRFS) + FOOTER_MAGIC))
    return {MANIFEST_CHECKSUM: "sha256:" + hashlib.sha256(packed).hexdigest(),
            MANIFEST_POSITION: f"{position}:{len(packed)}:{len(manifest)}:{MANIFEST_TYPE_CRFS}"}
