"""BUILDER_MIRRORS: a spec that names an internal mirror is built from another, said on stderr, nothing else changed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builder.errors import BuilderError
from builder.spec import load_spec
from builder.spec.mirrors import overrides_from_env, rewrite_spec_data

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "debian12-node.yaml"


def test_parse_longest_prefix_first():
    pairs = overrides_from_env("http://a.internal/debian=http://b/debian http://a.internal/debian-security=http://b/sec")
    assert pairs[0][0] == "http://a.internal/debian-security"
    with pytest.raises(BuilderError, match="FROM=TO"):
        overrides_from_env("mirror.internal")
    with pytest.raises(BuilderError, match="FROM=TO"):
        overrides_from_env("http://a=ftp://b")


def test_only_mirror_fields_are_rewritten():
    data = {"repos": [{"baseurl": "http://a.internal/debian"}, {"baseurl": "http://a.internal/debian-security"}],
            "kickstart": {"install_source": "http://a.internal/rocky/9/"},
            "files": [{"path": "/etc/x", "content": "http://a.internal/debian"}]}
    changes = rewrite_spec_data(data, overrides_from_env("http://a.internal/debian=http://b/d http://a.internal/rocky=http://c/r"))
    assert [c[0] for c in changes] == ["repos[0].baseurl", "repos[1].baseurl", "kickstart.install_source"]
    assert data["repos"][1]["baseurl"] == "http://b/d-security"
    assert data["kickstart"]["install_source"] == "http://c/r/9/"
    assert data["files"][0]["content"] == "http://a.internal/debian", "free text is never rewritten"


def test_load_reports_each_rewrite_on_stderr(monkeypatch, capsys):
    monkeypatch.setenv("BUILDER_MIRRORS", "http://mirror.internal.example.com/debian=http://127.0.0.1:9/debian")
    spec, _, _ = load_spec(EXAMPLE)
    assert [r.baseurl for r in spec.repos] == ["http://127.0.0.1:9/debian", "http://127.0.0.1:9/debian-security"]
    err = capsys.readouterr().err
    assert "repos[0].baseurl: http://mirror.internal.example.com/debian -> http://127.0.0.1:9/debian (BUILDER_MIRRORS)" in err


def test_unset_leaves_the_spec_as_written(example_urls):
    spec, _, _ = load_spec(EXAMPLE)
    assert spec.repos[0].baseurl == "http://mirror.internal.example.com/debian"


def test_a_bad_value_is_a_clear_error():
    proc = subprocess.run([sys.executable, "-m", "builder.cli", "validate", str(EXAMPLE)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "BUILDER_MIRRORS": "oops"})
    assert proc.returncode == 1 and "BUILDER_MIRRORS: 'oops' is not FROM=TO" in proc.stderr
