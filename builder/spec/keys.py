"""Repository signing keys a spec gives as key files: read when the spec is loaded, checked, embedded.

`repos[].gpgkey` is a URL (the key where the system fetches it) or a key file: a path relative to
the spec file, read at load time so the artifacts carry the key itself (an air-gapped node needs
nothing else). It must lie beside the spec (no `..`, no symlink out of the spec's directory) and be a regular
file of at most 1 MiB (`files.read_regular`). A key file must be an ASCII-armored OpenPGP PUBLIC key: the armor and its checksum
are checked and every packet is walked, so a secret key is refused whatever its armor header says.
Messages name the file, never its contents.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationInfo
from pydantic_core import PydanticCustomError

from .files import Refused, beside, read_regular

MAX_KEY_FILE = 1 << 20
KEY_FILE_PATH = re.compile(r"[A-Za-z0-9._@+-]+(/[A-Za-z0-9._@+-]+)*")
EXPORT_HINT = "export the public key with `gpg --armor --export KEYID > FILE`"
# OpenPGP packet tags (RFC 4880 4.3).
PUBLIC_KEY, SECRET_KEY, SECRET_SUBKEY = 6, 5, 7
_BEGIN = re.compile(r"-----BEGIN PGP ([A-Z ]+)-----")


def is_url(value: str) -> bool:
    return "://" in value


def load_key_file(value: object, info: ValidationInfo) -> object:
    """A gpgkey that is not a URL names a key file: read it, relative to the spec file's directory
    (validation context "spec_dir"; the working directory without one), into {path, armor}."""
    if isinstance(value, (dict, BaseModel)) or (isinstance(value, str) and is_url(value)):
        return value  # a URL, or a key already read (a derived spec validated again)
    if not isinstance(value, str):
        raise ValueError("give the key's URL, or the path of a key file relative to the spec file")
    if value.startswith("/"):
        raise ValueError("a key file is given relative to the spec file; a key already on the installed system is a URL, "
                         "like file:///etc/pki/rpm-gpg/RPM-GPG-KEY-name")
    if not KEY_FILE_PATH.fullmatch(value) or len(value) > 1024:
        raise ValueError("not a URL (scheme://...) nor a key file path (letters, digits and ._@+-/ relative to the spec file)")
    base = Path((info.context or {}).get("spec_dir") or ".")
    try:
        data = read_regular(beside(base, value), MAX_KEY_FILE, follow=False)
    except Refused as exc:
        raise PydanticCustomError("key_file", "key file {path} {why}", {"path": value, "why": str(exc), "hint": exc.hint}) from None
    except FileNotFoundError:
        raise ValueError(f"key file {value} does not exist (a key file is relative to the spec file's directory, {base})") from None
    except OSError as exc:
        raise ValueError(f"key file {value} cannot be read: {exc.strerror}") from None
    try:
        armor = data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"key file {value} is not ASCII-armored (a binary key?); {EXPORT_HINT}") from None
    problem = public_key_problem(armor)
    if problem:
        raise ValueError(f"key file {value} {problem}")
    return {"path": value, "armor": armor}


def check_armor(armor: str) -> str:
    """AfterValidator of an embedded key (also when a derived spec is validated again)."""
    problem = public_key_problem(armor)
    if problem:
        raise ValueError(f"the embedded key {problem}")
    return armor


def public_key_problem(armor: str) -> str | None:
    """Why `armor` is not one or more ASCII-armored OpenPGP public keys, or None."""
    blocks = list(_blocks(armor))
    if not blocks:
        return f"is not an ASCII-armored OpenPGP public key (no BEGIN PGP PUBLIC KEY BLOCK line); {EXPORT_HINT}"
    for kind, data in blocks:
        if kind == "PRIVATE KEY BLOCK":
            return "holds a SECRET key: a spec carries public keys only; " + EXPORT_HINT
        if kind != "PUBLIC KEY BLOCK":
            return f"holds a PGP {kind.lower()}, not a public key block; {EXPORT_HINT}"
        if isinstance(data, str):
            return f"has a damaged public key block: {data}"
        try:
            tags = [tag for tag, _ in packets(data)]
        except ValueError as exc:
            return f"has a damaged public key block: {exc}"
        if SECRET_KEY in tags or SECRET_SUBKEY in tags:
            return "holds a SECRET key: a spec carries public keys only; " + EXPORT_HINT
        if not tags or tags[0] != PUBLIC_KEY:
            return "has a public key block that does not start with a public key packet"
    return None


def _blocks(armor: str) -> Iterator[tuple[str, bytes | str]]:
    """(kind, decoded bytes) per armored block; a str in place of the bytes says what is wrong with it."""
    lines = [line.rstrip("\r").strip() for line in armor.split("\n")]
    i = 0
    while i < len(lines):
        begin = _BEGIN.fullmatch(lines[i])
        i += 1
        if not begin:
            continue
        kind, body, checksum = begin.group(1), [], None
        while i < len(lines) and re.fullmatch(r"[A-Za-z0-9-]+: .*", lines[i]):  # armor headers
            i += 1
        while i < len(lines) and lines[i] != f"-----END PGP {kind}-----":
            if lines[i].startswith("="):
                checksum = lines[i][1:]
            elif lines[i]:
                body.append(lines[i])
            i += 1
        if i == len(lines):
            yield kind, "no END line"
            return
        i += 1
        try:
            data = base64.b64decode("".join(body), validate=True)
        except (binascii.Error, ValueError):
            yield kind, "its base64 does not decode"
            continue
        if checksum is not None:
            try:
                crc = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
            except (binascii.Error, ValueError):
                crc = -1
            if crc != crc24(data):
                yield kind, "its checksum does not match (a truncated or edited copy?)"
                continue
        yield kind, data


def crc24(data: bytes) -> int:
    """The armor checksum (RFC 4880 6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(tag, body) of every OpenPGP packet in `data` (RFC 4880 4.2); ValueError on a malformed stream."""
    i = 0
    while i < len(data):
        first = data[i]
        if not first & 0x80:
            raise ValueError(f"byte {i} is not a packet header")
        try:
            if first & 0x40:  # new format
                tag, octet = first & 0x3F, data[i + 1]
                if octet < 192:
                    length, i = octet, i + 2
                elif octet < 224:
                    length, i = ((octet - 192) << 8) + data[i + 2] + 192, i + 3
                elif octet == 255:
                    length, i = int.from_bytes(data[i + 2:i + 6], "big"), i + 6
                else:
                    raise ValueError("partial body lengths do not occur in a key")
            else:
                tag, size = (first >> 2) & 0x0F, first & 0x03
                if size == 3:
                    raise ValueError("indeterminate packet lengths do not occur in a key")
                n = (1, 2, 4)[size]
                length, i = int.from_bytes(data[i + 1:i + 1 + n], "big"), i + 1 + n
        except IndexError:
            raise ValueError("a packet header is cut short") from None
        if i + length > len(data):
            raise ValueError("a packet is cut short")
        yield tag, data[i:i + length]
        i += length
