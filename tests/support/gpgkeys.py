"""Throwaway OpenPGP keys made by the real gpg, in a keyring of their own (never the host's)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def why_not_gpg() -> str | None:
    return None if shutil.which("gpg") else "gpg is not installed (apt-get install gnupg)"


@dataclass(frozen=True)
class KeyFiles:
    public: Path
    """ASCII-armored public key."""
    secret: Path
    """ASCII-armored SECRET key (what a spec must refuse)."""
    binary: Path
    """The public key, not armored."""


def make_key(directory: Path, user: str = "Builder Test Repo <repo@example.com>") -> KeyFiles:
    """A fresh ed25519 signing key, exported three ways into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="builder-gnupg.") as home:
        env = {**os.environ, "GNUPGHOME": home}

        def gpg(*args: str) -> bytes:
            return subprocess.run(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", *args],
                                  env=env, check=True, capture_output=True, timeout=120).stdout

        gpg("--quick-gen-key", user, "ed25519", "sign", "never")
        files = KeyFiles(directory / "public.asc", directory / "secret.asc", directory / "public.gpg")
        files.public.write_bytes(gpg("--armor", "--export", user))
        files.secret.write_bytes(gpg("--armor", "--export-secret-keys", user))
        files.binary.write_bytes(gpg("--export", user))
        subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True, timeout=60)
    return files
