"""A base-tree bootstrap that waits at a gate, run as its own process: `python gated_bootstrap.py GATES`.

The bootstrapper appends a line to GATES/bootstraps when it starts, writes GATES/started, then waits
until GATES/go exists before it fills the tree; the cache's lock, tar, record and rename are
builder's own (builder.bootstrap.tree.ensure_cached). The process prints every progress line on stdout
as it comes, then `record <mirror_date> <sha256>`. BUILDER_CACHE says where the cache is.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

DATE = 1_700_000_000


@dataclass(frozen=True)
class Gated:
    gates: str
    tools: ClassVar[tuple[str, ...]] = ()
    packages: tuple[str, ...] = ()
    label: str = "gated"
    origin: str = "a gated test bootstrap"

    def inputs(self) -> list:
        return ["gated"]

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        return [["true", str(root)]]

    def repositories(self) -> list[str]:
        return []

    def mirror_state(self) -> dict[str, dict]:
        return {}

    def bootstrap(self, root: Path, work: Path, log) -> int:
        gates = Path(self.gates)
        with (gates / "bootstraps").open("a") as handle:
            handle.write("bootstrap\n")
        (gates / "started").touch()
        while not (gates / "go").exists():
            time.sleep(0.05)
        (root / "etc").mkdir(parents=True)
        (root / "etc/motd").write_text("gated\n")
        return DATE

    def leave_out(self) -> tuple[str, ...]:
        return ()


def main(gates: str) -> None:
    from builder.bootstrap import tree

    record = tree.ensure_cached(tree.BaseTree(Gated(gates)), log=lambda line: print(line, flush=True))
    print(f"record {record['mirror_date']} {record['sha256']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
