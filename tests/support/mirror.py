"""The mirror this machine reaches, read from its APT sources at run time (never written into the repository).

The example specs name an internal mirror, as our users' specs do; tests that fetch packages build
them with BUILDER_MIRRORS set to what scripts/host-mirrors prints (the example mirror -> this host's).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parent.parent.parent / "scripts" / "host-mirrors"
_loader = importlib.machinery.SourceFileLoader("host_mirrors", str(_SCRIPT))
_spec = importlib.util.spec_from_loader("host_mirrors", _loader)
host_mirrors = importlib.util.module_from_spec(_spec)
_loader.exec_module(host_mirrors)

EXAMPLE_MIRROR = host_mirrors.EXAMPLE_MIRROR
MIRRORS = host_mirrors.mirrors()
BUILDER_MIRRORS = " ".join(f"{source}={target}" for source, target in MIRRORS.items())


def debian_mirror() -> str:
    """This host's Debian mirror (bookworm)."""
    try:
        return MIRRORS[f"{EXAMPLE_MIRROR}/debian"]
    except KeyError:
        raise RuntimeError("no bookworm suite in this host's APT sources: the tests need a reachable Debian mirror") from None
