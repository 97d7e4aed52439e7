"""A real Glance (from PyPI) on 127.0.0.1, for the publish tests.

Glance and gunicorn go into their own venv under the test cache (their pins
must not touch the project's venv), keyed by what is asked for and the
Python version; the first install takes minutes. The API runs without auth
(paste flavor empty), with sqlite and a file store in a temporary directory,
and is stopped by the PID this module started. Several run side by side as the
regions of one clouds.yaml (`running_glances`); one can be killed mid-upload and
started again on the same port and data.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .debootstrap import cache_dir
from .processes import free_port, stop

REQUIREMENTS = ("glance", "gunicorn")


def glance_venv() -> Path:
    key = hashlib.sha256(repr((REQUIREMENTS, sys.version_info[:2])).encode()).hexdigest()[:16]
    venv = cache_dir() / f"glance-venv-{key}"
    done = venv / ".complete"
    if done.exists():
        return venv
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f".glance-venv-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *REQUIREMENTS], check=True)
        freeze = subprocess.run([str(venv / "bin" / "pip"), "freeze"], capture_output=True, text=True, check=True).stdout
        (venv / "freeze.txt").write_text(freeze)
        done.write_text("ok\n")
    return venv


class GlanceServer:
    """One Glance API on a fixed loopback port, with its database and store in `base`: gunicorn, one worker
    of 4 threads (so the image list answers during an upload).

    It runs in a session of its own, so `kill` ends the gunicorn master and its worker at once, as a crash
    would (SIGTERM lets the worker finish the request in progress); `start` again serves the same data."""

    def __init__(self, base: Path, venv: Path):
        self.base, self.venv, self.port = base, venv, free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.store, self.log = base / "images", base / "glance.log"
        self.proc: subprocess.Popen | None = None
        conf, lock = base / "etc", base / "lock"
        for d in (conf, self.store, lock, base / "staging"):
            d.mkdir(parents=True, exist_ok=True)
        (conf / "glance-api.conf").write_text(f"""[DEFAULT]
bind_host = 127.0.0.1
bind_port = {self.port}
enabled_import_methods = []
[database]
connection = sqlite:///{base / 'glance.sqlite'}
[paste_deploy]
flavor =
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = {self.store}
[oslo_concurrency]
lock_path = {lock}
[oslo_policy]
enforce_new_defaults = False
enforce_scope = False
[os_glance_staging_store]
filesystem_store_datadir = {base / 'staging'}
[os_glance_tasks_store]
filesystem_store_datadir = {base / 'tasks'}
""")
        shutil.copyfile(_paste_ini(venv), conf / "glance-api-paste.ini")
        self.env = {**os.environ, "OS_GLANCE_CONFIG_DIR": str(conf)}
        subprocess.run([str(venv / "bin" / "glance-manage"), "--config-dir", str(conf), "db_sync"], env=self.env,
                       check=True, capture_output=True)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def start(self) -> None:
        with open(self.log, "a") as handle:
            self.proc = subprocess.Popen([str(self.venv / "bin" / "gunicorn"), "glance.wsgi.api:application",
                                          "-b", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4", "--timeout", "600"],
                                         env=self.env, stdout=handle, stderr=subprocess.STDOUT, cwd=self.base,
                                         start_new_session=True)
        _wait_up(self.url, self.proc, self.log)

    def kill(self) -> None:
        """SIGKILL the process group this server started (its PID is the group's id): master and worker."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP the process group: the port stays open and nothing answers, as a hung Glance."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=30)
            with contextlib.suppress(ProcessLookupError):  # a worker the master left behind
                os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Glance:
    url: str
    clouds_yaml: Path
    cloud: str
    store: Path
    log: Path
    server: GlanceServer


def _paste_ini(venv: Path) -> Path:
    found = list(venv.glob("etc/glance/glance-api-paste.ini")) + list(venv.glob("lib/python3*/site-packages/etc/glance/glance-api-paste.ini"))
    if not found:
        found = list(venv.rglob("glance-api-paste.ini"))
    if not found:
        raise RuntimeError(f"glance-api-paste.ini not found in {venv}")
    return found[0]


@contextlib.contextmanager
def running_glances(base: Path, clouds: Sequence[str]) -> Iterator[list[Glance]]:
    """One Glance per cloud name (the regions of one operator), each in base/<cloud>, all named in base/clouds.yaml."""
    venv = glance_venv()
    servers: list[GlanceServer] = []
    try:
        for cloud in clouds:
            servers.append(GlanceServer(base / cloud, venv))
            servers[-1].start()
        clouds_yaml = base / "clouds.yaml"
        clouds_yaml.write_text("clouds:\n" + "".join(
            f"  {cloud}:\n    auth_type: none\n    image_endpoint_override: {server.url}\n    image_api_version: '2'\n"
            for cloud, server in zip(clouds, servers, strict=True)))
        yield [Glance(server.url, clouds_yaml, cloud, server.store, server.log, server)
               for cloud, server in zip(clouds, servers, strict=True)]
    finally:
        for server in servers:
            server.stop()


@contextlib.contextmanager
def running_glance(base: Path) -> Iterator[Glance]:
    with running_glances(base, ["test-glance"]) as (glance,):
        yield glance


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"glance exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "v2/images", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"glance did not answer on {url}: {log.read_text()[-3000:]}")
