"""A local, signed EL package repository made by the tests: rpmbuild, createrepo_c, rpmsign, served on 127.0.0.1.

No EL mirror is reachable from the test machines, so the EL bootstrap is exercised against packages we
build ourselves: `build_packages` turns `Pkg` records into real .rpm files (one rpmbuild run for all of
them), `make_repo` copies them into a directory, signs them with a throwaway `GpgKey` and writes the
repository metadata, and `serve` publishes the directory over HTTP on loopback. The packages are
stand-ins named like EL's: they carry the files a test gives them, not EL's builds.
"""
from __future__ import annotations

import contextlib
import http.client
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .processes import free_port, stop

GPG = "/usr/bin/gpg"  # Debian's rpm names a gpg2 that Debian does not ship


@dataclass(frozen=True)
class Symlink:
    """A symbolic link a package installs (`Pkg.files` value)."""
    target: str


@dataclass(frozen=True)
class Pkg:
    """One package. `files` maps an absolute path to its content (bytes: mode 0755 when it starts with `#!`,
    else 0644, or the mode `modes` gives), a host file to copy (its mode kept) or a `Symlink`. `config` files
    are %config(noreplace), `dirs` owned directories. `docs` are marked %doc and `langs` ({lang: {path:
    content}}) %lang(lang), so rpm's nodocs and %_install_langs apply to them. `post` is a %post scriptlet
    (/bin/sh, run inside the root). `arch` is noarch unless the package holds binaries."""
    name: str
    version: str = "1.0"
    files: Mapping[str, bytes | Path | Symlink] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    recommends: tuple[str, ...] = ()
    docs: Mapping[str, bytes] = field(default_factory=dict)
    langs: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)
    post: str = ""
    provides: tuple[str, ...] = ()
    arch: str = "noarch"
    config: Mapping[str, bytes] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    modes: Mapping[str, int] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()  # Conflicts: (EL's minimal builds and the full packages)


def why_not_repo() -> str | None:
    """Why this host cannot make and use a repository, or None."""
    for tool, package in (("rpmbuild", "rpm"), ("rpmsign", "rpm"), ("createrepo_c", "createrepo-c"),
                          ("gpg", "gpg"), ("dnf", "dnf")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    return None


def build_packages(packages: Iterable[Pkg], topdir: Path) -> list[Path]:
    """Build every package under `topdir` (created; must not exist) in one rpmbuild run; the .rpm paths, in order."""
    packages = list(packages)
    topdir.mkdir(parents=True)
    stage = topdir / "stage"
    stage.mkdir()
    for package in packages:
        _stage(package, stage)
    spec = topdir / "stand-ins.spec"
    spec.write_text(_spec(packages, stage))
    run(["rpmbuild", "-bb", "--define", f"_topdir {topdir}", "--define", f"_dbpath {topdir / 'rpmdb'}", str(spec)],
        "rpmbuild")
    rpms = [topdir / "RPMS" / p.arch / f"{p.name}-{p.version}-1.{p.arch}.rpm" for p in packages]
    missing = [str(path) for path in rpms if not path.is_file()]
    assert not missing, f"rpmbuild did not make {missing}"
    return rpms


def _stage(package: Pkg, stage: Path) -> None:
    for directory in package.dirs:
        (stage / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    contents = {**package.files, **package.docs, **package.config,
                **{path: content for files in package.langs.values() for path, content in files.items()}}
    for path, content in contents.items():
        assert path.startswith("/") and "\n" not in path and '"' not in path, f"bad path {path!r}"
        target = stage / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Symlink):
            target.symlink_to(content.target)
        elif isinstance(content, Path):
            shutil.copyfile(content, target)
            target.chmod(content.stat().st_mode & 0o7777)
        else:
            target.write_bytes(content)
            target.chmod(package.modes.get(path, 0o755 if content.startswith(b"#!") else 0o644))


def _spec(packages: list[Pkg], stage: Path) -> str:
    head = ("Name: test-stand-ins\nVersion: 0\nRelease: 1\nSummary: Packages named like EL's, built by the tests\n"
            "License: MIT\n%global debug_package %{nil}\n%global _build_id_links none\n%global __os_install_post %{nil}\n\n"
            "%description\nNot built: it has no %files.\n\n"
            f"%install\nmkdir -p %{{buildroot}}\ncp -a '{stage}/.' %{{buildroot}}/\n")
    return head + "".join(_subpackage(package) for package in packages) + CHANGELOG


# Two z-stream updates after the GA build, as an EL changelog names them (the layer plan's update history).
CHANGELOG = """
%changelog
* Tue Jan 02 2024 Builder Tests <tests@example.org> - 0-1.el9_3
- A second z-stream update.

* Mon Jan 01 2024 Builder Tests <tests@example.org> - 0-1.el9_2
- A z-stream update.

* Sun Dec 31 2023 Builder Tests <tests@example.org> - 0-1.el9
- The GA build.
"""


def _subpackage(package: Pkg) -> str:
    name = package.name
    tags = [f"Version: {package.version}", f"Summary: {name}", "AutoReqProv: no"]
    tags += [f"Requires: {r}" for r in package.requires]
    tags += [f"Recommends: {r}" for r in package.recommends]
    tags += [f"Provides: {p}" for p in package.provides]
    tags += [f"Conflicts: {c}" for c in package.conflicts]
    if package.arch == "noarch":
        tags.append("BuildArch: noarch")
    files = [f'"{path}"' for path in package.files]
    files += [f'%config(noreplace) "{path}"' for path in package.config]
    files += [f'%dir "{path}"' for path in package.dirs]
    files += [f'%doc "{path}"' for path in package.docs]
    files += [f'%lang({lang}) "{path}"' for lang, paths in package.langs.items() for path in paths]
    post = f"\n%post -n {name}\n{package.post}\n" if package.post else ""
    return (f"\n%package -n {name}\n" + "\n".join(tags) + f"\n\n%description -n {name}\n{name}.\n{post}"
            f"\n%files -n {name}\n%defattr(-,root,root,-)\n" + "\n".join(files) + "\n")


@dataclass(frozen=True)
class GpgKey:
    """A throwaway signing key in a GNUPGHOME of its own (a short path under /tmp: gpg-agent's socket lives
    there); `public` is the armored public key file. `remove()` stops its agent and deletes it."""
    home: Path
    fingerprint: str
    public: Path

    @classmethod
    def generate(cls, name: str = "builder test key") -> GpgKey:
        home = Path(tempfile.mkdtemp(prefix="gpg-"))
        home.chmod(0o700)
        gpg = [GPG, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
        run([*gpg, "--quick-gen-key", f"{name} <test@builder.invalid>", "rsa2048", "sign", "never"], "gpg key")
        listing = subprocess.run([*gpg, "--with-colons", "--list-secret-keys"], capture_output=True, text=True,
                                 check=True).stdout
        fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        public = home / "RPM-GPG-KEY-builder-test"
        public.write_bytes(subprocess.run([*gpg, "--armor", "--export", fingerprint], capture_output=True,
                                          check=True).stdout)
        return cls(home, fingerprint, public)

    def sign(self, rpms: Iterable[Path]) -> None:
        run(["rpmsign", "--addsign", "--define", f"__gpg {GPG}", "--define", f"_gpg_path {self.home}",
             "--define", f"_gpg_name {self.fingerprint}", *map(str, rpms)], "rpmsign")

    def remove(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass(frozen=True)
class Group:
    """A comps group: its id and packages by type (`mandatory` and `default` are installed with the group, `optional`
    only when asked for)."""
    id: str
    mandatory: tuple[str, ...] = ()
    default: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    """A comps environment: its id and the groups it installs."""
    id: str
    groups: tuple[str, ...]


def comps_xml(groups: Iterable[Group], environments: Iterable[Environment] = ()) -> str:
    """The comps file createrepo_c -g adds to a repository's metadata (what `dnf install @ID` and %packages read)."""
    def package_list(group: Group) -> str:
        return "".join(f'      <packagereq type="{kind}">{name}</packagereq>\n'
                       for kind in ("mandatory", "default", "optional") for name in getattr(group, kind))

    body = "".join(f"  <group>\n    <id>{g.id}</id>\n    <name>{g.id}</name>\n    <description>{g.id}</description>\n"
                   f"    <default>false</default>\n    <uservisible>true</uservisible>\n    <packagelist>\n"
                   f"{package_list(g)}    </packagelist>\n  </group>\n" for g in groups)
    body += "".join(f"  <environment>\n    <id>{e.id}</id>\n    <name>{e.id}</name>\n    <description>{e.id}</description>\n"
                    "    <grouplist>\n" + "".join(f"      <groupid>{g}</groupid>\n" for g in e.groups)
                    + "    </grouplist>\n  </environment>\n" for e in environments)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">\n'
            f"<comps>\n{body}</comps>\n")


def make_repo(rpms: Iterable[Path], directory: Path, key: GpgKey | None, revision: int | None = None,
              comps: str | None = None) -> Path:
    """A repository in `directory` (created) holding copies of `rpms`, signed with `key` when given (its public
    key beside them as `key.public.name`); `revision` sets repomd.xml's revision and timestamps; `comps` (comps_xml)
    becomes its group data (createrepo_c -g). Returns `directory`."""
    packages = directory / "Packages"
    packages.mkdir(parents=True)
    copies = [Path(shutil.copy2(rpm, packages / rpm.name)) for rpm in rpms]
    if key is not None:
        key.sign(copies)
        shutil.copyfile(key.public, directory / key.public.name)
    dated = ["--revision", str(revision), "--set-timestamp-to-revision"] if revision is not None else []
    grouped = []
    if comps is not None:
        (directory / "comps.xml").write_text(comps)
        grouped = ["-g", str(directory / "comps.xml")]
    run(["createrepo_c", "--quiet", *dated, *grouped, str(directory)], "createrepo_c")
    return directory


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (a free port); yields the base URL, stops the server by its PID."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                                str(directory), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            assert process.poll() is None, f"http.server on port {port} exited {process.returncode}"
            assert time.monotonic() < deadline, f"http.server on port {port} did not answer"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("HEAD", "/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{tail}")


# ------------------------------------------------------------------ a chroot userland, as stand-ins for EL packages

# EL package name -> the host (Debian) programs that stand in for it. Enough for the baseline script of a
# container (bash, coreutils, grep, find, getent, useradd/usermod/groupadd, rpm -q) to run in a chroot.
USERLAND = {
    "bash": ("/usr/bin/bash",),
    "coreutils-single": tuple(f"/usr/bin/{tool}" for tool in (
        "base64", "basename", "cat", "chgrp", "chmod", "chown", "cp", "cut", "date", "dirname", "echo", "env", "false",
        "head", "id", "install", "ln", "ls", "mkdir", "mktemp", "mv", "printf", "readlink", "rm", "rmdir",
        "sha256sum", "sleep", "sort", "stat", "tail", "touch", "tr", "true", "uniq", "wc")),
    "grep": ("/usr/bin/grep",),
    "sed": ("/usr/bin/sed",),
    "findutils": ("/usr/bin/find", "/usr/bin/xargs"),
    "shadow-utils": ("/usr/sbin/useradd", "/usr/sbin/usermod", "/usr/sbin/groupadd", "/usr/sbin/chpasswd"),
    "rpm": ("/usr/bin/rpm",),
    "glibc": ("/usr/bin/getent",),
    "tar": ("/usr/bin/tar",),
    "gzip": ("/usr/bin/gzip",),
}
LIBDIR = "/usr/lib/x86_64-linux-gnu"
LOADER = "ld-linux-x86-64.so.2"


def _libraries(programs: Iterable[str], library_path: Path | None = None) -> dict[str, Path]:
    """Tree path -> host file of every shared library the programs load (their `ldd`, with `library_path` searched
    first), the loader included."""
    found: dict[str, Path] = {}
    env = {"LD_LIBRARY_PATH": str(library_path)} if library_path is not None else None
    for program in programs:
        out = subprocess.run(["ldd", program], capture_output=True, text=True, check=True, env=env).stdout
        assert "not found" not in out, f"{program} needs a library that is not there:\n{out}"
        for line in out.splitlines():
            words = line.split()
            path = words[2] if "=>" in words and len(words) > 2 else words[0]
            if path.startswith("/"):
                real = Path(path).resolve()
                found[f"{LIBDIR}/{Path(path).name}"] = real
    return found


def el_userland(dbpath: str = "/var/lib/rpm", *, extra_names: Iterable[str] = (), rpm_from: Path | None = None) -> list[Pkg]:
    """Stand-ins for an EL base package set: the host's bash, coreutils, grep, sed, find, getent, shadow's
    useradd/usermod/groupadd/chpasswd and rpm (with their `ldd` libraries in `glibc`), under EL package names,
    plus `filesystem` (the usrmove links), `setup` (/etc/passwd and friends, %config) and `tzdata` (UTC), the host's
    tar and gzip, and the command stand-ins of dnf, yum and the curl builds (el_commands).
    They are NOT EL's builds: they prove that the bootstrap, the baseline in a chroot and the image work on an
    rpm tree, not that EL's own programs behave like Debian's. `extra_names` become empty packages.
    `rpm_from`: another rpm's unpacked files (usr/bin/rpm and rpmdb, usr/lib/rpm, its libraries in LIBDIR) stand in
    for the host's rpm, with their own libraries in the rpm package: EL 8's Berkeley-DB-writing rpm (support.bdbrpm)."""
    userland = {name: tools for name, tools in USERLAND.items() if rpm_from is None or name != "rpm"}
    programs = [program for programs in userland.values() for program in programs]
    libraries = _libraries(programs)
    binaries = {name: {program: Path(program).resolve() for program in programs} for name, programs in userland.items()}
    binaries["bash"]["/usr/bin/sh"] = Symlink("bash")
    binaries["glibc"].update(libraries)
    binaries["glibc"][f"/usr/lib64/{LOADER}"] = Symlink(f"../lib/x86_64-linux-gnu/{LOADER}")
    if rpm_from is None:
        binaries["rpm"].update({"/usr/lib/rpm/rpmrc": Path("/usr/lib/rpm/rpmrc"), "/usr/lib/rpm/macros": Path("/usr/lib/rpm/macros"),
                                "/usr/lib/rpm/macros.d/macros.dbpath": f"%_dbpath {dbpath}\n".encode()})
    else:
        tools = [rpm_from / "usr/bin/rpm", rpm_from / "usr/bin/rpmdb"]
        binaries["rpm"] = {f"/usr/bin/{tool.name}": tool for tool in tools}
        binaries["rpm"].update({path: file for path, file in _libraries(map(str, tools), rpm_from / LIBDIR.lstrip("/")).items()
                                if path not in libraries})
        binaries["rpm"].update({"/usr/lib/rpm/rpmrc": rpm_from / "usr/lib/rpm/rpmrc",
                                "/usr/lib/rpm/macros": rpm_from / "usr/lib/rpm/macros",
                                "/usr/lib/rpm/macros.d/macros.dbpath":
                                    f"%_dbpath {dbpath}\n%_db_backend bdb\n".encode()})
    requires = {"bash": ("glibc", "filesystem"), "coreutils-single": ("glibc",), "grep": ("glibc",), "sed": ("glibc",),
                "findutils": ("glibc",), "shadow-utils": ("glibc", "setup"), "rpm": ("glibc", "bash"),
                "glibc": ("filesystem",), "tar": ("glibc",), "gzip": ("glibc",)}
    packages = [Pkg(name, files=files, requires=requires.get(name, ()), arch="x86_64") for name, files in binaries.items()]
    packages += [
        Pkg("filesystem", files={"/bin": Symlink("usr/bin"), "/sbin": Symlink("usr/sbin"), "/lib": Symlink("usr/lib"),
                                 "/lib64": Symlink("usr/lib64")},
            dirs=("/etc", "/home", "/root", "/tmp", "/var", "/var/tmp", "/var/log", "/var/lib", "/var/cache", "/usr",
                  "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/share", "/proc", "/dev", "/sys", "/run")),
        Pkg("setup", requires=("filesystem",), modes={"/etc/shadow": 0, "/etc/gshadow": 0},
            config={"/etc/passwd": b"root:x:0:0:root:/root:/bin/bash\n",
                    "/etc/group": b"root:x:0:\nwheel:x:10:\n",
                    "/etc/shadow": b"root:*:19000:0:99999:7:::\n",
                    "/etc/gshadow": b"root:::\nwheel:::\n",
                    "/etc/nsswitch.conf": b"passwd: files\nshadow: files\ngroup: files\nhosts: files\n",
                    "/etc/login.defs": Path("/etc/login.defs").read_bytes(),
                    "/etc/default/useradd": b"GROUP=100\nHOME=/home\nSHELL=/bin/bash\nCREATE_MAIL_SPOOL=no\n"}),
        Pkg("tzdata", files={"/usr/share/zoneinfo/UTC": Path("/usr/share/zoneinfo/UTC"),
                             "/usr/share/zoneinfo/Etc/UTC": Path("/usr/share/zoneinfo/Etc/UTC")}),
    ]
    packages += el_commands()
    packages += [Pkg(name) for name in extra_names if name not in {p.name for p in packages}]
    return packages


# EL's dnf-3 (python3-dnf) answers `--version`; the stand-in answers that only, and says what it is.
DNF_STAND_IN = b"""#!/bin/bash
# builder's test stand-in for EL's dnf-3: it answers --version only.
if [ "${1:-}" = --version ]; then echo "4.14.0 (builder test stand-in)"; exit 0; fi
echo "dnf-3 stand-in: only --version is answered" >&2
exit 1
"""


# EL's curl answers --version. The stand-in of either build (curl, curl-minimal) is this one script: the packages share
# one buildroot, so a path has one content; `rpm -qf /usr/bin/curl` tells the builds apart.
CURL_STAND_IN = b"""#!/bin/bash
# builder's test stand-in for EL's curl (curl or curl-minimal): it answers --version only.
if [ "${1:-}" = --version ]; then echo "curl 7.76.1 (builder test stand-in)"; exit 0; fi
echo "curl stand-in: only --version is answered" >&2
exit 1
"""


def el_commands() -> list[Pkg]:
    """Stand-ins for the commands an EL base gives a Dockerfile built on it: `dnf` (/usr/bin/dnf-3, /usr/bin/dnf a link
    to it, as EL's python3-dnf and dnf ship them), `yum` (/usr/bin/yum, a link to dnf-3, as EL's yum package ships it);
    the curl builds, conflicting as EL's do: curl-minimal with curl, libcurl-minimal with libcurl (curl and
    curl-minimal need a libcurl: the full one or the minimal one). tar and gzip are the host's (USERLAND)."""
    return [
        Pkg("dnf", files={"/usr/bin/dnf-3": DNF_STAND_IN, "/usr/bin/dnf": Symlink("dnf-3")}, requires=("bash",)),
        Pkg("yum", files={"/usr/bin/yum": Symlink("dnf-3")}, requires=("dnf",)),
        Pkg("curl-minimal", files={"/usr/bin/curl": CURL_STAND_IN}, requires=("libcurl-minimal",),
            conflicts=("curl",)),
        Pkg("libcurl-minimal", conflicts=("libcurl",)),
        Pkg("curl", files={"/usr/bin/curl": CURL_STAND_IN}, requires=("libcurl",), conflicts=("curl-minimal",)),
        Pkg("libcurl", conflicts=("libcurl-minimal",)),
    ]
