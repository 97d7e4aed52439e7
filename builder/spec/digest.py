"""The spec hash that kickstarts, images and manifests carry."""
from __future__ import annotations

import hashlib
import json

from .model import Spec


def spec_sha256(spec: Spec) -> str:
    """Hash of the normalised spec: comments, formatting and values equal to their defaults do not change it,
    so a builder release that adds an optional section leaves existing specs' hashes alone."""
    canonical = json.dumps(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
