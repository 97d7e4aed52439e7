"""The server baseline: one model, one post-install script, one set of checks."""
from .model import BASELINE_VERSION, Baseline
from .script import render_script

__all__ = ["BASELINE_VERSION", "Baseline", "render_script"]
