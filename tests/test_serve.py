"""`builder serve` on loopback, as an installer and an attacker meet it."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.install_spec import MACS, ROOT, install_spec, mac_key
from support.serve import Server, serving


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(install_spec(tmp_path), tmp_path / "tree", tmp_path / "serve.log") as started:
        yield started


@pytest.fixture(scope="module")
def reading_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One serve for the tests that only read (each starting its own would cost a second of Python start-up)."""
    base = tmp_path_factory.mktemp("serve")
    with serving(install_spec(base), base / "tree", base / "serve.log") as started:
        yield started


def hostname_of(kickstart: bytes) -> str | None:
    match = re.search(rb"--hostname=(\S+)", kickstart)
    return match[1].decode() if match else None


def test_serves_the_published_tree(reading_server):
    server = reading_server
    status, body, headers = server.get("/pxelinux.cfg/default")
    assert status == 200 and body == (server.root / "pxelinux.cfg/default").read_bytes()
    status, body, _ = server.get("/boot.ipxe")
    assert status == 200 and body.startswith(b"#!ipxe\n")


@pytest.mark.parametrize("path, headers, chosen", [
    ("/ks/default.cfg", {}, None),
    ("/ks/default.cfg", {"X-RHN-Provisioning-MAC-0": f"eth0 {MACS[1].upper()}"}, 1),
    ("/ks", {"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:99:99:99", "X-RHN-Provisioning-MAC-1": f"eth1 {MACS[2]}"}, 2),
    ("/ks/default.cfg", {"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:99:99:99"}, None),
    (f"/ks/{MACS[0]}.cfg", {}, 0),
    (f"/ks/{mac_key(MACS[2])}.cfg", {}, 2),
    (f"/ks?mac={MACS[1]}", {}, 1),
    ("/ks?mac=52:54:00:99:99:99", {}, None),
])
def test_picks_the_machines_kickstart_by_mac(reading_server, path, headers, chosen):
    server = reading_server
    status, body, response_headers = server.get(path, headers)
    assert status == 200
    expected = "ks/default.cfg" if chosen is None else f"ks/{mac_key(MACS[chosen])}.cfg"
    assert body == (server.root / expected).read_bytes()
    assert hostname_of(body) == (None if chosen is None else f"node0{chosen + 1}.example.com")
    assert response_headers["X-Builder-Kickstart"] == expected
    assert f'127.0.0.1 GET {path} -> {expected} 200' in server.log.read_text()


def test_refuses_paths_outside_the_tree(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the tree")
    (server.root / "escape").symlink_to(tmp_path)
    (server.root / "ks" / "link.cfg").symlink_to(secret)
    for path in ("/../secret.txt", "/ks/../../secret.txt", "/%2e%2e/secret.txt", "/ks/%2e%2e%2f%2e%2e%2fsecret.txt",
                 "/ks%2f..%2f..%2fsecret.txt", "/escape/secret.txt", "/ks/link.cfg", "/.secret"):
        status, body, _ = server.get(path)
        assert status in (400, 403, 404), path
        assert b"outside the tree" not in body, path
    assert server.get("/escape/secret.txt")[0] == 403
    assert server.get("/..%5csecret.txt")[0] == 400


def test_no_listings_and_missing_files_are_404(reading_server):
    server = reading_server
    for path in ("/", "/pxelinux.cfg/", "/pxelinux.cfg", "/nothing-here"):
        status, body, _ = server.get(path)
        assert (status, body) == (404, b""), path
    log = server.log.read_text()
    assert "127.0.0.1 GET /pxelinux.cfg/ -> - 404" in log


def test_stops_cleanly_on_sigterm(server):
    os.kill(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0


def test_without_root_it_serves_a_temporary_tree_and_removes_it(tmp_path):
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "builder.cli", "serve", str(install_spec(tmp_path)), "--port", "0"],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        while not (match := re.search(r"serving (\S+) at http://127\.0\.0\.1:(\d+)/", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        root = Path(match[1])
        assert (root / "ks/default.cfg").is_file()
        status, body, _ = Server(process, int(match[2]), root, log).get(f"/ks/{mac_key(MACS[0])}.cfg")
        assert status == 200 and hostname_of(body) == "node01.example.com"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert not root.exists()


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("written", [MACS[0], mac_key(MACS[0])])
def test_an_install_report_switches_the_machines_entries_to_the_local_disk(server, written):
    key = mac_key(MACS[0])
    before = tree_bytes(server.root)
    status, body, _ = server.post(f"/done/{written}")
    assert (status, body) == (200, b"node01.example.com is installed: its PXE entries now boot the local disk\n")
    after = tree_bytes(server.root)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {f".installed/{key}", f"pxelinux.cfg/01-{key}", f"grub.cfg-01-{key}", f"boot-01-{key}.ipxe"}
    assert "DEFAULT local\n" in after[f"pxelinux.cfg/01-{key}"].decode() and b"LOCALBOOT 0" in after[f"pxelinux.cfg/01-{key}"]
    assert after[f"boot-01-{key}.ipxe"].endswith(b"\nexit\n") and b"\n  exit\n" in after[f"grub.cfg-01-{key}"]
    assert after[f".installed/{key}"].decode().endswith(" reported by 127.0.0.1\n")
    assert f"127.0.0.1 POST /done/{written} -> 200" in server.log.read_text()
    assert server.get(f"/.installed/{key}")[0] == 403  # the mark is not served
    assert server.post(f"/done/{written}")[0] == 200  # reporting twice changes nothing more
    assert {n for n, d in tree_bytes(server.root).items() if d != after[n]} <= {f".installed/{key}"}  # its time, at most


@pytest.mark.parametrize("path, status", [
    ("/done/52:54:00:99:99:99", 404),      # not a machine of the spec
    ("/done/52-54-00-99-99-99", 404),
    ("/done/node01.example.com", 404),
    ("/done/../../etc/passwd", 404),
    (f"/done/{MACS[0]}/../x", 404),
    ("/ks/default.cfg", 404),
    (f"/done/{MACS[0]}?x=1", 200),           # the query is not part of the MAC
])
def test_an_install_report_for_an_unknown_machine_writes_nothing(server, path, status):
    before = tree_bytes(server.root)
    assert server.post(path)[0] == status
    if status != 200:
        assert tree_bytes(server.root) == before


def test_an_install_report_never_writes_outside_the_tree(server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (server.root / "pxelinux.cfg").rename(tmp_path / "moved")
    (server.root / "pxelinux.cfg").symlink_to(outside)
    status, body, _ = server.post(f"/done/{MACS[1]}")
    assert status == 403 and b"leads out of the tree" in body
    assert list(outside.iterdir()) == [] and not (server.root / ".installed").exists()


def test_a_restarted_serve_keeps_an_installed_machine_on_its_local_disk(tmp_path):
    spec, root = install_spec(tmp_path), tmp_path / "tree"
    key = mac_key(MACS[2])
    with serving(spec, root, tmp_path / "serve.log") as first:
        assert first.post(f"/done/{MACS[2]}")[0] == 200
    with serving(spec, root, tmp_path / "serve2.log") as second:
        status, body, _ = second.get(f"/pxelinux.cfg/01-{key}")
        assert status == 200 and b"DEFAULT local\n" in body
        status, body, _ = second.get(f"/pxelinux.cfg/01-{mac_key(MACS[0])}")
        assert status == 200 and b"DEFAULT install\n" in body
