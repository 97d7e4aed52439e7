"""The base tree follows the mirror: each build asks the spec's repositories for their state, and a changed
state makes the tree bootstrapped again; the same state reuses it; --offline asks nothing.

The fast tests read hand-written Release and repomd.xml files and drive the cache with a bootstrapper
whose repositories the test changes; the slow ones build the Debian image for real against the mirror and
a signed apt repository of the test's own on 127.0.0.1, which publishes a newer package between builds.
"""
from __future__ import annotations

import email.utils
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
from support.aptrepo import AptRepo, Deb, why_not_aptrepo
from support.debootstrap import why_not_debootstrap
from support.oci import image_file
from support.requirements import skip_or_fail
from support.rpmrepo import GpgKey, serve

from builder import repodata
from builder.bootstrap import tree
from builder.container.image import blob_path, read_layout
from builder.errors import BuilderError

ROOT = Path(__file__).resolve().parent.parent
DATE = 1_700_000_000

RELEASE = """\
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA512

Origin: Debian
Suite: stable-security
Codename: bookworm-security
Date: {date}
Valid-Until: Sat, 13 Dec 2026 10:00:00 UTC
Architectures: amd64 arm64
Components: updates/main updates/contrib
SHA256:
 {main} 123 updates/main/binary-amd64/Packages
 1111111111111111111111111111111111111111111111111111111111111111 45 updates/main/binary-amd64/Packages.xz
 2222222222222222222222222222222222222222222222222222222222222222 67 updates/main/binary-arm64/Packages.xz
 {contrib} 89 updates/contrib/binary-amd64/Packages.xz
 3333333333333333333333333333333333333333333333333333333333333333 10 updates/main/source/Sources.xz
-----BEGIN PGP SIGNATURE-----

iQIzBAEBCgAdFiEE
-----END PGP SIGNATURE-----
"""
A, B = "a" * 64, "b" * 64


def release(date: str = "Sat, 06 Dec 2026 10:00:00 UTC", main: str = A, contrib: str = A) -> str:
    return RELEASE.format(date=date, main=main, contrib=contrib)


def test_a_suites_state_is_its_packages_indices_for_the_components_used():
    state = repodata.release_state(release(), "http://m/dists/bookworm-security/InRelease", ["updates/main"])
    assert state.date == int(email.utils.parsedate_to_datetime("Sat, 06 Dec 2026 10:00:00 UTC").timestamp())
    # New packages in the component: another state.
    assert repodata.release_state(release(main=B), "x", ["updates/main"]).fingerprint != state.fingerprint
    # Re-signed with the same packages (a new Date and Valid-Until): the same state.
    assert repodata.release_state(release(date="Sun, 07 Dec 2026 10:00:00 UTC"), "x",
                                  ["updates/main"]).fingerprint == state.fingerprint
    # A component the spec does not use, or another architecture, changes nothing.
    assert repodata.release_state(release(contrib=B), "x", ["updates/main"]).fingerprint == state.fingerprint
    assert repodata.release_state(release(contrib=B), "x", ["updates/main", "updates/contrib"]).fingerprint != \
        repodata.release_state(release(), "x", ["updates/main", "updates/contrib"]).fingerprint


def test_a_release_without_a_date_is_refused():
    with pytest.raises(BuilderError, match="no Date"):
        repodata.release_state("Suite: x\nSHA256:\n", "http://m/dists/x/Release", ["main"])


REPOMD = """<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>{revision}</revision>
  <data type="primary"><checksum type="sha256">{primary}</checksum><timestamp>1700000000</timestamp></data>
  <data type="filelists"><checksum type="sha256">{filelists}</checksum><timestamp>1700000000</timestamp></data>
</repomd>
"""


def test_an_el_repositorys_state_is_its_metadata_checksums_and_revision():
    state = repodata.repomd_state(REPOMD.format(revision=1765000000, primary=A, filelists=A).encode(), "x")
    assert state.date == 1765000000
    changed = repodata.repomd_state(REPOMD.format(revision=1765000000, primary=B, filelists=A).encode(), "x")
    assert changed.fingerprint != state.fingerprint
    with pytest.raises(BuilderError, match="not a repomd.xml"):
        repodata.repomd_state(b"<html>not found</html", "x")


def test_dnf_variables_are_filled_in_an_el_baseurl():
    # $basearch is ours without being given: verify's reading of the repositories gives only the target's variables.
    url = repodata.el_repo_url("http://m/rocky/$releasever/BaseOS/${basearch}/os/$arch/$unknown", {"releasever": "9"})
    assert url == "http://m/rocky/9/BaseOS/x86_64/os/x86_64/$unknown"


def test_an_oversized_or_missing_index_is_refused(tmp_path: Path):
    big = tmp_path / "InRelease"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(BuilderError, match="larger than"):
        repodata.fetch(big.as_uri(), limit=1024)
    with pytest.raises(BuilderError, match="no such file"):
        repodata.fetch((tmp_path / "missing").as_uri())
    with pytest.raises(BuilderError, match="not an http"):
        repodata.fetch("ftp://m/dists/x/InRelease")


# ------------------------------------------------------------------ the cache follows the state


@dataclass(frozen=True)
class Mirror:
    """A bootstrapper whose repository's state and content are files the test rewrites."""

    directory: str
    tools: ClassVar[tuple[str, ...]] = ()
    packages: tuple[str, ...] = ()
    label: str = "mirror-test"
    origin: str = "a test mirror"
    asked: list = field(default_factory=list, compare=False, hash=False)

    def inputs(self) -> list:
        return ["mirror-test", self.directory]

    def commands(self, root: Path, work: Path = Path("WORK")) -> list[list[str]]:
        return [["true"]]

    def repositories(self) -> list[str]:
        return [f"file://{self.directory}"]

    def mirror_state(self) -> dict[str, dict]:
        self.asked.append(1)
        state = json.loads(Path(self.directory, "state.json").read_text())
        return {"file://index": {"index": "file://index", **state}}

    def bootstrap(self, root: Path, work: Path, log) -> int:
        state = json.loads(Path(self.directory, "state.json").read_text())
        (root / "etc").mkdir(parents=True)
        (root / "etc/version").write_text(state["fingerprint"])
        return state["date"]

    def leave_out(self) -> tuple[str, ...]:
        return ()


def publish(directory: Path, version: str, date: int) -> None:
    (directory / "state.json").write_text(json.dumps({"date": date, "fingerprint": version}))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if os.geteuid() != 0 or shutil.which("zstd") is None:
        skip_or_fail("needs root (the cache's tar keeps owners) and zstd")
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    tree.forget_mirror_states()
    yield tmp_path / "cache"
    tree.forget_mirror_states()


def test_a_changed_mirror_bootstraps_again_and_an_unchanged_one_reuses_the_tree(cache: Path, tmp_path: Path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    publish(mirror, "v1", DATE)
    base = tree.BaseTree(Mirror(str(mirror)))
    assert tree.fill(base, tmp_path / "one", log=lambda _: None) == DATE
    assert (tmp_path / "one/etc/version").read_text() == "v1"

    publish(mirror, "v2", DATE + 86400)
    tree.forget_mirror_states()  # a new build process
    said: list[str] = []
    assert tree.fill(base, tmp_path / "two", log=said.append) == DATE + 86400
    assert (tmp_path / "two/etc/version").read_text() == "v2"
    assert any("changed since the cached tree was made" in line and "bootstrapping it again" in line for line in said), said
    record = json.loads(base.record.read_text())
    assert record["mirror_date"] == DATE + 86400 and record["mirror_state"] == {"file://index": "v2"}

    tree.forget_mirror_states()
    said.clear()
    sha = tree.file_digest(base.tarball)
    assert tree.fill(base, tmp_path / "three", log=said.append) == DATE + 86400
    assert tree.file_digest(base.tarball) == sha
    assert not any("bootstrapping" in line for line in said), said


def test_one_process_asks_the_mirror_once_so_all_its_artifacts_share_a_tree(cache: Path, tmp_path: Path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    publish(mirror, "v1", DATE)
    bootstrapper = Mirror(str(mirror))
    base = tree.BaseTree(bootstrapper)
    tree.ensure_cached(base, log=lambda _: None)
    publish(mirror, "v2", DATE + 1)   # between the container and the qcow2 of one build
    tree.ensure_cached(base, log=lambda _: None)
    assert len(bootstrapper.asked) == 1
    assert json.loads(base.record.read_text())["mirror_state"] == {"file://index": "v1"}


def test_offline_builds_from_the_cache_as_it_is_and_says_so(cache: Path, tmp_path: Path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bootstrapper = Mirror(str(mirror))
    base = tree.BaseTree(bootstrapper)
    with pytest.raises(BuilderError, match="--offline: no cached base tree"):
        tree.ensure_cached(base, log=lambda _: None, offline=True)
    assert not bootstrapper.asked
    publish(mirror, "v1", DATE)
    tree.ensure_cached(base, log=lambda _: None)
    publish(mirror, "v2", DATE + 1)
    tree.forget_mirror_states()
    asked = len(bootstrapper.asked)
    said: list[str] = []
    assert tree.fill(base, tmp_path / "root", log=said.append, offline=True) == DATE
    assert len(bootstrapper.asked) == asked, "offline asked the repositories"
    assert (tmp_path / "root/etc/version").read_text() == "v1"
    assert any(line.startswith("offline: base tree from the cache as it is") for line in said), said


def test_an_unreachable_mirror_is_a_clear_error_with_the_offline_hint():
    with pytest.raises(BuilderError) as raised:
        repodata.debian_state("http://127.0.0.1:9/debian", "bookworm", ["main"])
    assert "cannot read the state of bookworm" in str(raised.value) and "--offline" in raised.value.hint


# ------------------------------------------------------------------ for real: Debian, and a signed apt repository


def builder(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=3600, check=False, env={**os.environ, **env})


def dpkg_versions(status: bytes) -> dict[str, str]:
    versions, name = {}, None
    for line in status.decode().splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1]
        elif line.startswith("Version: ") and name:
            versions[name] = line.split(": ", 1)[1]
    return versions


def errata(version: str) -> Deb:
    return Deb("builder-errata-test", version, {"/usr/share/builder-errata-test/version": f"{version}\n".encode()})


@pytest.fixture
def local_repo(tmp_path: Path):
    for reason in (why_not_debootstrap(), why_not_aptrepo()):
        if reason:
            skip_or_fail(reason)
    key = GpgKey.generate("builder apt test key")
    repo = AptRepo(tmp_path / "repo", "site", key)
    repo.publish([errata("1.0")], DATE)
    try:
        with serve(tmp_path / "repo") as url:
            yield repo, url
    finally:
        key.remove()


def site_spec(directory: Path, url: str, key: Path) -> Path:
    """The Debian example with one more repository (ours, signed) and a package only it serves."""
    (directory / "keys").mkdir(parents=True)
    shutil.copyfile(key, directory / "keys" / "site.asc")
    text = (ROOT / "examples/debian12-node.yaml").read_text()
    text = text.replace("name: debian12-node\n", "name: errata-node\n")
    text = text.replace("repos:\n", f"repos:\n  - name: site\n    baseurl: {url}\n    suites: [site]\n"
                                    "    components: [main]\n    gpgkey: keys/site.asc\n")
    text = text.replace("post_commands:", "packages:\n  install: [builder-errata-test]\n\npost_commands:")
    spec = directory / "errata-node.yaml"
    spec.write_text(text)
    return spec


@pytest.mark.slow
def test_a_rebuild_takes_the_mirrors_new_version_and_an_unchanged_mirror_the_same_digest(local_repo, tmp_path: Path):
    repo, url = local_repo
    spec = site_spec(tmp_path / "spec", url, repo.key.public)
    env = {"BUILDER_CACHE": str(tmp_path / "cache")}   # a cache of its own: no other test's tree

    def build(out: str, *options: str) -> tuple[subprocess.CompletedProcess, Path]:
        proc = builder("build", spec, "--only", "container", "--out", tmp_path / out, *options, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
        return proc, tmp_path / out / "errata-node" / "container" / "oci"

    _, first = build("one")
    assert dpkg_versions(image_file(first, "/var/lib/dpkg/status"))["builder-errata-test"] == "1.0"

    # The mirror takes an update, dated after every other repository's state: the next build, with the same cache
    # and nothing deleted, bootstraps again, carries it, and is dated by it.
    newer = int(time.time())
    repo.publish([errata("1.0"), errata("2.0")], newer)
    proc, second = build("two")
    assert "the repositories changed since the cached tree was made" in proc.stderr, proc.stderr
    assert dpkg_versions(image_file(second, "/var/lib/dpkg/status"))["builder-errata-test"] == "2.0"
    assert image_file(second, "/usr/share/builder-errata-test/version") == b"2.0\n"
    _, _, config = read_layout(second)
    assert json.loads(config)["created"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newer))

    # No change on the mirror: the same digest.
    proc, third = build("three")
    assert "bootstrapping" not in proc.stderr, proc.stderr
    assert read_layout(third)[0] == read_layout(second)[0]

    # Offline: the cache as it is, though the mirror has moved on, and the build says so.
    repo.publish([errata("3.0")], newer + 60)
    proc, offline = build("four", "--offline")
    assert "offline: base tree from the cache as it is" in proc.stderr, proc.stderr
    assert "asking" not in proc.stderr, proc.stderr
    assert read_layout(offline)[0] == read_layout(second)[0]


@pytest.mark.slow
def test_the_debian_image_has_no_package_older_than_its_repositories_offer(tmp_path: Path):
    """The example's container, built from the mirror's bookworm, bookworm-updates and bookworm-security: apt in the
    image, reading the very repositories the spec names (its sources), finds nothing to upgrade."""
    if reason := why_not_debootstrap():
        skip_or_fail(reason)
    proc = builder("build", ROOT / "examples/debian12-node.yaml", "--only", "container", "--out", tmp_path / "out",
                   env={})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    root = tmp_path / "root"
    root.mkdir()
    layout = tmp_path / "out/debian12-node/container/oci"
    _, manifest, _ = read_layout(layout)
    for layer in manifest["layers"]:
        subprocess.run(["tar", "--numeric-owner", "-xpf", blob_path(layout, layer["digest"]), "-C", root], check=True)
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / "dev").mkdir(exist_ok=True)
    subprocess.run(["mknod", "-m", "666", root / "dev/null", "c", "1", "3"], check=True)  # apt's gpgv writes to it
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(["chroot", root, "apt-get", "-q", "update"], capture_output=True, text=True, env=env)
    assert update.returncode == 0, update.stdout + update.stderr
    simulated = subprocess.run(["chroot", root, "apt-get", "-s", "-o", "APT::Install-Recommends=false", "dist-upgrade"],
                               capture_output=True, text=True, env=env)
    assert simulated.returncode == 0, simulated.stderr
    stale = [line for line in simulated.stdout.splitlines() if line.startswith("Inst ")]
    assert not stale, "older than the spec's repositories offer:\n" + "\n".join(stale)
    # The installed versions are those apt's candidate policy names (every package, not only what dist-upgrade
    # would touch): the status file against `apt-cache policy`'s candidate, package by package.
    installed = dpkg_versions((root / "var/lib/dpkg/status").read_bytes())
    policy = subprocess.run(["chroot", root, "apt-cache", "policy", *sorted(installed)], capture_output=True, text=True,
                            env=env, check=True).stdout
    candidates, name = {}, None
    for line in policy.splitlines():
        if not line.startswith(" "):
            name = line.rstrip(":")
        elif line.strip().startswith("Candidate:"):
            candidates[name] = line.split(":", 1)[1].strip()
    behind = {p: (v, candidates.get(p)) for p, v in installed.items() if candidates.get(p) not in (v, None, "(none)")}
    assert not behind, behind


# ------------------------------------------------------------------ builder verify: stale packages


STATUS = """\
Package: builder-errata-test
Status: install ok installed
Priority: optional
Architecture: all
Version: {version}
Description: a package the tests build

Package: not-from-these-repositories
Status: install ok installed
Architecture: all
Version: 0.1
Description: installed from elsewhere: not judged
"""


USERS = 'users: [{name: ops, admin: true, ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"]}]\n'


def verify_current(spec: Path, root: Path) -> dict:
    proc = builder("verify", spec, "--rootfs", root, "--json", env={})
    assert proc.returncode in (0, 1), proc.stderr
    [result] = [r for r in json.loads(proc.stdout)["results"] if r["item"] == "packages (current)"]
    return result


def node_spec(directory: Path, repo: str) -> Path:
    """A Debian spec of one repository (`repo`: its YAML lines after `- name: ...`)."""
    directory.mkdir(exist_ok=True)
    spec = directory / "node.yaml"
    spec.write_text(f"version: 1\nname: node\ntarget: debian-12\n{USERS}repos:\n  - {repo}")
    return spec


def tree_with(root: Path, version: str) -> Path:
    """A tree whose dpkg status has builder-errata-test at `version` (and a package no repository offers)."""
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/dpkg/status").write_text(STATUS.format(version=version))
    return root


def test_verify_reports_a_package_older_than_the_repositories_offer(local_repo, tmp_path: Path):
    repo, url = local_repo
    repo.publish([errata("1.0"), errata("2.0")], DATE)
    spec = node_spec(tmp_path / "spec", f"name: site\n    baseurl: {url}\n    suites: [site]\n    gpgkey: site.asc\n")
    shutil.copyfile(repo.key.public, tmp_path / "spec" / "site.asc")
    stale = verify_current(spec, tree_with(tmp_path / "root", "1.0"))
    assert stale["status"] == "fail" and "builder-errata-test 1.0 (2.0 offered)" in stale["detail"], stale
    assert "not-from-these-repositories" not in stale["detail"]
    assert verify_current(spec, tree_with(tmp_path / "root", "2.0"))["status"] == "pass"


def test_verify_says_not_checked_when_the_repositories_cannot_be_read(tmp_path: Path):
    spec = node_spec(tmp_path, "name: gone\n    baseurl: http://127.0.0.1:9/debian\n    suites: [bookworm]\n")
    result = verify_current(spec, tree_with(tmp_path / "root", "1.0"))
    assert result["status"] == "n/a" and result["detail"].startswith("not checked: the spec's repositories could not be read")
