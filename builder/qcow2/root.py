"""The tree a qcow2 starts from: the spec's bootstrapped tarball, the one the container image starts from.

The qcow2 and the container share one root filesystem by construction: both start from
builder.bootstrap's cached tarball of the spec's tree (before the container's strip), and DIB
adds the kernel, bootloader and host-only packages from the spec's repositories
(elements/builder-root*).

Both families come from builder.bootstrap (debootstrap for Debian, dnf --installroot for EL):
this module only describes its tree for the qcow2's plan and makes sure it is cached.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from .. import bootstrap
from ..bootstrap.tree import COMMON_TOOLS
from ..errors import BuilderError
from ..spec import Spec


class RootTreeUnavailable(BuilderError):
    exit_code = 2


@dataclass(frozen=True)
class RootTree:
    """What the qcow2's root element unpacks, and what making it contacts and runs on the build host."""

    tarball: Path                       # the cached tarball (made on first use)
    bootstrap: str                      # the commands that make it when it is not cached
    repositories: tuple[str, ...]       # every URL the bootstrap contacts
    host_tools: tuple[str, ...]         # what the bootstrap runs on the build host
    base: bootstrap.BaseTree            # builder.bootstrap's handle on it


def base_tree_for(spec: Spec) -> RootTree:
    """The spec's bootstrapped tree, the container's (pure: nothing is made or read)."""
    if not spec.repos:  # builder.kinds refuses a qcow2 of such a spec
        raise RootTreeUnavailable(f"{spec.name}: the spec names no repository to bootstrap its tree from")
    base = bootstrap.base_tree_for(spec)
    commands = " && ".join(shlex.join(argv) for argv in base.commands(Path("ROOT")))
    return RootTree(base.tarball, commands, tuple(base.bootstrapper.repositories()),
                    COMMON_TOOLS + base.bootstrapper.tools, base)


def ensure_cached(root: RootTree, log) -> Path:
    """The tarball, bootstrapped now unless cached and intact."""
    return bootstrap.ensure_cached(root.base, log=log)
