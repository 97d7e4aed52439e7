"""Mirror overrides: build a spec that names one mirror from another, without editing the spec.

Specs name the mirror their servers use (an internal host). A build host on another network
reaches the same content elsewhere: BUILDER_MIRRORS="FROM=TO [FROM=TO ...]" replaces the URL
prefix FROM by TO in the spec's repository URLs (and key URLs) when the spec is loaded. Each replacement is
reported on stderr, and the artifacts carry the URL that was built from (the rewritten one).
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import BuilderError

ENV = "BUILDER_MIRRORS"

# Where a spec names a mirror: (section, list item key or None, field). One table: loading and docs read it.
URL_FIELDS: tuple[tuple[str, ...], ...] = (
    ("repos", "*", "baseurl"),
    ("repos", "*", "gpgkey"),
    ("kickstart", "install_source"),
    ("install", "pxe", "inst_repo"),
)


def overrides_from_env(value: str | None = None) -> tuple[tuple[str, str], ...]:
    """Parse BUILDER_MIRRORS: whitespace-separated FROM=TO URL prefixes, longest FROM first."""
    value = os.environ.get(ENV, "") if value is None else value
    pairs = []
    for word in value.split():
        source, sep, target = word.partition("=")
        if not sep or not source.startswith(("http://", "https://")) or not target.startswith(("http://", "https://")):
            raise BuilderError(f"{ENV}: {word!r} is not FROM=TO with two http(s) URL prefixes",
                               hint=f"{ENV}='http://mirror.internal.example.com/debian=http://reachable.mirror/debian'")
        pairs.append((source, target))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def rewrite(url: str, overrides: tuple[tuple[str, str], ...]) -> str:
    for source, target in overrides:
        if url.startswith(source):
            return target + url[len(source):]
    return url


def rewrite_spec_data(data: dict[str, Any], overrides: tuple[tuple[str, str], ...]) -> list[tuple[str, str, str]]:
    """Rewrite the mirror URLs of a parsed spec in place; returns (field path, old, new) per change."""
    changes: list[tuple[str, str, str]] = []

    def visit(node: object, path: tuple[str, ...], where: str) -> None:
        if not path:
            return
        key, rest = path[0], path[1:]
        if key == "*":
            for i, item in enumerate(node if isinstance(node, list) else []):
                visit(item, rest, f"{where}[{i}]")
            return
        if not isinstance(node, dict) or key not in node:
            return
        if rest:
            visit(node[key], rest, f"{where}.{key}" if where else key)
        elif isinstance(node[key], str):
            new = rewrite(node[key], overrides)
            if new != node[key]:
                changes.append((f"{where}.{key}" if where else key, node[key], new))
                node[key] = new

    if overrides:
        for fields in URL_FIELDS:
            visit(data, fields, "")
    return changes
