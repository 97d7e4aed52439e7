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

    def publish(self, packages: list[Deb], date: int) -> None:
        """The suite holds exactly `packages`, its Release file dated `date` (seconds since 1970)."""
        pool = self.root / "pool" / "main"
        pool.mkdir(parents=True, exist_ok=True)
        entries = []
        for package in packages:
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
