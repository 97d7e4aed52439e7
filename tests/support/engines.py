"""A private Docker engine and a registry on loopback, started by the tests and stopped by the PID they got."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .debootstrap import mounts_under
from .processes import free_port, stop


def why_not_engines() -> str | None:
    if os.geteuid() != 0:
        return "needs root: dockerd and the container build"
    for tool, package in (("dockerd", "docker.io"), ("docker-registry", "docker-registry"), ("debootstrap", "debootstrap"),
                          ("zstd", "zstd")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    return None


@dataclass
class Engine:
    """dockerd with its own data-root, exec-root, pidfile and socket under `base`; no bridge, no iptables."""

    base: Path
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.base / 'docker.sock'}"

    def start(self) -> Engine:
        self.base.mkdir(parents=True, exist_ok=True)
        log = (self.base / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "exec"),
             "--pidfile", str(self.base / "docker.pid"), "-H", self.host, "--bridge=none", "--iptables=false",
             "--ip6tables=false", "--storage-driver=overlay2"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited {self.proc.returncode}:\n{(self.base / 'dockerd.log').read_text()[-3000:]}")
            if self.docker("version", check=False).returncode == 0:
                return self
            time.sleep(0.5)
        raise RuntimeError("dockerd did not answer within 120 s")

    def docker(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode:
            raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def stop(self, remove: bool = True) -> None:
        if self.proc is not None:
            stop(self.proc)
        if remove:
            left = mounts_under(self.base)
            for point in sorted(left, reverse=True):  # what a killed dockerd left behind
                subprocess.run(["umount", "-l", point], check=False)
            shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class Registry:
    """Debian's docker-registry (distribution 2.8) on 127.0.0.1, its storage and access log under `base`."""

    base: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    htpasswd: tuple[str, str] | None = None  # (user, password): basic auth, as `registry: auth: htpasswd`
    remote: str | None = None  # a pull-through cache (mirror) of this registry URL, as `proxy: remoteurl:`

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.base / "registry.log"

    def start(self) -> Registry:
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.base / "config.yml"
        text = (f"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {self.base / 'data'}\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n")
        if self.remote:
            text += f"proxy:\n  remoteurl: {self.remote}\n"
        if self.htpasswd:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt  # bcrypt through libxcrypt: the registry reads only bcrypt htpasswd entries

                hashed = crypt.crypt(self.htpasswd[1], crypt.mksalt(crypt.METHOD_BLOWFISH))
            (self.base / "htpasswd").write_text(f"{self.htpasswd[0]}:{hashed}\n")
            text += f"auth:\n  htpasswd:\n    realm: builder-tests\n    path: {self.base / 'htpasswd'}\n"
        config.write_text(text)
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and self.htpasswd:
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"docker-registry exited {self.proc.returncode}:\n{self.log.read_text()[-2000:]}") from None
                time.sleep(0.3)
        raise RuntimeError("docker-registry did not answer within 60 s")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    def requests(self, method: str, fragment: str = "") -> int:
        """How many `METHOD ...fragment...` requests the access log holds."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if f'"{method} /v2/' in line and fragment in line)

    def request_lines(self, method: str, fragment: str = "") -> list[str]:
        """The access log's lines of `METHOD ...fragment...` requests (each ends with the client's User-Agent)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if f'"{method} /v2/' in line and fragment in line]
