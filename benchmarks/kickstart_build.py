#!/usr/bin/env python3
"""Whole-process time of `builder build SPEC --only kickstart`, against baselines from the same run.

Baselines: a bare interpreter start (`python -c pass`) and a process that only
imports the heavy libraries we depend on (pydantic, pykickstart, jinja2, yaml).
Prints medians and ratios; the budget is "well under a second".
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "compute-node-cs9.yaml"
RUNS = 15


def median_seconds(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        build = median_seconds([sys.executable, "-m", "builder.cli", "build", str(SPEC), "--only", "kickstart", "--out", out])
    bare = median_seconds([sys.executable, "-c", "pass"])
    imports = median_seconds([sys.executable, "-c", "import pydantic, pykickstart.parser, jinja2, yaml"])
    print(f"runs per command: {RUNS} (medians)")
    print(f"python -c pass                 {bare * 1000:7.1f} ms")
    print(f"import dependencies only       {imports * 1000:7.1f} ms")
    print(f"builder build --only kickstart {build * 1000:7.1f} ms")
    print(f"ratio build / bare interpreter  {build / bare:6.2f}x")
    print(f"ratio build / dependency import {build / imports:6.2f}x")
    print(f"ratio build / 1 s budget        {build / 1.0:6.2f}")


if __name__ == "__main__":
    main()
