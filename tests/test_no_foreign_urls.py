"""No URL outside the spec's: what a build plans, renders or ships names only the repositories and installer
URLs the spec gives (an air-gapped network reaches nothing else), and the shipped elements/ and base-images/ (builder/resources/) name none.

A URL found is allowed when it is one the spec names (any http(s) value in the spec: repos[].baseurl,
repos[].gpgkey, kickstart.install_source, install.pxe.inst_repo, install.pxe.server_url) or lies below one.
The examples are read with their own URLs (BUILDER_MIRRORS unset), as a user's spec is.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from builder.baseline import Baseline, render_script
from builder.baseline.script import render_prepull_installer
from builder.cli import main
from builder.install.kickstart import render_kickstart
from builder.install.machines import render_kickstarts
from builder.kinds import KINDS
from builder.spec import load_spec, spec_sha256

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
URL = re.compile(r"https?://[^\s'\"<>()\[\]{},;\\]*")

# Strings that look like URLs but are contacted by nobody (identifiers, not network addresses), with the reason.
# Empty: nothing we plan, render or ship needs one today.
NOT_NETWORK: dict[str, str] = {}


def spec_urls(value) -> set[str]:
    """Every http(s) URL a parsed spec names, at any depth."""
    if isinstance(value, str):
        return {value} if value.startswith(("http://", "https://")) else set()
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return set().union(*(spec_urls(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(spec_urls(v) for v in value)) if value else set()
    return set()


def foreign(text: str, allowed: set[str]) -> list[str]:
    """URLs in `text` that are neither an allowed URL nor below one, nor a listed identifier."""
    def ok(url: str) -> bool:
        if url in NOT_NETWORK:
            return True
        return any(url == a or url.startswith(a if a.endswith("/") else a + "/") for a in allowed)

    return sorted({url for url in URL.findall(text) if not ok(url.rstrip(".:"))})


def plans(spec: Path, out: Path, capsys) -> dict[str, str]:
    """Each artifact kind's dry-run plan (stdout and stderr) for the spec; a kind refused for it has none."""
    found = {}
    for kind in KINDS:
        code = main(["build", str(spec), "--only", kind.name, "--out", str(out), "--dry-run"])
        captured = capsys.readouterr()
        if code == 0:
            found[kind.name] = captured.out + captured.err
        else:
            assert code == 2, captured.err  # refused (the kind does not apply), never failed
    assert not out.exists(), "a dry run writes nothing"
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_plans_and_rendered_files_name_only_the_specs_urls(path, tmp_path, capsys, example_urls):
    spec = load_spec(path)[0]
    allowed = spec_urls(spec)
    texts = {f"plan of {kind}": text for kind, text in plans(path, tmp_path / "out", capsys).items()}
    assert "qcow2" not in {k.removeprefix("plan of ") for k in texts} or spec.repos, "a qcow2 plan needs the spec's repos"
    texts["baseline script"] = render_script(Baseline(spec))
    texts["container baseline script"] = render_script(Baseline(spec, context="container"))
    if spec.container and spec.container.prepull:
        texts["prepull installer"] = render_prepull_installer(Baseline(spec))
    if spec.target.info.kickstart_version:
        texts["kickstart"] = render_kickstart(spec, spec_sha256(spec))
        if spec.install is not None:
            texts.update({f"kickstart {name}": data.decode() for name, data in render_kickstarts(spec).items()})
    assert any(k.startswith("plan of ") for k in texts)
    found = {what: urls for what, text in texts.items() if (urls := foreign(text, allowed))}
    assert not found, f"URLs outside the spec's repositories and installer URLs ({sorted(allowed)}): {found}"


@pytest.mark.parametrize("directory", ["elements", "base-images"])
def test_shipped_elements_and_image_definitions_name_no_url(directory):
    """These serve every spec: any URL in them would be contacted whatever the spec says."""
    files = [p for p in (ROOT / "builder" / "resources" / directory).rglob("*") if p.is_file()]
    assert files
    found = {str(p.relative_to(ROOT)): urls for p in files if (urls := foreign(p.read_text(errors="replace"), set()))}
    assert not found, found


def test_the_check_finds_what_it_looks_for():
    allowed = {"http://mirror.internal.example.com/rocky/9/BaseOS/$basearch/os/", "http://10.10.0.5:8080"}
    text = ("baseurl=http://mirror.internal.example.com/rocky/9/BaseOS/$basearch/os/\n"
            "inst.ks=http://10.10.0.5:8080/ks/52-54-00-12-34-56.cfg\n"
            "mirrorlist=https://mirrors.public.example.org/mirrorlist?repo=BaseOS-9\n"
            "FROM registry.public.example.org/rocky:9 (http://10.10.0.5:80801/evil)\n")
    assert foreign(text, allowed) == ["http://10.10.0.5:80801/evil", "https://mirrors.public.example.org/mirrorlist?repo=BaseOS-9"]
