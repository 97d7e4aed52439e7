"""A local, signed Debian package repository made by the tests: dpkg-deb, a Packages index, a Release file
clear-signed by gpg into InRelease, served on 127.0.0.1 (rpmrepo.serve).

`AptRepo.publish` writes the whole suite again from the packages it is given, as an archive's dinstall
does: a test publishes version 1, builds, publishes version 2 and builds again to see what a mirror that
took an errata update gives. The signing key is rpmrepo's throwaway `GpgKey` (its own GNUPGHOME).
"""
from __future__ import annotations

import email.utils
import gzip
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .rpmrepo import GPG, GpgKey


def why_not_aptrepo() -> str | None:
    for tool, package in (("dpkg-deb", "dpkg"), ("gpg", "gnupg")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    return None


@dataclass(frozen=True)
class Deb:
    """One binary package: `files` maps an absolute path to its content (0644; 0755 when it starts with `#!`)."""
    name: str
    version: str
    files: dict[str, bytes] = field(default_factory=dict)
    depends: tuple[str, ...] = ()
    architecture: str = "all"

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}_{self.architecture}.deb"


def build_deb(package: Deb, directory: Path) -> Path:
    """The .deb of `package` in `directory`, made by dpkg-deb (root-owned files, reproducible timestamps)."""
    stage = directory / f".stage-{package.name}-{package.version}"
    (stage / "DEBIAN").mkdir(parents=True)
    control = [f"Package: {package.name}", f"Version: {package.version}", f"Architecture: {package.architecture}",
               "Maintainer: builder tests <tests@builder.invalid>", "Priority: optional", "Section: misc",
               f"Description: {package.name}, a package the tests build"]
    if package.depends:
        control.append(f"Depends: {', '.join(package.depends)}")
    (stage / "DEBIAN/control").write_text("\n".join(control) + "\n")
    for path, content in package.files.items():
        target = stage / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(0o755 if content.startswith(b"#!") else 0o644)
    deb = directory / package.filename
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(stage), str(deb)], check=True, capture_output=True,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    shutil.rmtree(stage)
    return deb


@dataclass(frozen=True)
class AptRepo:
    """A repository in `root` with one suite and the component main, signed with `key`."""
    root: Path
    suite: str
    key: GpgKey

    def publish(self, packages: list[Deb | Path], date: int) -> None:
        """The suite holds exactly `packages` (made here, or .deb files already built), its Release file dated
        `date` (seconds since 1970)."""
        pool = self.root / "pool" / "main"
        pool.mkdir(parents=True, exist_ok=True)
        entries = []
        for package in packages:
            if isinstance(package, Path):
                deb = pool / package.name
                if not deb.exists():
                    shutil.copyfile(package, deb)
            else:
                deb = pool / package.filename
                if not deb.exists():
                    build_deb(package, pool)
            control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout
            data = deb.read_bytes()
            entries.append(control.rstrip("\n") + f"\nFilename: pool/main/{deb.name}\nSize: {len(data)}\n"
                           f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
        dists = self.root / "dists" / self.suite
        binary = dists / "main" / "binary-amd64"
        binary.mkdir(parents=True, exist_ok=True)
        index = "\n".join(entries).encode()
        (binary / "Packages").write_bytes(index)
        (binary / "Packages.gz").write_bytes(gzip.compress(index, mtime=0))
        sums = []
        for path in sorted(binary.iterdir()):
            body = path.read_bytes()
            sums.append(f" {hashlib.sha256(body).hexdigest()} {len(body)} {path.relative_to(dists)}")
        release = (f"Origin: builder-tests\nLabel: builder-tests\nSuite: {self.suite}\nCodename: {self.suite}\n"
                   f"Date: {email.utils.formatdate(date, usegmt=True)}\nArchitectures: amd64\nComponents: main\n"
                   "SHA256:\n" + "\n".join(sums) + "\n")
        (dists / "Release").write_text(release)
        (dists / "InRelease").unlink(missing_ok=True)
        subprocess.run([GPG, "--homedir", str(self.key.home), "--batch", "--yes", "--pinentry-mode", "loopback",
                        "--passphrase", "", "--local-user", self.key.fingerprint, "--clearsign",
                        "--output", str(dists / "InRelease"), str(dists / "Release")], check=True, capture_output=True)


def download_debs(sources: list[tuple[str, str]], names: list[str], directory: Path) -> dict[str, Path]:
    """The .deb files of `names` as the (mirror URL, suite) `sources` (component main, amd64) offer them, the newest
    version across them (what an image built from them holds), fetched by
    `apt-get download` with an APT configuration of its own under `directory` (the host's sources and lists untouched)."""
    state = directory / "apt"
    (state / "lists/partial").mkdir(parents=True, exist_ok=True)
    (state / "cache/archives/partial").mkdir(parents=True, exist_ok=True)
    (state / "sources.list").write_text("".join(
        f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} {suite} main\n" for mirror, suite in sources))
    (state / "status").write_text("")
    options = ["-o", f"Dir::Etc::SourceList={state / 'sources.list'}", "-o", "Dir::Etc::SourceParts=/nonexistent",
               "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::State::Status={state / 'status'}",
               "-o", f"Dir::Cache={state / 'cache'}", "-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1",
               "-o", "APT::Sandbox::User=root"]
    subprocess.run(["apt-get", "-q", *options, "update"], check=True, capture_output=True, text=True)
    subprocess.run(["apt-get", "-q", *options, "download", *names], check=True, capture_output=True, text=True, cwd=directory)
    found = {}
    for name in names:
        [deb] = sorted(directory.glob(f"{name}_*.deb"))
        found[name] = deb
    return found


def rebuild_deb(deb: Path, directory: Path, suffix: str, change: str, extra: bytes) -> Path:
    """`deb` rebuilt into `directory` as a newer version (its version + `suffix`) whose file `change` has `extra`
    appended (its md5sums line updated), everything else as it was: an errata update that changes one file.
    Appended bytes past an ELF file's sections are never loaded, so a library or program changed so still runs."""
    stage = directory / f".stage-{deb.name}"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(stage)], check=True, capture_output=True)
    control = stage / "DEBIAN/control"
    lines = control.read_text().splitlines()
    version = next(line.split(": ", 1)[1] for line in lines if line.startswith("Version: "))
    control.write_text("\n".join(f"Version: {version}{suffix}" if line.startswith("Version: ") else line for line in lines)
                       + "\n")
    target = stage / change.lstrip("/")
    if target.is_symlink() or not target.is_file():
        raise ValueError(f"{deb.name}: {change} is not a regular file of the package")
    with target.open("ab") as handle:
        handle.write(extra)
    sums = stage / "DEBIAN/md5sums"
    if sums.exists():
        digest = hashlib.md5(target.read_bytes()).hexdigest()  # noqa: S324 (dpkg's own format)
        rel = change.lstrip("/")
        sums.write_text("".join(f"{digest}  {rel}\n" if line.endswith(f"  {rel}") else line + "\n"
                                for line in sums.read_text().splitlines()))
    name = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], check=True, capture_output=True, text=True).stdout.strip()
    arch = subprocess.run(["dpkg-deb", "-f", str(deb), "Architecture"], check=True, capture_output=True, text=True).stdout.strip()
    out = directory / f"{name}_{version.split(':')[-1]}{suffix}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--build", str(stage), str(out)], check=True, capture_output=True,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    shutil.rmtree(stage)
    return out
