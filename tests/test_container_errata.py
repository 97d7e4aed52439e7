"""The errata benchmark's own parts (benchmarks/container_errata.py): which paths a perfect file-level update sends,
and what a store holding v1 fetches by the manifests. The benchmark itself is run by hand (make bench-errata)."""
from __future__ import annotations

import os
from pathlib import Path

from benchmarks import container_errata as errata


def tree(root: Path, files: dict[str, bytes], links: dict[str, str], modes: dict[str, int]) -> Path:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    for rel, target in links.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / rel)
    for rel, mode in modes.items():
        os.chmod(root / rel, mode)
    return root


def test_the_lower_bound_holds_what_changed_or_is_new_and_nothing_else(tmp_path: Path):
    same = {"usr/lib/libz.so.1": b"\x7fELF zlib", "etc/motd": b"hello\n", "usr/bin/tree": b"\x7fELF tree"}
    old = tree(tmp_path / "v1", {**same, "var/lib/dpkg/status": b"zlib1g 1\n", "usr/share/gone": b"x"},
               {"usr/lib/libz.so": "libz.so.1", "etc/alt": "/usr/bin/tree"}, {"usr/bin/tree": 0o755, "etc": 0o755})
    new = tree(tmp_path / "v2", {**same, "var/lib/dpkg/status": b"zlib1g 2\n", "usr/lib/libz.so.1.2": b"\x7fELF new"},
               {"usr/lib/libz.so": "libz.so.1.2", "etc/alt": "/usr/bin/tree"}, {"usr/bin/tree": 0o700, "etc": 0o750})
    os.utime(new / "etc/motd", (1, 1))   # an mtime alone is no change
    changed, removed = errata.changed_paths(old, new)
    assert changed == ["etc", "usr/bin/tree", "usr/lib/libz.so", "usr/lib/libz.so.1.2", "var/lib/dpkg/status"]
    assert removed == ["usr/share", "usr/share/gone"]


def test_an_update_fetches_the_config_and_the_layers_v1_lacks():
    v1 = {"config": {"size": 900}, "layers": [{"digest": "sha256:a", "size": 10}, {"digest": "sha256:b", "size": 20}]}
    v2 = {"config": {"size": 1_000}, "layers": [{"digest": "sha256:a", "size": 10}, {"digest": "sha256:c", "size": 300}]}
    assert errata.update_bytes(v1, v2) == 1_300
    assert errata.update_bytes(v2, v2) == 1_000


def test_docker_fetches_every_layer_above_the_first_one_it_lacks():
    layer = {name: {"digest": f"sha256:{name}", "size": size} for name, size in (("a", 10), ("b", 20), ("c", 300), ("d", 4_000))}
    v1 = {"config": {"size": 900}, "layers": [layer["a"], layer["b"], layer["d"]]}
    v2 = {"config": {"size": 1_000}, "layers": [layer["a"], layer["c"], layer["d"]]}
    assert errata.docker_update_bytes(v1, v2) == 1_000 + 300 + 4_000   # d is held, but above c
    assert errata.update_bytes(v1, v2) == 1_000 + 300
    assert errata.docker_update_bytes(v1, v1) == 900
