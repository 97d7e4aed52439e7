#!/usr/bin/env python3
"""SCAP Security Guide scores: the Debian example's qcow2 against a plain diskimage-builder image.

Ours: examples/debian12-node.yaml built by `builder build --only qcow2` (reused from the test cache
while unchanged). Stock: `disk-image-create -a amd64 -t qcow2 -u vm debian-minimal block-device-mbr`
for bookworm from this host's mirror (cached per DIB version and mirror). Each image is mounted
read-only and scored with `oscap-chroot TREE xccdf eval --profile P ssg-debian12-ds.xml` (SSG from
trixie's ssg-debian: tests/support/ssg.py) on the standard, ANSSI-BP-028 minimal and intermediary
profiles. Prints the score per profile, ours and stock, then every rule that fails in ours (marked
when stock passes it). Exit 1 when ours scores below stock on a profile. Needs root.

    .venv/bin/python -m benchmarks.ssg_score [--ours-tree DIR] [--keep DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from builder.qcow2.offline import mounted_root
from tests.support.mirror import BUILDER_MIRRORS
from tests.support.qcow2 import build_cached, build_stock_cached
from tests.support.ssg import compare_trees, content, report

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ours-tree", type=Path, help="score this root tree as ours instead of the example's qcow2")
    parser.add_argument("--keep", type=Path, help="keep the XCCDF results in this directory")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (diskimage-builder, loop mounts, oscap-chroot)", file=sys.stderr)
        return 2
    os.environ["BUILDER_MIRRORS"] = BUILDER_MIRRORS  # the example is built from this host's mirror
    print(f"SSG {content().version}: {content().datastream}", file=sys.stderr)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-ssg-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            print("stock image: building or reusing the plain DIB image", file=sys.stderr)
            stock = stack.enter_context(mounted_root(build_stock_cached()))
            if args.ours_tree:
                ours = args.ours_tree
            else:
                print("our image: building or reusing the example's qcow2", file=sys.stderr)
                ours = stack.enter_context(mounted_root(build_cached()))
            comparisons = compare_trees(ours, stock, work)
        for line in report(comparisons):
            print(line)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(c.at_least_stock for c in comparisons.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
