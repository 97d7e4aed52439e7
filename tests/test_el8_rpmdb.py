"""An EL 8 container whose rpm database is written by the tree's own rpm, from a local signed repository.

EL 8's rpm writes only Berkeley DB; the host's rpm (Debian 12's 4.18) writes only sqlite. The bootstrap converts the
database after dnf: the host's rpm exports the headers and the tree's own rpm imports them in a chroot. No EL 8
mirror is reachable here, so the tree's rpm is a stand-in that writes Berkeley DB as EL 8's does: Debian 11's rpm 4.16
(support.bdbrpm), packaged as "rpm" with the other stand-ins (support.rpmrepo.el_userland). What this proves: the
conversion's order and commands, that the result is a Berkeley DB database (a Packages file, no rpmdb.sqlite) holding
exactly the installed packages, readable by the host's rpm (read-only bdb_ro) and by the tree's own rpm, `rpm -Va`
clean, and the image the same from build to build but for the database's own bytes. What only a real EL 8 mirror proves
(make el-mirror-check EL_MIRROR_EXAMPLE=examples/legacy-rocky8.yaml): that EL 8's rpm 4.14.3 has --importdb and that
its dnf reads what it wrote.

Berkeley DB files are not byte-reproducible: each table carries a 20-byte file id (its metadata page's uid: device,
inode, time and random bytes at creation) and Packages' off-page items have three padding bytes that Berkeley DB never
sets (whatever was in memory). The digest check covers everything else: every other layer byte for byte, and the
database's layer entry by entry but for the database's tables, whose content is compared through rpm instead.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from support import bdbrpm
from support.requirements import skip_or_fail
from support.rpmrepo import GpgKey, Pkg, build_packages, el_userland, make_repo, serve, why_not_repo

from builder import bootstrap
from builder.baseline import Baseline
from builder.baseline.verify import Status, verify_rootfs
from builder.container.image import read_layout
from builder.spec import load_spec

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BASE = ("filesystem", "setup", "basesystem", "bash", "coreutils-single", "grep", "sed", "findutils", "gawk", "shadow-utils",
        "rpm", "dnf", "tzdata", "ca-certificates")
NOT_ASKED = "not-asked-for"     # in the repository, required by nothing: not installed
DB = "var/lib/rpm"


@pytest.fixture(scope="module")
def el8_repo(tmp_path_factory: pytest.TempPathFactory):
    if reason := why_not_repo() or bootstrap.why_not_bootstrap() or bdbrpm.why_not():
        skip_or_fail(reason)
    top = tmp_path_factory.mktemp("el8-repo")
    bdb_rpm = bdbrpm.fetch(top / "bullseye-rpm")
    packages = el_userland(extra_names=BASE, rpm_from=bdb_rpm) + [
        Pkg("glibc-langpack-en", files={"/usr/lib/locale/en_US.utf8/LC_IDENTIFICATION": b"en_US\n"}),
        Pkg("sudo", files={"/usr/bin/sudo": b"#!/bin/sh\nexit 1\n"}),
        Pkg("rocky-release", provides=("system-release", "system-release(releasever) = 8"),
            files={"/etc/os-release": b'NAME="Rocky Linux"\nVERSION="8"\nID="rocky"\nVERSION_ID="8"\n',
                   "/etc/rocky-release": b"Rocky Linux release 8\n"}),
        Pkg(NOT_ASKED, files={"/usr/share/not-asked-for": b"never installed\n"}),
    ]
    rpms = build_packages(packages, top / "build")
    key = GpgKey.generate()
    try:
        make_repo(rpms, top / "signed", key, revision=int(time.time()) + 1)
        with serve(top) as url:
            yield {"url": f"{url}/signed", "key_url": f"{url}/signed/{key.public.name}",
                   "names": {p.name for p in packages}, "bdb_rpm": bdb_rpm}
    finally:
        key.remove()


def spec_text(url: str, key_url: str) -> str:
    return yaml.safe_dump({
        "version": 1, "name": "el8-test", "description": "EL 8 test image", "target": "rocky-8",
        "repos": [{"name": "test-baseos", "baseurl": url + "/", "gpgcheck": True, "gpgkey": key_url}],
        "packages": {"toolset": False, "install": []},
        "users": [{"name": "ops", "admin": True, "sudo_nopasswd": True, "ssh_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3o2Fw8bC2zq9q1m7qFzK5VdJm1f8yQw0nS2c4XrZ1d ops@example.com"]}],
        "locale": "en_US.UTF-8", "timezone": "UTC", "files": [{"path": "/etc/motd", "content": "EL 8 test image\n"}],
    }, sort_keys=False)


def host_rpm(database: Path, *args: str, root: Path | None = None) -> subprocess.CompletedProcess:
    """The host's rpm (4.18) on a copy of a Berkeley DB database: read-only (bdb_ro), as builder.rpmdb reads it."""
    rooted = ["--root", str(root), "--dbpath", "/" + DB] if root is not None else ["--dbpath", str(database)]
    return subprocess.run(["rpm", *rooted, "--define", "_db_backend bdb_ro", *args], capture_output=True, text=True,
                          check=False)


def build(spec: Path, out: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update({"BUILDER_CACHE": str(cache), "DOCKER_HOST": f"unix://{out}-no-engine.sock"})
    return subprocess.run([sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env, check=False)


def layers(out: Path) -> list[tuple[str, dict[str, tuple]]]:
    """(digest, {name: (type, mode, uid, gid, mtime, link, sha256 of the content)}) of every layer, in order."""
    oci = out / "el8-test" / "container" / "oci"
    _, manifest, _ = read_layout(oci)
    found = []
    for layer in manifest["layers"]:
        entries = {}
        with tarfile.open(oci / "blobs" / "sha256" / layer["digest"].split(":")[1]) as archive:
            for member in archive:
                data = archive.extractfile(member).read() if member.isfile() else b""
                entries[member.name] = (member.type, member.mode, member.uid, member.gid, member.mtime, member.linkname,
                                        hashlib.sha256(data).hexdigest())
        found.append((layer["digest"], entries))
    return found


def unpack(out: Path, tree: Path) -> Path:
    oci = out / "el8-test" / "container" / "oci"
    _, manifest, _ = read_layout(oci)
    tree.mkdir()
    for layer in manifest["layers"]:
        with tarfile.open(oci / "blobs" / "sha256" / layer["digest"].split(":")[1]) as archive:
            archive.extractall(tree, filter="fully_trusted")
    return tree


def test_an_el8_container_has_a_berkeley_db_written_by_its_own_rpm(el8_repo, tmp_path: Path):
    spec = tmp_path / "el8-test.yaml"
    spec.write_text(spec_text(el8_repo["url"], el8_repo["key_url"]))
    # Two builds from empty caches (two machines, the same mirror state).
    first, second = build(spec, tmp_path / "one", tmp_path / "cache-one"), build(spec, tmp_path / "two", tmp_path / "cache-two")
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    assert "importing it with EL 8's own rpm (bdb)" in first.stderr, first.stderr[-3000:]
    tree = unpack(tmp_path / "one", tmp_path / "tree")
    database = tree / DB

    # A Berkeley DB database (its Packages table and indexes), no sqlite, no environment regions or locks left.
    names = sorted(p.name for p in database.iterdir())
    assert "Packages" in names and "Name" in names, names
    assert not [n for n in names if n.startswith(("rpmdb.sqlite", "__db.")) or n in (".rpm.lock", ".dbenv.lock")], names
    with (database / "Packages").open("rb") as handle:   # Berkeley DB's hash magic (0x061561) in the metadata page
        assert handle.read(16)[12:16] == (0x061561).to_bytes(4, "little")

    # The host's rpm reads it (read-only) and lists exactly the installed set; so does the tree's own rpm.
    copy = tmp_path / "db-copy"
    shutil.copytree(database, copy)
    listed = host_rpm(copy, "-qa", "--qf", "%{NAME}\n")
    assert listed.returncode == 0 and "error" not in listed.stderr, listed.stderr
    # The packages the repository has but NOT_ASKED and the curl builds EL 8's base does not name (it has
    # libcurl-minimal only: base-images/el-8.yaml), and the spec's key (dnf imported it: a gpg-pubkey header).
    unasked = {NOT_ASKED, "curl-minimal", "curl", "libcurl"}
    assert sorted(listed.stdout.split()) == sorted(el8_repo["names"] - unasked | {"gpg-pubkey"})
    own = subprocess.run(["chroot", str(tree), "rpm", "-qa", "--qf", "%{NAME}\n"], capture_output=True, text=True,
                         check=False, env={"PATH": "/usr/bin:/usr/sbin", "HOME": "/root", "LANG": "C"})
    assert own.returncode == 0 and sorted(own.stdout.split()) == sorted(listed.stdout.split()), own.stderr
    assert "RPM version 4.16" in subprocess.run(["chroot", str(tree), "rpm", "--version"], capture_output=True,
                                                text=True, check=False).stdout

    # builder verify's checks on the tree (what `verify --image` runs): its package checks read the database through
    # builder.rpmdb (the packages installed, their versions against the repository's).
    results = verify_rootfs(Baseline(load_spec(spec)[0], context="container"), tree, "container")
    failures = [str(r) for r in results if r.status is Status.FAIL]
    assert not failures and any(r.status is Status.PASS for r in results), failures

    # rpm -Va: only config files the baseline wrote differ (useradd's /etc/passwd and friends).
    verify = host_rpm(copy, "-Va", root=tree)
    changed = [line for line in verify.stdout.splitlines() if line.split()[1:2] != ["c"]]
    assert not changed, "only config files the baseline wrote differ:\n" + verify.stdout + verify.stderr

    # The second build: every layer the same bytes but the one holding the database, and that one the same entries
    # but for the database's tables (not byte-reproducible: see the module's docstring), whose content rpm compares.
    one, two = layers(tmp_path / "one"), layers(tmp_path / "two")
    assert len(one) == len(two)
    holding = [i for i, (_, entries) in enumerate(one) if f"{DB}/Packages" in entries]
    assert len(holding) == 1
    for index, ((digest_one, entries_one), (digest_two, entries_two)) in enumerate(zip(one, two, strict=True)):
        if index not in holding:
            assert digest_one == digest_two, f"layer {index} differs between two builds"
            continue
        tables = {name for name in entries_one if name.startswith(f"{DB}/") and name.count("/") == 3}
        assert set(entries_one) == set(entries_two)
        assert {n: e for n, e in entries_one.items() if n not in tables} == \
            {n: e for n, e in entries_two.items() if n not in tables}
        assert {n: e[:6] for n, e in entries_one.items() if n in tables} == \
            {n: e[:6] for n, e in entries_two.items() if n in tables}, "the tables' modes, owners and times are the same"
        differing = sorted(n for n in tables if entries_one[n][6] != entries_two[n][6])
        print(f"Berkeley DB tables whose bytes differ between two builds: {len(differing)} of {len(tables)}")
    headers = "%{NAME} %{VERSION}-%{RELEASE} %{INSTALLTID} %{INSTALLTIME} %{SHA1HEADER}\n"
    other = unpack(tmp_path / "two", tmp_path / "tree-two") / DB
    shutil.copytree(other, tmp_path / "db-copy-two")
    assert sorted(host_rpm(copy, "-qa", "--qf", headers).stdout.splitlines()) == \
        sorted(host_rpm(tmp_path / "db-copy-two", "-qa", "--qf", headers).stdout.splitlines())

    # A build from the first build's cached tree (the mirror unchanged): the database's bytes are the cached tree's,
    # so the whole image is the same, every layer and the manifest.
    third = build(spec, tmp_path / "three", tmp_path / "cache-one")
    assert third.returncode == 0, third.stderr[-3000:]
    assert "importing it with EL 8's own rpm" not in third.stderr, "the cached tree was bootstrapped again"
    assert [digest for digest, _ in layers(tmp_path / "three")] == [digest for digest, _ in one]
    manifests = [read_layout(out / "el8-test" / "container" / "oci")[0] for out in (tmp_path / "one", tmp_path / "three")]
    assert manifests[0] == manifests[1]
