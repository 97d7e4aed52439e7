"""The container base tree is reproducible across machines, not only per cache.

Two empty caches stand for two machines: each bootstraps the same suite from the same mirror state.
Their trees must give the same layer digest, with SOURCE_DATE_EPOCH defaulting to the suite's Release
date (an input), never to the moment a cache was filled. Proves: the default epoch, the tarball path
the first build takes, and the layer writer together are machine-independent for one mirror state.
Not proven here: that two mirrors which differ in state give different dates (they do, by Release).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.debootstrap import mounts_under
from support.mirror import debian_mirror
from support.requirements import skip_or_fail

from builder.container import bootstrap, layer
from builder.container.definition import Bootstrap
from builder.spec import Compression

pytestmark = pytest.mark.slow


def test_two_empty_caches_give_the_same_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if reason := bootstrap.why_not_bootstrap():
        skip_or_fail(reason)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    base = bootstrap.BaseTree(Bootstrap("debootstrap", "minbase", "bookworm"), debian_mirror(), ())
    digests, dates = [], []
    for machine in ("a", "b"):
        monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / machine / "cache"))
        root = tmp_path / machine / "root"
        date = bootstrap.fill(base, root, log=lambda _line: None)
        assert not mounts_under(tmp_path / machine), "debootstrap left a mount behind"
        assert not (tmp_path / machine / "root.bootstrap").exists(), "the scratch tree was not removed"
        assert not (root / "debootstrap").exists()
        dates.append(date)
        digests.append(layer.write_layer(root, tmp_path / machine / "layer", date, Compression.GZIP).digest)
        shutil.rmtree(root)
    assert dates[0] == dates[1] and dates[0] > 1_600_000_000
    assert digests[0] == digests[1]
    # The cached path (a second build on machine b) starts from the same bytes.
    root = tmp_path / "b" / "again"
    assert bootstrap.fill(base, root, log=lambda _line: None) == dates[1]
    assert layer.write_layer(root, tmp_path / "b" / "layer2", dates[1], Compression.GZIP).digest == digests[1]
