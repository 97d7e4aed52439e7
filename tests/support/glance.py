"""A real Glance (from PyPI) on 127.0.0.1, for the publish tests.

Glance and gunicorn go into their own venv under the test cache (their pins
must not touch the project's venv), keyed by what is asked for and the
Python version; the first install takes minutes. The API runs without auth
(paste flavor empty), with sqlite and a file store in a temporary directory,
and is stopped by the PID this module started.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
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


@dataclass(frozen=True)
class Glance:
    url: str
    clouds_yaml: Path
    cloud: str
    store: Path
    log: Path


def _paste_ini(venv: Path) -> Path:
    found = list(venv.glob("etc/glance/glance-api-paste.ini")) + list(venv.glob("lib/python3*/site-packages/etc/glance/glance-api-paste.ini"))
    if not found:
        found = list(venv.rglob("glance-api-paste.ini"))
    if not found:
        raise RuntimeError(f"glance-api-paste.ini not found in {venv}")
    return found[0]


@contextlib.contextmanager
def running_glance(base: Path) -> Iterator[Glance]:
    venv = glance_venv()
    conf, store, lock = base / "etc", base / "images", base / "lock"
    for d in (conf, store, lock, base / "staging"):
        d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (conf / "glance-api.conf").write_text(f"""[DEFAULT]
bind_host = 127.0.0.1
bind_port = {port}
enabled_import_methods = []
[database]
connection = sqlite:///{base / 'glance.sqlite'}
[paste_deploy]
flavor =
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = {store}
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
    env = {**os.environ, "OS_GLANCE_CONFIG_DIR": str(conf)}
    subprocess.run([str(venv / "bin" / "glance-manage"), "--config-dir", str(conf), "db_sync"], env=env, check=True,
                   capture_output=True)
    log = base / "glance.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen([str(venv / "bin" / "gunicorn"), "glance.wsgi.api:application", "-b", f"127.0.0.1:{port}",
                                 "--workers", "1", "--timeout", "600"],
                                env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=base)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_up(url, proc, log)
        clouds = base / "clouds.yaml"
        clouds.write_text(f"clouds:\n  test-glance:\n    auth_type: none\n    image_endpoint_override: {url}\n"
                          f"    image_api_version: '2'\n")
        yield Glance(url, clouds, "test-glance", store, log)
    finally:
        stop(proc, timeout=30)


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
