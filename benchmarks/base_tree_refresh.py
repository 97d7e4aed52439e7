#!/usr/bin/env python3
"""A base tree after the mirror took errata: bootstrap again (what builder does) against upgrading the cached tree in place.

The real errata set of this host's mirror: the Debian example's tree made from `bookworm` (+ updates) alone is the
cached tree of last month (v1); the mirror's `bookworm-security` is this month's errata. Measured in one run, each
REPS times, alternating:

- again      builder's way: a fresh bootstrap from all the spec's repositories (debootstrap, apt update, dist-upgrade,
             install), tarred into the cache
- in-place   the peer: v1's cached tarball unpacked, apt update + dist-upgrade + install from all the repositories
             (builder's own upgrade step), tarred into the cache

Prints the seconds of each, their ratio, the packages the errata changed, and whether the two trees hold the same
package versions (they must: either way the tree is current). Needs root, debootstrap and the Debian mirror:

    sudo BUILDER_MIRRORS="$(scripts/host-mirrors)" .venv/bin/python -m benchmarks.base_tree_refresh   (REPS=2)
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from builder.baseline.rootfs import dpkg_versions
from builder.bootstrap import base_tree_for
from builder.bootstrap.debootstrap import upgrade
from builder.bootstrap.tree import TAR_XATTRS  # the cache's own tar options
from builder.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "debian12-node.yaml"
REPS = int(os.environ.get("REPS", "2"))


def say(line: str) -> None:
    print(f"  {line}", flush=True)


def tar(root: Path, out: Path) -> None:
    subprocess.run(["tar", "--numeric-owner", *TAR_XATTRS, "--zstd", "-C", root, "-cf", out, "."], check=True)


def main() -> None:
    spec = load_spec(SPEC)[0]
    full = base_tree_for(spec).bootstrapper
    old = replace(full, sources=tuple(s for s in full.sources if not any("security" in x for x in s.suites)),
                  apt_files=tuple(f for f in full.apt_files if "security" not in f[0]))
    assert len(old.sources) < len(full.sources), "the spec's security repository was not found"
    work = Path(tempfile.mkdtemp(prefix="builder-bench-refresh."))
    try:
        print("v1: the tree of last month (the spec's repositories without the security one)", flush=True)
        (work / "v1").mkdir()
        old.bootstrap(work / "v1" / "root", work / "v1", say)
        v1 = work / "v1.tar.zst"
        tar(work / "v1" / "root", v1)
        before = dpkg_versions((work / "v1/root/var/lib/dpkg/status").read_text())
        shutil.rmtree(work / "v1")
        times: dict[str, list[float]] = {"again": [], "in-place": []}
        trees: dict[str, dict[str, str]] = {}
        for rep in range(REPS):
            for way in (("again", "in-place") if rep % 2 == 0 else ("in-place", "again")):
                print(f"round {rep + 1}: {way}", flush=True)
                scratch = work / way
                scratch.mkdir()
                root = scratch / "root"
                start = time.monotonic()
                if way == "again":
                    full.bootstrap(root, scratch, say)
                else:
                    root.mkdir()
                    subprocess.run(["tar", "--numeric-owner", *TAR_XATTRS, "--zstd", "-xpf", v1, "-C", root], check=True)
                    upgrade(full, root, say)
                tar(root, scratch / "tree.tar.zst")
                times[way].append(time.monotonic() - start)
                trees[way] = dpkg_versions((root / "var/lib/dpkg/status").read_text())
                subprocess.run(["rm", "-rf", "--one-file-system", str(scratch)], check=True)
        changed = sorted(name for name in trees["again"] if before.get(name) not in (None, trees["again"][name]))
        print(f"\nerrata: {len(changed)} of {len(trees['again'])} packages newer than last month's tree: {', '.join(changed)}")
        for way, samples in times.items():
            print(f"{way:<9} {statistics.median(samples):7.1f} s  [{min(samples):.1f}-{max(samples):.1f}]  (REPS={REPS})")
        ratio = statistics.median(times["in-place"]) / statistics.median(times["again"])
        print(f"in-place / again: {ratio:.2f}")
        same = trees["again"] == trees["in-place"]
        print(f"same package versions either way: {same}")
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(work)], check=False)


if __name__ == "__main__":
    main()
