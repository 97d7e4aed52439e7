"""The EL bootstrap (dnf --installroot) and the EL container image, from a local signed repository.

No EL mirror is reachable here, so the repository is made by the tests (tests/support/rpmrepo.py):
stand-in packages under EL names (the host's bash, coreutils, shadow's tools and rpm with their
libraries), signed with a throwaway key, served on 127.0.0.1. What this proves: the bootstrap contacts
only the spec's repositories, checks every package against the spec's key (an unsigned or wrongly
signed package stops it, and nothing is cached), installs no docs, no weak dependencies and only the
spec's language, leaves a queryable rpm database where EL keeps it, is cached by its inputs; the
container is stripped with `rpm -V` clean, deterministic and passes `builder verify --rootfs`; the
base set's yum, tar, gzip and minimal curl builds are installed and answer in the image (yum: a link to
the dnf-3 stand-in, as EL's yum package ships it), and a spec's full curl replaces the minimal builds
without meeting their conflict (the stand-ins declare it, as EL's do). What only a real EL mirror can
show: that EL's own packages resolve and their scriptlets run in this way, that EL's yum runs dnf, and
what the minimal curl can do (scripts/el-mirror-check runs yum, tar, gzip and curl in the built image).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from support.requirements import skip_or_fail
from support.rpmrepo import (
    Environment,
    GpgKey,
    Group,
    Pkg,
    build_packages,
    comps_xml,
    el_userland,
    make_repo,
    serve,
    why_not_repo,
)

from builder import bootstrap, rpmdb
from builder.baseline import Baseline
from builder.baseline.verify import Status, verify_rootfs
from builder.bootstrap.dnf import DnfRepo, install_langs
from builder.container import plan
from builder.container.image import iso_date, read_layout, sha256_of
from builder.errors import BuilderError
from builder.spec import load_spec, load_spec_text

ROOT = Path(__file__).resolve().parent.parent
BASE = ("filesystem", "setup", "basesystem", "bash", "coreutils-single", "grep", "sed", "findutils", "gawk", "shadow-utils",
        "rpm", "dnf", "tzdata", "ca-certificates", "yum", "tar", "gzip", "curl-minimal", "libcurl-minimal")


def spec_text(url: str, key_url: str | None = None, *, target: str = "centos-stream-9", install: tuple[str, ...] = (),
              gpgcheck: bool = True) -> str:
    repo = {"name": "test-baseos", "baseurl": url + "/", "gpgcheck": gpgcheck}
    if key_url:
        repo["gpgkey"] = key_url
    spec = {"version": 1, "name": "el-test", "description": "EL test image", "target": target, "repos": [repo],
            "packages": {"toolset": False, "install": list(install)},
            "users": [{"name": "ops", "admin": True, "sudo_nopasswd": True, "ssh_keys": [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3o2Fw8bC2zq9q1m7qFzK5VdJm1f8yQw0nS2c4XrZ1d ops@example.com"]}],
            "locale": "en_US.UTF-8", "timezone": "UTC",
            "files": [{"path": "/etc/motd", "content": "EL test image\n"}]}
    return yaml.safe_dump(spec, sort_keys=False)


def load(text: str):
    spec, _, problems = load_spec_text(text)
    assert spec is not None, problems
    return spec


def builder(*args, env: dict | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, **(env or {})})


# ------------------------------------------------------------------ fast: the plan, the command, the refusals


def test_the_dnf_commands_use_only_our_configuration():
    base = bootstrap.base_tree_for(load(spec_text("http://mirror.example/el9", "http://mirror.example/el9/KEY",
                                                  install=("tmux",))))
    metadata, first, second = base.commands(Path("/w/root"), Path("/w"))
    assert metadata[-2:] == ["--refresh", "makecache"]
    for argv in (metadata, first, second):
        assert argv[:2] == ["dnf", "-y"]
        for option in ("--config=/w/dnf.conf", "--installroot=/w/root", "--releasever=9", "--noplugins",
                       "--setopt=reposdir=/w/repos.d", "--setopt=cachedir=/w/cache", "--setopt=varsdir=/w/vars",
                       "--setopt=install_weak_deps=False",
                       "--setopt=tsflags=nodocs", "--setopt=skip_if_unavailable=False"):
            assert option in argv, option
    # glibc requires a langpack: the spec's goes into the first transaction, or dnf would pick any.
    assert set(first[first.index("--") + 1:]) == set(BASE) | {"centos-stream-release", "glibc-langpack-en"}
    assert second[second.index("--") + 1:] == ["sudo", "tmux"]
    dnf = base.bootstrapper
    assert dnf.macros() == "%_dbpath /var/lib/rpm\n%_install_langs en_US.UTF-8:en_US:en\n"
    [repo] = dnf.repos
    assert "gpgcheck=1\n" in repo.repo_file(Path("WORK")) and "gpgkey=http://mirror.example/el9/KEY\n" in repo.repo_file(Path("WORK"))
    assert "skip_if_unavailable=False\n" in repo.repo_file(Path("WORK"))
    assert dnf.repositories() == ["http://mirror.example/el9/", "http://mirror.example/el9/KEY"]


def test_a_centos_stream_url_may_use_stream(tmp_path: Path):
    """$stream comes from centos-stream-release, which is not in the empty installroot: the bootstrap defines it."""
    if shutil.which("dnf") is None:
        skip_or_fail("dnf is not installed (apt-get install dnf)")
    spec = load(spec_text("http://mirror.example/el9", "http://mirror.example/el9/KEY"))
    dnf = replace(bootstrap.base_tree_for(spec).bootstrapper,
                  repos=(DnfRepo("t", f"file://{tmp_path}/mirror/$stream/BaseOS/$basearch/os/", False, ()),))
    assert dnf.variables == (("stream", "9-stream"),)
    (tmp_path / "work").mkdir()
    with pytest.raises(BuilderError) as failure:  # nothing is served there: dnf names the URL it tried
        dnf.bootstrap(tmp_path / "root", tmp_path / "work", log=lambda _: None)
    assert f"{tmp_path}/mirror/9-stream/BaseOS/" in str(failure.value), str(failure.value)
    rocky = load(spec_text("http://mirror.example/el9", "http://mirror.example/el9/KEY", target="rocky-9"))
    assert bootstrap.base_tree_for(rocky).bootstrapper.variables == ()


# What the host's real dnf makes of a command line: its own option parser and configuration reader (dnf.cli, as
# `dnf` runs them), then its configuration dump. Debian 12's dnf 4.14 has no --dump-main-config and, without
# dnf-plugins-core, no `config-manager --dump`: this is the [main] dump both print.
DNF_CONFIG_DUMP = """
import sys, dnf.cli.cli, dnf.cli.option_parser
cli = dnf.cli.cli.Cli(dnf.cli.cli.BaseCli())
opts = dnf.cli.option_parser.OptionParser().parse_main_args(sys.argv[1:])
cli.base.conf._configure_from_options(opts)
print(cli._read_conf_file(opts.releasever).dump())
"""


def dnf_main_config(argv: list[str]) -> dict[str, str]:
    """`key = value` of the [main] dump of the host's dnf (its system python3) for `dnf ARGV`."""
    python = "/usr/bin/python3"
    if shutil.which("dnf") is None or subprocess.run([python, "-c", "import dnf"], capture_output=True).returncode:
        skip_or_fail("dnf is not installed (apt-get install dnf)")
    proc = subprocess.run([python, "-c", DNF_CONFIG_DUMP, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {key.strip(): value.strip() for key, _, value in (line.partition("=") for line in proc.stdout.splitlines()[1:])}


# EL 8's bootstrap is refused today (test_rhel_and_el8_are_refused_with_a_reason): its dnf is EL 9's with release 8.
@pytest.mark.parametrize("target, releasever, platform", [
    ("rocky-9", "8", "platform:el8"), ("centos-stream-9", None, "platform:el9"), ("alma-9", None, "platform:el9"),
    ("alma-10", None, "platform:el10")])
def test_every_dnf_of_the_bootstrap_has_the_releases_module_platform(tmp_path: Path, target, releasever, platform):
    dnf = bootstrap.base_tree_for(load(spec_text("http://m.example/el", "http://m.example/K", target=target))).bootstrapper
    dnf = replace(dnf, releasever=releasever or dnf.releasever)
    work = tmp_path / "work"
    dnf.write_config(work)
    for argv in dnf.commands(tmp_path / "root", work):
        assert dnf_main_config(argv[1:])["module_platform_id"] == platform
        # The generated dnf.conf carries it too (for a dnf run without our command line's --setopt).
        alone = [a for a in argv[1:] if not a.startswith("--setopt=module_platform_id=")]
        assert alone != argv[1:]
        assert dnf_main_config(alone)["module_platform_id"] == platform
    (tmp_path / "empty.conf").write_text("[main]\n")     # dnf's own default: no platform (an unset option is not dumped)
    assert "module_platform_id" not in dnf_main_config([f"--config={tmp_path}/empty.conf", "--releasever=9",
                                                        f"--installroot={tmp_path}/root", "makecache"])


def test_el10_keeps_its_rpm_database_in_sysimage():
    base = bootstrap.base_tree_for(load(spec_text("http://m.example/el10", "http://m.example/K", target="alma-10")))
    assert base.bootstrapper.dbpath == "/usr/lib/sysimage/rpm" and base.bootstrapper.releasever == "10"


def test_an_el8_trees_database_is_exported_by_the_host_and_imported_by_the_trees_own_rpm():
    """After the dnf transactions (which the host's rpm writes in sqlite): the host's rpmdb exports the headers, then
    rpmdb inside the tree (chroot) imports them, into the release's database place; EL 9 has no conversion, and the
    conversion is part of the cache key."""
    el8 = bootstrap.base_tree_for(load(spec_text("http://m.example/el8", "http://m.example/K", target="rocky-8")))
    commands = el8.commands(Path("/R"), Path("/W"))
    assert [argv[0] for argv in commands] == ["dnf", "dnf", "dnf", "rpmdb", "chroot"]
    assert commands[-2] == ["rpmdb", "--dbpath", "/W/rpmdb-copy", "--exportdb", ">", "/W/rpmdb.export"]
    assert commands[-1] == ["chroot", "/R", "rpmdb", "--dbpath", "/var/lib/rpm", "--importdb", "<", "/W/rpmdb.export"]
    # The plan shows the redirections as a shell line would: the export goes to a file and the import reads it.
    assert el8.command_line(Path("/R"), Path("/W")).endswith(
        " && rpmdb --dbpath /W/rpmdb-copy --exportdb > /W/rpmdb.export"
        " && chroot /R rpmdb --dbpath /var/lib/rpm --importdb < /W/rpmdb.export")
    el9 = bootstrap.base_tree_for(load(spec_text("http://m.example/el8", "http://m.example/K", target="rocky-9")))
    assert [argv[0] for argv in el9.commands(Path("/R"), Path("/W"))] == ["dnf", "dnf", "dnf"]
    assert ["rpmdb", "bdb"] in el8.bootstrapper.inputs() and ["rpmdb", "bdb"] not in el9.bootstrapper.inputs()
    assert "rpmdb" in el8.host_tools


def test_the_database_format_is_read_from_its_files_and_a_berkeley_db_is_left_closed(tmp_path: Path):
    """rpm's own files tell the format: sqlite (what the host's rpm --initdb writes) or Berkeley DB (Packages and the
    index tables); the host's rpm reads the latter read-only (bdb_ro), and settling drops Berkeley DB's environment."""
    sqlite = tmp_path / "sqlite"
    subprocess.run(["rpm", "--dbpath", str(sqlite), "--initdb"], check=True)
    assert rpmdb.backend(sqlite) == "sqlite" and "bdb_ro" not in " ".join(rpmdb.export_command(sqlite))
    bdb = tmp_path / "bdb"
    bdb.mkdir()
    for name in ("Packages", "Name", "Basenames", "__db.001", "__db.002", ".dbenv.lock"):
        (bdb / name).write_bytes(b"\0" * 16)
    assert rpmdb.backend(bdb) == "bdb" and rpmdb.backend(tmp_path) is None
    assert rpmdb.export_command(bdb) == ["rpmdb", "--dbpath", str(bdb), "--define", "_db_backend bdb_ro", "--exportdb"]
    assert rpmdb.settle(bdb) == [".dbenv.lock", "__db.001", "__db.002"]
    assert sorted(p.name for p in bdb.iterdir()) == ["Basenames", "Name", "Packages"]


def test_install_langs_follow_the_locale():
    assert install_langs("en_US.UTF-8") == "en_US.UTF-8:en_US:en"
    assert install_langs("de_DE") == "de_DE:de"
    assert install_langs("C.UTF-8") == "C" and install_langs("POSIX") == "C"


def test_the_cache_key_changes_with_every_input():
    def key(url="http://m.example/el9", key_url="http://m.example/K", install=()):
        return bootstrap.base_tree_for(load(spec_text(url, key_url, install=install))).key

    same = key()
    assert key() == same
    assert len({same, key(url="http://other.example/el9"), key(key_url="http://m.example/K2"), key(install=("tmux",))}) == 4


def test_rhel_is_refused_with_a_reason_and_el8_is_not(tmp_path: Path):
    for target in ("rhel-9", "rhel-8"):
        spec = tmp_path / f"{target}.yaml"
        spec.write_text(spec_text("http://m.example/el", "http://m.example/K", target=target))
        proc = builder("build", spec, "--only", "container", "--out", tmp_path / "out")
        assert proc.returncode == 2, proc.stderr
        assert "subscription" in proc.stderr and "Berkeley" not in proc.stderr and "hint:" in proc.stderr
    assert not (tmp_path / "out").exists()
    spec = tmp_path / "rocky-8.yaml"
    spec.write_text(spec_text("http://m.example/el", "http://m.example/K", target="rocky-8"))
    proc = builder("build", spec, "--only", "container", "--out", tmp_path / "out", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "--exportdb" in proc.stdout and "rpmdb --dbpath /var/lib/rpm --importdb" in proc.stdout


def test_gpgcheck_without_a_key_is_refused_before_anything_runs(tmp_path: Path):
    spec = tmp_path / "el.yaml"
    spec.write_text(spec_text("http://m.example/el9"))
    for extra in ((), ("--dry-run",)):
        proc = builder("build", spec, "--only", "container", "--out", tmp_path / "out", *extra)
        assert proc.returncode != 0
        assert f"{spec}:6: repos[0].gpgkey: gpgcheck is on" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_dry_run_names_only_the_specs_repositories(tmp_path: Path):
    spec = tmp_path / "el.yaml"
    spec.write_text(spec_text("http://mirror.internal.example.com/el9/BaseOS", "http://mirror.internal.example.com/el9/KEY"))
    proc = builder("build", spec, "--only", "container", "--dry-run", "--out", tmp_path / "out",
                   env={"BUILDER_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert "dnf -y" in proc.stdout and "--installroot=WORK/root" in proc.stdout
    urls = set(re.findall(r"https?://\S+", proc.stdout))
    assert urls == {"http://mirror.internal.example.com/el9/BaseOS/", "http://mirror.internal.example.com/el9/KEY"}
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


# ------------------------------------------------------------------ slow: a real bootstrap from a served, signed repository


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory):
    """Three repositories of the same packages: signed with the spec's key, unsigned, signed with another key."""
    if reason := why_not_repo() or bootstrap.why_not_bootstrap():
        skip_or_fail(reason)
    top = tmp_path_factory.mktemp("el-repo")
    extra = [
        Pkg("docs-and-langs", files={"/usr/bin/hello": b"#!/bin/sh\necho hello\n"},
            docs={"/usr/share/doc/docs-and-langs/README": b"read me\n", "/usr/share/man/man1/hello.1": b".TH hello 1\n"},
            langs={"en": {"/usr/share/locale/en/LC_MESSAGES/hello.mo": b"en"},
                   "de": {"/usr/share/locale/de/LC_MESSAGES/hello.mo": b"de"}},
            recommends=("weak-extra",)),
        Pkg("weak-extra", files={"/usr/share/weak-extra": b"installed only as a weak dependency\n"}),
        Pkg("glibc-langpack-en", files={"/usr/lib/locale/en_US.utf8/LC_IDENTIFICATION": b"en_US\n"}),
        Pkg("glibc-langpack-de", files={"/usr/lib/locale/de_DE.utf8/LC_IDENTIFICATION": b"de_DE\n"}),
        Pkg("sudo", files={"/usr/bin/sudo": b"#!/bin/sh\nexit 1\n"}),
        Pkg("centos-stream-release", provides=("system-release", "system-release(releasever) = 9"),
            files={"/etc/os-release": b'NAME="CentOS Stream"\nVERSION="9"\nID="centos"\nVERSION_ID="9"\n',
                   "/etc/centos-release": b"CentOS Stream release 9\n"}),
        *(Pkg(name, files={f"/usr/share/{name}": f"{name}\n".encode()}) for name in GROUPED),
    ]
    rpms = build_packages(el_userland(extra_names=BASE) + extra, top / "build")
    # The metadata's revision (the image's default SOURCE_DATE_EPOCH) is when it was made, as createrepo_c's own
    # default is: later than every packaged file, so no mtime is clamped and `rpm -V` can compare them all.
    revision = int(time.time()) + 1
    key, other = GpgKey.generate(), GpgKey.generate("another key")
    try:
        make_repo(rpms, top / "signed", key, revision=revision, comps=COMPS)
        unsigned = make_repo(rpms, top / "unsigned", None, revision=revision)
        wrong = make_repo(rpms, top / "wrong", other, revision=revision)
        (unsigned / key.public.name).write_bytes(key.public.read_bytes())
        (wrong / key.public.name).write_bytes(key.public.read_bytes())  # the spec's key, not the one that signed
        (top / "spec-key.asc").write_bytes(key.public.read_bytes())  # a key file beside a spec, embedded at load
        with serve(top) as url:
            yield {"revision": revision, "key_file": top / "spec-key.asc",
                   **{name: (f"{url}/{name}", f"{url}/{name}/{key.public.name}") for name in ("signed", "unsigned", "wrong")}}
    finally:
        key.remove()
        other.remove()


# The signed repository's comps data (createrepo_c -g): a group of two, an environment of another group.
GROUPED = ("tools-mandatory", "tools-default", "tools-optional", "extras-mandatory")
COMPS = comps_xml([Group("test-tools", mandatory=("tools-mandatory",), default=("tools-default",), optional=("tools-optional",)),
                   Group("test-extras", mandatory=("extras-mandatory",))],
                  [Environment("test-environment", ("test-extras",))])


def unpack(tarball: Path, root: Path) -> Path:
    root.mkdir()
    subprocess.run(["tar", "--numeric-owner", "--zstd", "-xpf", str(tarball), "-C", str(root)], check=True)
    return root


def rpm(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", *args], capture_output=True, text=True,
                          check=False)


@pytest.mark.slow
def test_the_bootstrap_installs_checked_packages_without_docs_weak_deps_or_other_languages(repos, tmp_path: Path,
                                                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    url, key_url = repos["signed"]
    base = bootstrap.base_tree_for(load(spec_text(url, key_url, install=("docs-and-langs",))))
    tarball = bootstrap.ensure_cached(base, log=lambda _: None)
    record = json.loads(base.record.read_text())
    assert record["mirror_date"] == repos["revision"]
    root = unpack(tarball, tmp_path / "root")
    assert (root / "var/lib/rpm/rpmdb.sqlite").is_file() and not (root / "root/.rpmdb").exists()
    installed = set(rpm(root, "-qa", "--qf", "%{NAME}\n").stdout.split())
    assert set(BASE) | {"glibc", "glibc-langpack-en", "centos-stream-release", "sudo", "docs-and-langs"} <= installed
    assert (root / "etc/os-release").is_file(), "the release package is named in the base set"
    assert not installed & {"weak-extra", "glibc-langpack-de"}, "weak dependencies are off; only the spec's langpack"
    # rpm counts install times on from SOURCE_DATE_EPOCH: the mirror state's date for the base set's transaction,
    # a second later for the spec's. No clock reading is left in the database.
    tids = dict(line.split() for line in rpm(root, "-qa", "--qf", "%{NAME} %{INSTALLTID}\n").stdout.splitlines())
    assert tids["bash"] == str(repos["revision"]) and tids["sudo"] == str(repos["revision"] + 1), (tids, repos["revision"])
    assert (root / "usr/bin/hello").is_file()
    assert not (root / "usr/share/doc/docs-and-langs").exists() and not (root / "usr/share/man/man1/hello.1").exists()
    assert (root / "usr/share/locale/en/LC_MESSAGES/hello.mo").exists()
    assert not (root / "usr/share/locale/de").exists()
    verify = rpm(root, "-Va")
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
    assert not list((root / "tmp").glob("builder-bootstrap.*")), "dnf's persistor, written at the cache's host path"
    # The second time comes from the cache, byte for byte.
    messages: list[str] = []
    assert bootstrap.ensure_cached(base, log=messages.append) == tarball
    assert len(messages) == 1 and messages[0].startswith(f"base tree from the cache: {tarball.name} "), messages
    assert json.loads(base.record.read_text()) == record


@pytest.mark.slow
def test_the_bootstrap_installs_the_specs_groups_and_environment_from_the_mirrors_comps(repos, tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    url, key_url = repos["signed"]
    base = bootstrap.base_tree_for(load(spec_text(url, key_url, install=("@test-tools", "@^test-environment"))))
    root = unpack(bootstrap.ensure_cached(base, log=lambda _: None), tmp_path / "root")
    installed = set(rpm(root, "-qa", "--qf", "%{NAME}\n").stdout.split())
    # What comps.xml says, not what builder computes: mandatory and default members, and the environment's group.
    assert {"tools-mandatory", "tools-default", "extras-mandatory"} <= installed, installed
    assert "tools-optional" not in installed, "an optional member is installed only when asked for"


@pytest.mark.slow
def test_a_group_the_mirror_does_not_have_stops_the_bootstrap(repos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    url, key_url = repos["signed"]
    base = bootstrap.base_tree_for(load(spec_text(url, key_url, install=("@no-such-group",))))
    with pytest.raises(BuilderError) as error:
        bootstrap.ensure_cached(base, log=lambda _: None)
    assert str(error.value).startswith("dnf --installroot failed (exit 1): Module or Group 'no-such-group' is not available"), \
        str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("repo", ["unsigned", "wrong"])
def test_a_package_the_specs_key_did_not_sign_stops_the_bootstrap(repos, repo: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    base = bootstrap.base_tree_for(load(spec_text(*repos[repo])))
    with pytest.raises(BuilderError) as error:
        bootstrap.ensure_cached(base, log=lambda _: None)
    assert "dnf --installroot failed" in str(error.value)
    assert re.search(r"not signed|GPG check FAILED|public key", str(error.value)), str(error.value)
    # Only the entry's lock file stays (builder.locks: a lock file is never removed, or two builds could hold it).
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.suffix != ".lock"], "nothing is cached"


@pytest.mark.slow
def test_an_el_container_from_the_local_repository(repos, tmp_path: Path):
    url, _ = repos["signed"]
    spec = tmp_path / "el-test.yaml"
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "mirror.asc").write_bytes(repos["key_file"].read_bytes())
    spec.write_text(spec_text(url, "keys/mirror.asc"))  # the key given as a file beside the spec: embedded
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    env_clean = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    digests, seconds, logs = [], [], []
    # An empty cache, the same cache again, another empty cache (another machine, the same mirror state).
    for out, cache in (("cold", "cache"), ("cached", "cache"), ("elsewhere", "other-cache")):
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "builder.cli", "build", str(spec), "--only", "container", "--out",
                               str(tmp_path / out)], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                              env={**env_clean, **env, "BUILDER_CACHE": str(tmp_path / cache)}, check=False)
        seconds.append(time.monotonic() - start)
        logs.append(proc.stderr)
        assert proc.returncode == 0, proc.stderr[-3000:]
        manifest, _, _ = read_layout(tmp_path / out / "el-test" / "container" / "oci")
        digests.append(sha256_of(manifest))
    print(f"EL container from the local repository: cold {seconds[0]:.1f} s, cached {seconds[1]:.1f} s")
    assert "dnf: installing" in logs[0] and "base tree from the cache" in logs[1] and "dnf: installing" in logs[2]
    assert digests[0] == digests[1] == digests[2], "same inputs, same image: from the cache and on another machine"
    # The layers, applied in order, make the tree that verify checks.
    oci = tmp_path / "cached" / "el-test" / "container" / "oci"
    _, manifest, config = read_layout(oci)
    assert json.loads(config)["created"] == iso_date(repos["revision"]), "the repository's revision is the build date"
    tree = tmp_path / "tree"
    tree.mkdir()
    names = []
    for layer in manifest["layers"]:
        with tarfile.open(oci / "blobs" / "sha256" / layer["digest"].split(":")[1]) as archive:
            names.append(set(archive.getnames()))
            archive.extractall(tree, filter="fully_trusted")
    *package_files, state, configuration = names  # the default plan: package files split by source package, then two
    history = [entry["created_by"] for entry in json.loads(config)["history"]]
    print("EL container layers:", *(line.rpartition(": ")[2] for line in history))
    bash = next(i for i, layer in enumerate(package_files) if "usr/bin/bash" in layer)
    sudo = next(i for i, layer in enumerate(package_files) if "usr/bin/sudo" in layer)
    # Every stand-in is a sub-package of one source rpm (test-stand-ins): one unit per content.
    assert history[bash].endswith("(distribution: test-stand-ins)"), history
    assert history[sudo].endswith("(packages: test-stand-ins)") and sudo != bash, history
    # The update history comes from the rpm database's changelog: the two el9_N entries of rpmrepo.CHANGELOG.
    rules = plan.Rules(("required",), rpm_dbpath="/var/lib/rpm", stable_update=r"\.el9_[0-9]")
    assert plan.update_history(tree, rules) == {"test-stand-ins": 2}
    assert "var/lib/rpm/rpmdb.sqlite" in state and "etc/motd" in configuration
    # What `builder verify --image` checks once the engine has exported the image (builder/container/verify.py).
    results = verify_rootfs(Baseline(load_spec(spec)[0], context="container"), tree, "container")
    failures = [str(r) for r in results if r.status is Status.FAIL]
    assert not failures and any(r.status is Status.PASS for r in results), failures
    assert not (tree / "boot").exists() and not list(tree.glob("usr/lib/modules/*")) and not list(tree.glob("usr/share/doc/*"))
    assert not list(tree.glob("var/cache/dnf/*")) and not list(tree.glob("var/log/dnf*")) and not list(tree.glob("var/lib/dnf/history*"))
    assert not list(tree.glob("var/lib/rpm/*-wal")) and not list(tree.glob("var/lib/rpm/*-shm"))
    assert not (tree / "var/lib/rpm/.rpm.lock").exists(), "the bootstrap's rpm lock belongs to no package"
    assert (tree / "etc/rpm/macros.builder-container").read_text().endswith("%_install_langs en_US.UTF-8:en_US:en\n")
    assert {"bash", "sudo", "glibc-langpack-en"} <= set(rpm(tree, "-qa", "--qf", "%{NAME}\n").stdout.split())
    verify = rpm(tree, "-Va")
    changed = [line for line in verify.stdout.splitlines() if line.split()[1:2] != ["c"]]
    assert not changed, "only config files the baseline wrote differ:\n" + verify.stdout
    assert re.search(r"^\S+\s+c /etc/passwd$", verify.stdout, re.MULTILINE), "useradd changed /etc/passwd"
    # The installed system checks later installs with the key the bootstrap used, and knows only the spec's repository.
    assert (tree / "etc/pki/rpm-gpg/RPM-GPG-KEY-builder-test-baseos").read_bytes() == repos["key_file"].read_bytes()
    assert [p.name for p in (tree / "etc/yum.repos.d").iterdir()] == ["builder-test-baseos.repo"]
    # What a Dockerfile built on the image runs: `yum` (a link to dnf-3, as EL's yum package ships it), tar, gzip, curl
    # (the stand-ins: yum and curl answer --version only; tar and gzip are the host's builds; the real ones are
    # scripts/el-mirror-check's).
    assert os.readlink(tree / "usr/bin/yum") == "dnf-3" and (tree / "usr/bin/dnf-3").is_file()
    for command, says in (("yum", "builder test stand-in"), ("tar", "tar"), ("gzip", "gzip"), ("curl", "curl")):
        ran = subprocess.run(["chroot", str(tree), f"/usr/bin/{command}", "--version"], capture_output=True, text=True,
                             check=False)
        assert ran.returncode == 0 and says in ran.stdout, (command, ran.stdout, ran.stderr)
    assert {"yum", "tar", "gzip", "curl-minimal", "libcurl-minimal"} <= set(rpm(tree, "-qa", "--qf", "%{NAME}\n").stdout.split())
    assert rpm(tree, "-qf", "--qf", "%{NAME}\n", "/usr/bin/curl").stdout.split() == ["curl-minimal"]


@pytest.mark.slow
def test_a_spec_that_installs_full_curl_gets_it_without_a_conflict(repos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stand-ins conflict as EL's builds do (curl-minimal with curl, libcurl-minimal with libcurl): with the minimal
    pair in the base set, the spec's `dnf install curl` would stop at the conflict. The spec wins: the full builds."""
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    url, key_url = repos["signed"]
    base = bootstrap.base_tree_for(load(spec_text(url, key_url, install=("curl",))))
    root = unpack(bootstrap.ensure_cached(base, log=lambda _: None), tmp_path / "root")
    installed = set(rpm(root, "-qa", "--qf", "%{NAME}\n").stdout.split())
    assert {"curl", "libcurl", "yum", "tar", "gzip"} <= installed
    assert not installed & {"curl-minimal", "libcurl-minimal"}
    assert rpm(root, "-qf", "--qf", "%{NAME}\n", "/usr/bin/curl").stdout.split() == ["curl"]
    # The conflict the rule avoids is real in these stand-ins: the full builds declare it against the minimal ones.
    assert rpm(root, "-q", "--conflicts", "curl").stdout.split() == ["curl-minimal"]
    assert rpm(root, "-q", "--conflicts", "libcurl").stdout.split() == ["libcurl-minimal"]


def test_a_changed_definition_package_changes_the_key():
    spec = load(spec_text("http://m.example/el9", "http://m.example/K"))
    base = bootstrap.base_tree_for(spec)
    other = bootstrap.BaseTree(replace(base.bootstrapper, base_packages=base.bootstrapper.base_packages + ("vim-minimal",)))
    assert other.key != base.key


@pytest.mark.slow
def test_the_el_image_loads_verifies_and_publishes_like_the_debian_one(repos, tmp_path: Path):
    """Loaded into a private Docker engine, `builder verify --image` passes; pushed to a private registry."""
    from support.engines import Engine, Registry, why_not_engines

    if reason := why_not_engines():
        skip_or_fail(reason)
    url, key_url = repos["signed"]
    spec = tmp_path / "el-test.yaml"
    spec.write_text(spec_text(url, key_url))
    # A short base: containerd's sockets live under it, and a unix socket path has at most 107 bytes.
    engine = Engine(Path(tempfile.mkdtemp(prefix="el-engine-")))
    registry = Registry(tmp_path / "registry")
    try:
        engine.start()
        env = {"BUILDER_CACHE": str(tmp_path / "cache"), "DOCKER_HOST": engine.host}
        proc = builder("build", spec, "--only", "container", "--out", tmp_path / "out", env=env)
        assert proc.returncode == 0 and "loaded into the Docker engine" in proc.stderr, proc.stderr[-3000:]
        proc = builder("verify", spec, "--image", "el-test:latest", env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(r"^pass\s+packages\s+all \d+ baseline packages are installed", proc.stdout, re.MULTILINE), proc.stdout
        registry.start()
        proc = builder("publish", spec, "--to", "registry", "--out", tmp_path / "out", "--registry",
                       f"{registry.address}/base/el-test:1", "--plain-http", env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert registry.requests("PUT", "/base/el-test/manifests/1") == 1
    finally:
        registry.stop()
        engine.stop()


# ------------------------------------------------------------------ slow: the newest version, across repositories and over time


def tzdata(version: str) -> Pkg:
    """A newer tzdata stand-in (a base package: the distribution layer's), marked with its version."""
    return Pkg("tzdata", version=version, files={"/usr/share/zoneinfo/UTC": Path("/usr/share/zoneinfo/UTC"),
                                                 "/usr/share/zoneinfo/Etc/UTC": Path("/usr/share/zoneinfo/Etc/UTC"),
                                                 "/usr/share/zoneinfo/VERSION": f"{version}\n".encode()})


def site_tool(version: str, requires: tuple[str, ...] = ()) -> Pkg:
    """A package the spec lists (the second transaction's), marked with its version."""
    return Pkg("site-tool", version=version, requires=requires,
               files={"/usr/share/site-tool/VERSION": f"{version}\n".encode()})


@pytest.mark.slow
def test_the_el_tree_has_the_newest_versions_across_repositories_and_follows_the_mirror(repos, tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch):
    """The base repository has tzdata 1.0 and site-tool 1.0; an updates repository (its own key) has tzdata 2.0 and
    site-tool 2.0: the tree gets 2.0 of both. The updates repository then takes tzdata 3.0: with nothing deleted,
    the next bootstrap request sees the changed repomd.xml, bootstraps again and gets 3.0, dated by that state.
    Then a site-tool 4.0 that needs a package no repository has: the bootstrap fails naming it (best=True), it does
    not silently keep an older site-tool."""
    monkeypatch.setenv("BUILDER_CACHE", str(tmp_path / "cache"))
    base_url, base_key = repos["signed"]
    builds = tmp_path / "rpms"
    rpms = {}
    for index, package in enumerate([site_tool("1.0"), site_tool("2.0"), tzdata("2.0"), tzdata("3.0"),
                                     site_tool("4.0", requires=("libmissing",))]):
        [rpms[(package.name, package.version)]] = build_packages([package], builds / str(index))
    key = GpgKey.generate("updates key")
    served = tmp_path / "served"
    served.mkdir()
    base_with_tool = make_repo([rpms[("site-tool", "1.0")]], served / "base-extra", key, revision=repos["revision"])

    def publish(name: str, packages: list[tuple[str, str]], revision: int) -> None:
        make_repo([rpms[p] for p in packages], served / name, key, revision=revision)
        link = served / "updates"
        link.unlink(missing_ok=True)
        link.symlink_to(name)

    def versions(root: Path) -> dict[str, str]:
        return dict(line.split() for line in rpm(root, "-qa", "--qf", "%{NAME} %{VERSION}\n").stdout.splitlines())

    try:
        publish("updates-1", [("tzdata", "2.0"), ("site-tool", "2.0")], repos["revision"] + 10)
        with serve(served) as url:
            text = yaml.safe_load(spec_text(base_url, base_key, install=("site-tool",)))
            text["repos"] += [{"name": "base-extra", "baseurl": f"{url}/{base_with_tool.name}/",
                               "gpgkey": f"{url}/{base_with_tool.name}/{key.public.name}"},
                              {"name": "updates", "baseurl": f"{url}/updates/", "gpgkey": f"{url}/updates/{key.public.name}"}]
            spec = load(yaml.safe_dump(text, sort_keys=False))
            tree_module = bootstrap.tree
            tree_module.forget_mirror_states()  # a build of its own
            base = bootstrap.base_tree_for(spec)
            first = versions(unpack(bootstrap.ensure_cached(base, log=lambda _: None), tmp_path / "one"))
            assert (first["tzdata"], first["site-tool"]) == ("2.0", "2.0"), first

            publish("updates-2", [("tzdata", "3.0"), ("site-tool", "2.0")], repos["revision"] + 20)
            tree_module.forget_mirror_states()   # the next build
            said: list[str] = []
            second = versions(unpack(bootstrap.ensure_cached(base, log=said.append), tmp_path / "two"))
            assert second["tzdata"] == "3.0", second
            assert any("bootstrapping it again" in line for line in said), said
            assert json.loads(base.record.read_text())["mirror_date"] == repos["revision"] + 20

            publish("updates-3", [("tzdata", "3.0"), ("site-tool", "4.0")], repos["revision"] + 30)
            tree_module.forget_mirror_states()
            with pytest.raises(BuilderError) as failed:
                bootstrap.ensure_cached(base, log=lambda _: None)
            assert re.search(r"best candidate|libmissing", str(failed.value)), str(failed.value)
    finally:
        key.remove()
