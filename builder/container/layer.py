"""One deterministic layer tar: the same tree and epoch give the same bytes.

Sorted entries, numeric owners kept (uname/gname empty), mtimes clamped to
SOURCE_DATE_EPOCH, PAX format, hard links after their targets, security.selinux
dropped (other xattrs, such as file capabilities, kept), device nodes and sockets
skipped (the runtime provides /dev), gzip with header mtime 0 or zstd.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..spec import Compression

# Directories whose contents belong to the runtime, not the image (the directories themselves stay).
RUNTIME_DIRS = ("proc", "sys", "dev", "run")
GZIP_LEVEL = 9
ZSTD_LEVEL = 19
# The mtime of what the build made where the epoch must not show (write_tar's `undated`): 1970-01-01.
UNDATED = 0


@dataclass(frozen=True)
class Layer:
    path: Path
    digest: str        # sha256 of the compressed blob: the manifest's layer digest
    diff_id: str       # sha256 of the uncompressed tar: the config's rootfs.diff_ids
    size: int
    media_type: str


class _Hashing:
    """A write-only file that hashes (and counts) what passes through it."""

    def __init__(self, sink):
        self.sink, self.hash, self.size = sink, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.sink.write(data) if self.sink is not None else len(data)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()


def tree_entries(root: Path) -> list[str]:
    """Tree paths in sorted order, a directory's own entry before its contents."""
    found: list[str] = []

    def walk(rel: str) -> None:
        host = root / rel if rel else root
        for name in sorted(os.listdir(host)):
            path = f"{rel}/{name}" if rel else name
            found.append(path)
            full = host / name
            if full.is_dir() and not full.is_symlink() and path not in RUNTIME_DIRS:
                walk(path)

    walk("")
    return found


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    headers = {}
    for name in sorted(names):
        if name == "security.selinux":
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return headers


def write_tar(root: Path, out, epoch: int, entries: list[str] | None = None,
              directory_stats: Mapping[str, os.stat_result] | None = None,
              undated: Callable[[str, os.stat_result], bool] | None = None) -> int:
    """Write the tree at `root` (or its paths `entries`, in tree_entries' order) as a tar stream to the file
    object `out`; a directory found in `directory_stats` is written with that owner, mode and mtime instead
    of its own. mtimes are clamped to `epoch`, except that an entry `undated` accepts and the build made
    (newer than the epoch) gets UNDATED. Returns the number of entries."""
    links: dict[tuple[int, int], str] = {}
    count = 0
    directory_stats = directory_stats or {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape") as tar:
        for rel in tree_entries(root) if entries is None else entries:
            full = str(root / rel)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode) and rel in directory_stats and stat.S_ISDIR(directory_stats[rel].st_mode):
                st = directory_stats[rel]
            mode = st.st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
                continue
            info = tarfile.TarInfo(rel)
            info.mode, info.uid, info.gid = stat.S_IMODE(mode), st.st_uid, st.st_gid
            info.uname = info.gname = ""
            info.mtime = min(int(st.st_mtime), epoch)
            if st.st_mtime > epoch and undated is not None and undated(rel, st):
                info.mtime = UNDATED
            info.pax_headers = _xattrs(full)
            data = None
            if stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
            elif st.st_nlink > 1 and (st.st_dev, st.st_ino) in links:
                info.type, info.linkname = tarfile.LNKTYPE, links[(st.st_dev, st.st_ino)]
            else:
                info.type, info.size = tarfile.REGTYPE, st.st_size
                if st.st_nlink > 1:
                    links[(st.st_dev, st.st_ino)] = rel
                data = open(full, "rb")  # noqa: SIM115 (closed below)
            try:
                tar.addfile(info, data)
            finally:
                if data is not None:
                    data.close()
            count += 1
    return count


def write_layer(root: Path, path: Path, epoch: int, compression: Compression, entries: list[str] | None = None,
                directory_stats: Mapping[str, os.stat_result] | None = None,
                undated: Callable[[str, os.stat_result], bool] | None = None) -> Layer:
    """The compressed layer blob at `path` (the whole tree, or `entries` as write_tar takes them), with both of its digests."""
    with path.open("wb") as raw:
        compressed = _Hashing(raw)
        if compression is Compression.ZSTD:
            import zstandard

            writer = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).stream_writer(compressed, closefd=False)
            media = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            # filename="" and mtime=0: the gzip header carries neither a name nor a time.
            writer = gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=GZIP_LEVEL, mtime=0)
            media = "application/vnd.oci.image.layer.v1.tar+gzip"
        uncompressed = _Hashing(writer)
        write_tar(root, uncompressed, epoch, entries, directory_stats, undated)
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())
    return Layer(path, "sha256:" + compressed.hash.hexdigest(), "sha256:" + uncompressed.hash.hexdigest(),
                 compressed.size, media)
