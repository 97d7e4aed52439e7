"""The server baseline: one model, one post-install script, one set of checks."""
from . import spec_rules  # noqa: F401 - registers the spec's checks that read the item table (spec_rules.py)
from .model import BASELINE_VERSION, Baseline
from .script import render_script

__all__ = ["BASELINE_VERSION", "Baseline", "render_script"]
