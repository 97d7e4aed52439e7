"""The parts of the container image that need no engine: the layer, references, the build's refusals, pre-pull."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from support.mirror import debian_mirror
from support.requirements import skip_or_fail

from builder.baseline import Baseline, render_script
from builder.baseline.prepull import prepull_script
from builder.container.layer import write_layer
from builder.container.registry import docker_credentials, parse_reference
from builder.errors import BuilderError
from builder.spec import Compression, load_spec

ROOT = Path(__file__).resolve().parent.parent
EPOCH = 1_700_000_000


def builder(*args: object, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False, **kwargs)


def make_tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "dev/keep-out").write_text("runtime's")
    (root / "etc/zz").write_text("last\n")
    (root / "etc/aa").write_text("first\n")
    (root / "usr/bin/tool").write_bytes(b"\x7fELF")
    os.link(root / "usr/bin/tool", root / "etc/hardlink")
    os.symlink("../usr/bin/tool", root / "etc/link")
    os.chown(root / "etc/zz", 101, 102)
    os.utime(root / "etc/aa", (EPOCH - 100, EPOCH - 100))


def members(blob: Path, compression: Compression) -> list[tarfile.TarInfo]:
    data = blob.read_bytes()
    if compression in (Compression.ZSTD, Compression.ZSTD_CHUNKED):  # zstd:chunked: many frames, then skippable ones
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
        return tarfile.open(fileobj=io.BytesIO(data)).getmembers()
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz").getmembers()


@pytest.mark.parametrize("compression", list(Compression))
def test_the_layer_is_deterministic(tmp_path: Path, compression: Compression):
    if os.geteuid() != 0:
        skip_or_fail("chown needs root")
    make_tree(tmp_path / "one")
    first = write_layer(tmp_path / "one", tmp_path / "one.blob", EPOCH, compression)
    subprocess.run(["cp", "-a", str(tmp_path / "one"), str(tmp_path / "two")], check=True)  # new inodes, same owners
    os.utime(tmp_path / "two/etc/aa", (EPOCH - 100, EPOCH - 100))
    second = write_layer(tmp_path / "two", tmp_path / "two.blob", EPOCH, compression)
    assert (first.digest, first.diff_id) == (second.digest, second.diff_id)
    entries = members(tmp_path / "one.blob", compression)
    names = [m.name for m in entries]
    assert names == ["dev", "etc", "etc/aa", "etc/hardlink", "etc/link", "etc/zz", "usr", "usr/bin", "usr/bin/tool"]
    by_name = {m.name: m for m in entries}
    assert by_name["etc/hardlink"].isreg() and by_name["usr/bin/tool"].islnk()
    assert by_name["usr/bin/tool"].linkname == "etc/hardlink", "a hard link comes after its target"
    assert (by_name["etc/zz"].uid, by_name["etc/zz"].gid) == (101, 102)
    assert all(m.uname == "" and m.gname == "" for m in entries)
    assert by_name["etc/aa"].mtime == EPOCH - 100 and by_name["etc/zz"].mtime == EPOCH, "mtimes are clamped, not forced"
    if compression is Compression.GZIP:
        assert (tmp_path / "one.blob").read_bytes()[4:8] == b"\0\0\0\0", "gzip header mtime 0"


@pytest.mark.parametrize("text, host, repository, tag", [
    ("registry.internal.example.com:5000/base/debian12-node", "registry.internal.example.com:5000", "base/debian12-node", "latest"),
    ("127.0.0.1:5000/a:v1.2", "127.0.0.1:5000", "a", "v1.2"),
])
def test_references(text, host, repository, tag):
    ref = parse_reference(text)
    assert (ref.host, ref.repository, ref.tag) == (host, repository, tag)


@pytest.mark.parametrize("text", ["no-repository", "host/UPPER", "host/a;rm -rf /", "https://host/a", "host/a:b:c"])
def test_bad_references_are_refused(text):
    with pytest.raises(BuilderError):
        parse_reference(text)


def test_credentials_come_from_docker_config(tmp_path: Path, monkeypatch):
    import base64
    import json

    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "https://reg.example.com:5000": {"auth": base64.b64encode(b"ops:s3cret").decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert docker_credentials("reg.example.com:5000") == ("ops", "s3cret")
    assert docker_credentials("other.example.com") is None


def test_dry_run_shows_the_bootstrap_and_writes_nothing(tmp_path: Path):
    proc = builder("build", ROOT / "examples/debian12-node.yaml", "--only", "container", "--dry-run", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    # debootstrap makes the minbase; the spec's packages come after, with apt from the spec's repositories (main 4d0259a)
    assert "debootstrap --variant=minbase " in proc.stdout and "chroot WORK/root apt-get " in proc.stdout
    assert debian_mirror() in proc.stdout
    assert re.search(r"container: \d+ baseline items do not apply: .*\bsshd\b", proc.stderr), proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_prepull_script_is_shellcheck_clean_and_in_the_kickstart_post(tmp_path: Path):
    spec, _, _ = load_spec(ROOT / "examples/compute-node-cs9.yaml")
    script = prepull_script(spec.container.prepull)
    path = tmp_path / "builder-prepull"
    path.write_text(script)
    result = subprocess.run(["shellcheck", "-s", "bash", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    full = render_script(Baseline(spec))
    assert "builder_enable builder-prepull.service" in full and "podman" in full
    assert "builder_step prepull" not in render_script(Baseline(spec, context="container"))


def test_the_standalone_prepull_installer_is_built_and_clean(tmp_path: Path):
    out = tmp_path / "out"
    proc = builder("build", ROOT / "examples/compute-node-cs9.yaml", "--only", "prepull", "--out", out)
    assert proc.returncode == 0, proc.stderr
    installer = out / "compute-node-cs9" / "prepull.sh"
    text = installer.read_text()
    assert "podman" in text and "builder-prepull.service" in text and "systemctl start --no-block" in text
    result = subprocess.run(["shellcheck", "-s", "bash", "-S", "warning", str(installer)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    refused = builder("build", ROOT / "examples/legacy-rocky8.yaml", "--only", "prepull", "--out", tmp_path / "none")
    assert refused.returncode == 2 and "container.prepull" in refused.stderr


def _locale_tree(root: Path) -> Path:
    sources, charmaps = root / "usr/share/i18n/locales", root / "usr/share/i18n/charmaps"
    sources.mkdir(parents=True)
    charmaps.mkdir(parents=True)
    (sources / "en_US").write_text('LC_CTYPE\ncopy "en_GB"\nEND LC_CTYPE\nLC_COLLATE\n  copy "iso14651_t1"\nEND LC_COLLATE\n')
    (sources / "en_GB").write_text('LC_CTYPE\ncopy "i18n"\n\ntranslit_start\ninclude "translit_combining";""\ntranslit_end\n')
    (sources / "i18n").write_text("% no references\n")
    (sources / "translit_combining").write_text("% none\n")
    (sources / "iso14651_t1").write_text('copy "iso14651_t1_common"\n')
    (sources / "iso14651_t1_common").write_text("% the big one\n")
    (sources / "de_DE").write_text('copy "de_DE_common"\n')  # another locale: goes
    (sources / "de_DE_common").write_text("")
    for charmap in ("UTF-8.gz", "ISO-8859-1.gz", "KOI8-R.gz"):
        (charmaps / charmap).write_bytes(b"\x1f\x8b")
    return root


def test_the_locale_sources_of_the_spec_locale_stay_and_the_others_go(tmp_path: Path):
    from builder.bootstrap.definition import image_definition
    from builder.container.strip import dpkg_excludes, strip_tree

    root = _locale_tree(tmp_path / "tree")
    spec = load_spec(ROOT / "examples/debian12-node.yaml")[0]
    assert spec.locale == "en_US.UTF-8"
    definition = image_definition(spec)
    rules = dpkg_excludes(definition, spec.locale, root)
    removed = strip_tree(root, definition, spec.locale)
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert left == ["usr/share/i18n/charmaps/UTF-8.gz"] + [
        f"usr/share/i18n/locales/{name}"
        for name in ("en_GB", "en_US", "i18n", "iso14651_t1", "iso14651_t1_common", "translit_combining")]
    assert "/usr/share/i18n/locales/de_DE" in removed and "/usr/share/i18n/charmaps/KOI8-R.gz" in removed
    # dpkg keeps them out of later installs, and keeps these in (a glibc upgrade rebuilds the archive from them).
    assert "path-exclude=/usr/share/i18n/locales/*" in rules.splitlines()
    assert "path-include=/usr/share/i18n/locales/iso14651_t1_common" in rules.splitlines()
    assert "path-include=/usr/share/i18n/charmaps/UTF-8.gz" in rules.splitlines()


@pytest.mark.parametrize(("locale", "kept"), [
    ("C.UTF-8", []),  # built into glibc: no sources
    ("POSIX", []),
    ("en_GB", ["charmaps/ISO-8859-1.gz", "locales/en_GB", "locales/i18n", "locales/translit_combining"]),
    ("de_DE.utf8", ["charmaps/UTF-8.gz", "locales/de_DE", "locales/de_DE_common"]),
])
def test_the_kept_sources_follow_the_locale(tmp_path: Path, locale: str, kept: list[str]):
    from builder.container.strip import locale_source_includes

    root = _locale_tree(tmp_path)
    found = locale_source_includes(root, locale)
    assert sorted(p.removeprefix("/usr/share/i18n/") for p in found) == sorted(kept)
