"""The repos item: the spec's keys (URL or embedded key file), the files the step writes, the step run on real
files, and the check that the enabled repositories are exactly the spec's, each once, each with its key."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.gpgkeys import KeyFiles, make_key, why_not_gpg
from support.requirements import skip_or_fail

from builder.baseline import Baseline
from builder.baseline import repos as r
from builder.baseline.items.repos import check as check_repos
from builder.baseline.items.repos import step as repos_step
from builder.baseline.results import Check, Status
from builder.baseline.rootfs import RootFS
from builder.baseline.shell import PRELUDE
from builder.errors import SpecError
from builder.install.kickstart import install_repos, render_kickstart
from builder.spec import KeyFile, json_schema, load_spec, load_spec_text, machine_spec, spec_sha256
from builder.targets import Family

# The keyring Debian's debian-archive-keyring package installs (what apt checks the archive with).
ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
MIRROR = "http://mirror.internal.example.com"
# The specs' URLs as written: BUILDER_MIRRORS (set by conftest) would rewrite them to this host's mirror.
pytestmark = pytest.mark.usefixtures("example_urls")

EL_SPEC = f"""\
version: 1
name: el
target: rocky-9
repos:
  - name: baseos
    baseurl: {MIRROR}/rocky/9/BaseOS/$basearch/os/
    gpgkey: GPGKEY
  - name: appstream
    baseurl: {MIRROR}/rocky/9/AppStream/$basearch/os/
    gpgkey: {MIRROR}/rocky/RPM-GPG-KEY-Rocky-9
users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
"""

DEBIAN_SPEC = f"""\
version: 1
name: deb
target: debian-12
repos:
  - name: debian
    baseurl: {MIRROR}/debian
    suites: [bookworm, bookworm-updates]
  - name: internal
    baseurl: {MIRROR}/internal
    suites: [bookworm]
    gpgkey: GPGKEY
users: [{{name: ops, ssh_keys: ["{KEY}"]}}]
"""

# What a Rocky 9 install leaves in /etc/yum.repos.d (abridged: the same shapes).
ROCKY_REPO = """\
# rocky.repo
[baseos]
name=Rocky Linux $releasever - BaseOS
mirrorlist=https://mirrors.example.org/mirrorlist?arch=$basearch&repo=BaseOS-$releasever$rltype
#baseurl=http://dl.example.org/$contentdir/$releasever/BaseOS/$basearch/os/
gpgcheck=1
enabled=1
countme=1
metadata_expire=6h
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9

[baseos-debuginfo]
name=Rocky Linux $releasever - BaseOS - Debug
mirrorlist=https://mirrors.example.org/mirrorlist?arch=$basearch&repo=BaseOS-$releasever-debug$rltype
gpgcheck=1
enabled=0

[appstream]
name=Rocky Linux $releasever - AppStream
mirrorlist=https://mirrors.example.org/mirrorlist?arch=$basearch&repo=AppStream-$releasever$rltype
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9
"""
DNF_CONF = "[main]\ngpgcheck=1\ninstallonly_limit=3\n\n[local]\nbaseurl=file:///srv/repo\n"
EXTRAS_REPO = "[extras]\nname=Rocky Linux $releasever - Extras\nbaseurl=http://x/\n  http://y/\nenabled = 1\n"


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    if reason := why_not_gpg():
        skip_or_fail(reason)
    return make_key(tmp_path_factory.mktemp("keys"))


def spec_file(directory: Path, text: str, key: str) -> Path:
    path = directory / "spec.yaml"
    path.write_text(text.replace("GPGKEY", key))
    return path


def problems(path: Path) -> list[tuple[int | None, str, str]]:
    with pytest.raises(SpecError) as failure:
        load_spec(path)
    return [(p.line, p.path, p.message) for p in failure.value.problems]


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# ---------------------------------------------------------------- the spec: key files


def test_a_key_file_beside_the_spec_is_embedded(tmp_path, keys):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "mirror.asc").write_bytes(keys.public.read_bytes())
    spec, _, _ = load_spec(spec_file(tmp_path, EL_SPEC, "keys/mirror.asc"))
    key = spec.repos[0].gpgkey
    assert isinstance(key, KeyFile) and key.path == "keys/mirror.asc" and key.armor == keys.public.read_text()
    assert spec.repos[1].gpgkey == f"{MIRROR}/rocky/RPM-GPG-KEY-Rocky-9"
    before = spec_sha256(spec)
    other = make_key(tmp_path / "other")
    (tmp_path / "keys" / "mirror.asc").write_bytes(other.public.read_bytes())
    assert spec_sha256(load_spec(tmp_path / "spec.yaml")[0]) != before, "the key is part of the spec's hash"


def test_the_key_file_is_relative_to_the_spec_file_not_the_working_directory(tmp_path, keys, monkeypatch):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "mirror.asc").write_bytes(keys.public.read_bytes())
    monkeypatch.chdir(tmp_path)
    path = spec_file(tmp_path / "specs", EL_SPEC, "mirror.asc")
    assert isinstance(load_spec(path)[0].repos[0].gpgkey, KeyFile)


@pytest.mark.parametrize("kind, words", [
    ("missing", ["key file nope.asc does not exist", "relative to the spec file's directory"]),
    ("secret", ["holds a SECRET key", "gpg --armor --export"]),
    ("binary", ["is not ASCII-armored"]),
    ("damaged", ["checksum does not match"]),
    ("text", ["is not an ASCII-armored OpenPGP public key"]),
    ("absolute", ["relative to the spec file", "file:///etc/pki/rpm-gpg/"]),
])
def test_a_bad_key_file_is_refused_at_its_line(tmp_path, keys, kind, words):
    armor = keys.public.read_text()
    body = armor.splitlines()
    middle = len(body) // 2
    body[middle] = body[middle][:-2] + ("AB" if body[middle][-2:] != "AB" else "CD")
    files = {"secret": keys.secret.read_bytes(), "binary": keys.binary.read_bytes(),
             "damaged": ("\n".join(body) + "\n").encode(), "text": b"not a key\n"}
    name = {"missing": "nope.asc", "absolute": str(keys.public)}.get(kind, f"{kind}.asc")
    if kind in files:
        (tmp_path / name).write_bytes(files[kind])
    path = spec_file(tmp_path, EL_SPEC, name)
    found = problems(path)
    assert [(line, field) for line, field, _ in found] == [(line_of(path, "gpgkey: " + name), "repos[0].gpgkey")], found
    message = found[0][2]
    for word in words:
        assert word in message, message
    secret_lines = {line for line in keys.secret.read_text().splitlines() if len(line) > 20}
    assert not any(line in message for line in secret_lines), "a key's text never reaches a message"


def test_a_gpgkey_that_is_no_string_says_what_it_takes(tmp_path):
    found = problems(spec_file(tmp_path, EL_SPEC, "5"))
    assert [(field, message) for _, field, message in found] == [
        ("repos[0].gpgkey", "give the key's URL, or the path of a key file relative to the spec file")]


def test_gpgcheck_without_a_key_is_refused_on_el(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(EL_SPEC.replace("    gpgkey: GPGKEY\n", ""))
    found = problems(path)
    assert [(line, field) for line, field, _ in found] == [(line_of(path, "- name: baseos"), "repos[0].gpgkey")]
    assert "gpgcheck is on and the repository has no gpgkey" in found[0][2]
    path.write_text(EL_SPEC.replace("    gpgkey: GPGKEY\n", "    gpgcheck: false\n"))
    spec, _, warnings = load_spec(path)
    assert [(w.path, w.message) for w in warnings if w.path.startswith("repos")] == [
        ("repos[0].gpgcheck", "packages from baseos are installed without a signature check")]


def test_apt_cannot_fetch_a_key_from_a_url(tmp_path):
    found = problems(spec_file(tmp_path, DEBIAN_SPEC, f"{MIRROR}/internal/key.asc"))
    assert [(field, message.split(":")[0]) for _, field, message in found] == [
        ("repos[1].gpgkey", "apt cannot fetch a key from a URL")]
    spec, _, _ = load_spec(spec_file(tmp_path, DEBIAN_SPEC, "file:///usr/share/keyrings/internal.gpg"))
    assert Baseline(spec).repo_file(spec.repos[1])[1].endswith("Signed-By: /usr/share/keyrings/internal.gpg\n")


@pytest.mark.parametrize("path", ["/etc/yum.repos.d/epel.repo", "/etc/apt/sources.list", "/etc/apt/sources.list.d/x.list",
                                  "/etc/dnf/dnf.conf"])
def test_files_may_not_define_repositories(tmp_path, path):
    text = EL_SPEC.replace("GPGKEY", f"{MIRROR}/k") + f"files: [{{path: {path}, content: x}}]\n"
    with pytest.raises(SpecError) as failure:
        load_spec_text(text)
    assert [p.path for p in failure.value.problems] == ["files[0].path"]
    assert failure.value.problems[0].hint.startswith("add the repository to repos instead")


def test_the_schema_says_gpgkey_is_a_string_and_mirrors_rewrite_key_urls(monkeypatch, capsys):
    repo = json_schema()["$defs"]["Repo"]["properties"]["gpgkey"]
    assert [branch["type"] for branch in repo["anyOf"]] == ["string", "null"]
    monkeypatch.setenv("BUILDER_MIRRORS", f"{MIRROR}/rocky=http://127.0.0.1:9/rocky")
    spec, _, _ = load_spec_text(EL_SPEC.replace("GPGKEY", f"{MIRROR}/rocky/KEY"))
    assert [repo.gpgkey for repo in spec.repos] == ["http://127.0.0.1:9/rocky/KEY", "http://127.0.0.1:9/rocky/RPM-GPG-KEY-Rocky-9"]
    assert "repos[0].gpgkey" in capsys.readouterr().err


def test_a_machines_spec_keeps_the_embedded_key(tmp_path, keys):
    (tmp_path / "mirror.asc").write_bytes(keys.public.read_bytes())
    text = EL_SPEC.replace("GPGKEY", "mirror.asc") + (
        "kickstart: {install_source: http://mirror.internal.example.com/rocky/9/BaseOS/x86_64/os/, disk: {device: vda}}\n"
        "install: {pxe: {server_url: 'http://10.0.0.5:8080'}, machines: [{hostname: n1.example.com, mac: '52:54:00:00:00:01'}]}\n")
    (tmp_path / "spec.yaml").write_text(text)
    spec, _, _ = load_spec(tmp_path / "spec.yaml")
    derived = machine_spec(spec, spec.install.machines[0])
    assert derived.repos[0].gpgkey == spec.repos[0].gpgkey


# ---------------------------------------------------------------- the key, the files, the kickstart


def embedded(tmp_path: Path, keys: KeyFiles, text: str) -> Baseline:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "mirror.asc").write_bytes(keys.public.read_bytes())
    return Baseline(load_spec(spec_file(tmp_path, text, "mirror.asc"))[0])


def test_repo_key_is_the_one_answer_for_every_consumer(tmp_path, keys):
    b = embedded(tmp_path, keys, EL_SPEC)
    key = r.repo_key(b.spec.repos[0], Family.EL)
    assert key.path == "/etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos" and key.armor == keys.public.read_text()
    assert key.url_under() == "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos"
    assert key.url_under("/var/tmp/root") == "file:///var/tmp/root/etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos"
    url = r.repo_key(b.spec.repos[1], Family.EL)
    assert (url.url, url.path, url.url_under("/x")) == (f"{MIRROR}/rocky/RPM-GPG-KEY-Rocky-9", None,
                                                        f"{MIRROR}/rocky/RPM-GPG-KEY-Rocky-9")
    debian = Baseline(load_spec(spec_file(tmp_path, DEBIAN_SPEC, "mirror.asc"))[0])
    assert r.repo_key(debian.spec.repos[0], Family.DEBIAN).system_path == ARCHIVE_KEYRING
    assert r.repo_key(debian.spec.repos[1], Family.DEBIAN).path == "/etc/apt/keyrings/builder-internal.asc"


def test_el_files_name_the_prefixed_id_and_the_written_key(tmp_path, keys):
    b = embedded(tmp_path, keys, EL_SPEC)
    files = dict(b.repo_files)
    assert list(files) == ["/etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos", "/etc/yum.repos.d/builder-baseos.repo",
                           "/etc/yum.repos.d/builder-appstream.repo"]
    assert files["/etc/yum.repos.d/builder-baseos.repo"] == (
        f"[builder-baseos]\nname=baseos\nbaseurl={MIRROR}/rocky/9/BaseOS/$basearch/os/\nenabled=1\ngpgcheck=1\n"
        "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos\n")
    assert files["/etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos"] == keys.public.read_text()


def test_debian_sources_are_signed_by_their_key(tmp_path, keys):
    b = embedded(tmp_path, keys, DEBIAN_SPEC)
    files = dict(b.repo_files)
    assert files["/etc/apt/keyrings/builder-internal.asc"] == keys.public.read_text()
    assert files["/etc/apt/sources.list.d/builder-internal.sources"].endswith("Signed-By: /etc/apt/keyrings/builder-internal.asc\n")
    assert files["/etc/apt/sources.list.d/builder-debian.sources"].endswith(f"Signed-By: {ARCHIVE_KEYRING}\n")
    unsigned = Baseline(load_spec_text(DEBIAN_SPEC.replace("    gpgkey: GPGKEY\n", "    gpgcheck: false\n"))[0])
    assert dict(unsigned.repo_files)["/etc/apt/sources.list.d/builder-internal.sources"].endswith("Components: main\nTrusted: yes\n")


def test_the_installer_names_the_repos_as_the_installed_system_does(tmp_path, keys):
    b = embedded(tmp_path, keys, EL_SPEC + "kickstart: {install_source: 'http://mirror.internal.example.com/rocky/9/BaseOS/$basearch/os/', "
                 "disk: {device: vda}}\n")
    assert install_repos(b.spec) == [("builder-appstream", f"{MIRROR}/rocky/9/AppStream/$basearch/os/")]
    text = render_kickstart(b.spec, spec_sha256(b.spec))
    assert re.findall(r"^repo .*$", text, re.M) == [
        f"repo --name=builder-appstream --baseurl='{MIRROR}/rocky/9/AppStream/$basearch/os/'"]
    for _, content in b.repo_files:
        assert content in text, "the key and the repo files ride in %post"


# ---------------------------------------------------------------- the step, run on real files


def under(root: Path, script: str) -> str:
    """`script` with every /etc/ path of its commands under `root` (the bodies of its heredocs as they are)."""
    out, delimiter = [], None
    for line in script.split("\n"):
        if delimiter is None:
            heredoc = re.search(r"<<'([A-Z_0-9]+)'$", line)
            delimiter = heredoc.group(1) if heredoc else None
            line = line.replace("/etc/", f"{root}/etc/")
        elif line == delimiter:
            delimiter = None
        out.append(line)
    return "\n".join(out)


def run_step(b: Baseline, root: Path) -> str:
    """The repos step of the baseline script, with every /etc/ path under `root`."""
    script = PRELUDE.format(version=0, target=b.spec.target) + "\n".join(repos_step(b)) + "\n"
    proc = subprocess.run(["bash", "-c", under(root, script)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def check(b: Baseline, root: Path) -> list[str]:
    results = list(check_repos(Check(b, RootFS(root), "rootfs")))
    assert results
    return [result.detail for result in results if result.status is Status.FAIL]


def put(root: Path, path: str, text: str) -> None:
    host = root / path.lstrip("/")
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_text(text)


def el_tree(root: Path) -> None:
    put(root, "/etc/yum.repos.d/rocky.repo", ROCKY_REPO)
    put(root, "/etc/yum.repos.d/rocky-extras.repo", EXTRAS_REPO)
    put(root, "/etc/dnf/dnf.conf", DNF_CONF)


def debian_tree(root: Path) -> None:
    put(root, "/etc/apt/sources.list", f"deb {MIRROR}/debian bookworm main\ndeb {MIRROR}/debian-security bookworm-security main\n")
    put(root, "/etc/apt/sources.list.d/vendor.list", "deb [signed-by=/usr/share/keyrings/vendor.gpg] http://vendor.example/ stable main\n")
    put(root, ARCHIVE_KEYRING, "keyring")


def test_the_el_step_disables_every_other_repo_and_runs_twice_the_same(tmp_path, keys):
    b = embedded(tmp_path / "spec", keys, EL_SPEC)
    root = tmp_path / "root"
    el_tree(root)
    assert any("is enabled and is not one of the spec's repos" in p for p in check(b, root))
    run_step(b, root)
    assert check(b, root) == []
    rocky = (root / "etc/yum.repos.d/rocky.repo").read_text()
    assert rocky.count("enabled=0") == 3 and "enabled=1" not in rocky and "countme=1" in rocky
    assert "[appstream]\n" in rocky and rocky.endswith("gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9\nenabled=0\n")
    assert (root / "etc/yum.repos.d/rocky-extras.repo").read_text() == EXTRAS_REPO.replace("enabled = 1", "enabled=0")
    assert (root / "etc/dnf/dnf.conf").read_text() == DNF_CONF + "enabled=0\n", "dnf.conf's [main] is left alone"
    before = snapshot(root)
    assert "wrote" not in run_step(b, root), "a second run writes nothing"
    assert snapshot(root) == before


def test_the_debian_step_leaves_one_definition_per_suite_and_runs_twice_the_same(tmp_path, keys):
    b = embedded(tmp_path / "spec", keys, DEBIAN_SPEC)
    root = tmp_path / "root"
    debian_tree(root)
    assert any("(the spec's debian) is in no enabled APT source" in f for f in check(b, root))
    run_step(b, root)
    assert check(b, root) == []
    assert (root / "etc/apt/sources.list.d/vendor.list.disabled").exists()
    assert not (root / "etc/apt/sources.list.d/vendor.list").exists()
    assert "deb " not in (root / "etc/apt/sources.list").read_text()
    before = snapshot(root)
    assert "wrote" not in run_step(b, root) and snapshot(root) == before


# ---------------------------------------------------------------- the check on crafted trees


@pytest.fixture
def el_done(tmp_path, keys) -> tuple[Baseline, Path]:
    b = embedded(tmp_path / "spec", keys, EL_SPEC)
    root = tmp_path / "root"
    el_tree(root)
    run_step(b, root)
    return b, root


def test_an_enabled_distribution_repo_fails_naming_it_and_its_file(el_done):
    b, root = el_done
    put(root, "/etc/yum.repos.d/epel.repo", "[epel]\nbaseurl=http://x/\n")
    assert check(b, root) == ["repo epel in /etc/yum.repos.d/epel.repo is enabled and is not one of the spec's repos"]


def test_an_id_defined_twice_fails_even_when_disabled(el_done):
    b, root = el_done
    put(root, "/etc/yum.repos.d/old.repo", "[builder-baseos]\nbaseurl=http://x/\nenabled=0\n")
    assert check(b, root) == ["repo id builder-baseos is defined 2 times: in /etc/yum.repos.d/builder-baseos.repo and "
                              "/etc/yum.repos.d/old.repo"]


def test_a_repo_section_in_dnf_conf_counts(el_done):
    b, root = el_done
    put(root, "/etc/dnf/dnf.conf", "[main]\ngpgcheck=1\n\n[local]\nbaseurl=file:///srv/repo\n")
    assert check(b, root) == ["repo local in /etc/dnf/dnf.conf is enabled and is not one of the spec's repos"]


def test_a_missing_key_fails(el_done):
    b, root = el_done
    (root / "etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos").unlink()
    failures = check(b, root)
    assert "/etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos is missing" in failures
    assert "builder-baseos: its key /etc/pki/rpm-gpg/RPM-GPG-KEY-builder-baseos is missing" in failures[-1]


def test_a_disabled_spec_repo_and_a_repo_file_without_its_key_fail(el_done):
    b, root = el_done
    put(root, "/etc/yum.repos.d/builder-appstream.repo", "[builder-appstream]\nbaseurl=http://x/\nenabled=0\n")
    failures = check(b, root)
    assert "repo builder-appstream (the spec's appstream) is not enabled in any repo file" in failures[-1]
    put(root, "/etc/yum.repos.d/builder-appstream.repo", "[builder-appstream]\nbaseurl=http://x/\ngpgcheck=0\n")
    failures = check(b, root)
    assert ("repo builder-appstream in /etc/yum.repos.d/builder-appstream.repo has gpgcheck off, the spec says on"
            in failures[-1]) and "does not name its key" in failures[-1]


def test_the_debian_duplicate_sources_list_fails(tmp_path, keys):
    b = embedded(tmp_path / "spec", keys, DEBIAN_SPEC)
    root = tmp_path / "root"
    debian_tree(root)
    run_step(b, root)
    put(root, "/etc/apt/sources.list", f"deb {MIRROR}/debian bookworm main\n")
    failures = check(b, root)
    assert failures == [f"APT source deb {MIRROR}/debian bookworm main is defined 2 times: in /etc/apt/sources.list and "
                        "/etc/apt/sources.list.d/builder-debian.sources (every `apt-get update` warns \"configured multiple "
                        "times\")"]


def test_a_debian_source_without_its_keyring_fails(tmp_path, keys):
    b = embedded(tmp_path / "spec", keys, DEBIAN_SPEC)
    root = tmp_path / "root"
    debian_tree(root)
    run_step(b, root)
    (root / ARCHIVE_KEYRING.lstrip("/")).unlink()
    assert check(b, root) == [f"deb {MIRROR}/debian bookworm main: its key {ARCHIVE_KEYRING} is missing; "
                              f"deb {MIRROR}/debian bookworm-updates main: its key {ARCHIVE_KEYRING} is missing"]
    put(root, "/etc/apt/sources.list.d/builder-debian.sources",
        f"Types: deb\nURIs: {MIRROR}/debian\nSuites: bookworm bookworm-updates\nComponents: main\nEnabled: no\n")
    assert any("(the spec's debian) is in no enabled APT source" in f for f in check(b, root))


@pytest.mark.parametrize("example", [p for p in EXAMPLES if yaml.safe_load(p.read_text()).get("repos")], ids=lambda p: p.stem)
def test_every_examples_repos_pass_the_check_after_the_step(tmp_path, example):
    b = Baseline(load_spec(example)[0])
    root = tmp_path / "root"
    el_tree(root) if b.family is Family.EL else debian_tree(root)
    run_step(b, root)
    assert check(b, root) == []
    assert "is not one of the spec's repos" in check_after_adding_a_distro_repo(b, root)


def check_after_adding_a_distro_repo(b: Baseline, root: Path) -> str:
    if b.family is Family.EL:
        put(root, "/etc/yum.repos.d/rocky.repo", ROCKY_REPO)
    else:
        put(root, "/etc/apt/sources.list.d/vendor.list", "deb http://vendor.example/ stable main\n")
    return " ".join(check(b, root))
