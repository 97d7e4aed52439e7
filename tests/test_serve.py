"""`builder serve` on loopback, as an installer and an attacker meet it."""
from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.install_spec import MACS, ROOT, install_spec, mac_key, run
from support.serve import Server, boots, machine_states, report_token, serving

from builder.install.serve import MAX_CONNECTIONS


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
    """What a reader of the tree sees: every public name (symlinks followed), the install state aside."""
    out = {}
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d != ".state"]  # serve may be removing an old generation
        for name in names:
            path = Path(directory, name)
            if path.is_file():
                out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def test_an_install_report_switches_the_machines_entries_to_the_local_disk(server):
    key = mac_key(MACS[0])
    token = report_token(server.root, key)
    before = tree_bytes(server.root)
    assert boots(server.root, key) == {"pxelinux": "install", "grub": "install", "ipxe": "install"}
    status, body, _ = server.post(f"/done/{key}", token)
    assert (status, body) == (200, b"node01.example.com is installed: its PXE entries now boot the local disk\n")
    after = tree_bytes(server.root)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {f"pxelinux.cfg/01-{key}", f"grub.cfg-01-{key}", f"boot-01-{key}.ipxe"}
    assert boots(server.root, key) == {"pxelinux": "local", "grub": "local", "ipxe": "local"}
    state = machine_states(server.root)[key]
    assert state["armed"] is False and state["reported"].endswith(" by 127.0.0.1")
    assert [line for line in server.log.read_text().splitlines() if "POST" in line] == [
        f"127.0.0.1 POST /done/{key} -> 200 node01.example.com is installed: its PXE entries now boot the local disk"]
    assert server.get(f"/.state/current/pxelinux.cfg/01-{key}")[0] == 403  # the state is not served
    status, body, _ = server.post(f"/done/{key}", token)  # a token is good once
    assert status == 409 and b"already reported its install" in body
    assert tree_bytes(server.root) == after and machine_states(server.root)[key] == state


@pytest.mark.parametrize("path, status", [
    ("/done/52-54-00-99-99-99", 404),      # not a machine of the spec
    ("/done/node01.example.com", 400),
    ("/done/../../etc/passwd", 400),
    (f"/done/{MACS[0]}", 400),             # the canonical form only: lower case, dashes
    ("/done/52:54-00:12-34:56", 400),
    (f"/done/{mac_key(MACS[0])}%20", 400),
    (f"/done/{mac_key(MACS[0])}?x=1", 400),
    (f"/done/{mac_key(MACS[0])}/", 400),
    ("/ks/default.cfg", 404),
])
def test_a_report_not_in_the_canonical_form_or_for_an_unknown_machine_changes_nothing(server, path, status):
    token = report_token(server.root, mac_key(MACS[0]))
    before, state = tree_bytes(server.root), machine_states(server.root)
    assert server.post(path, token)[0] == status
    assert tree_bytes(server.root) == before and machine_states(server.root) == state


def test_a_report_needs_the_machines_own_token(server):
    key, other = mac_key(MACS[0]), mac_key(MACS[1])
    before, state = tree_bytes(server.root), machine_states(server.root)
    for token in (None, "x" * 43, report_token(server.root, other), report_token(server.root, key)[:-1]):
        status, body, _ = server.post(f"/done/{key}", token)
        assert status == 403 and b"no valid report token" in body, token
    assert server.request("POST", f"/done/{key}", {"Authorization": f"Basic {report_token(server.root, key)}"})[0] == 403
    assert tree_bytes(server.root) == before and machine_states(server.root) == state
    log = server.log.read_text()
    assert log.count(f"127.0.0.1 POST /done/{key} -> 403 ") == 5
    for machine in MACS:  # only hashes in the state, and no token in the log
        token = report_token(server.root, mac_key(machine))
        assert token not in log and token not in (server.root / ".state/current/machines.json").read_text()
        assert machine_states(server.root)[mac_key(machine)]["tokens"][0] == hashlib.sha256(token.encode()).hexdigest()


def test_rearm_replaces_the_token(server):
    key = mac_key(MACS[2])
    old = report_token(server.root, key)
    assert server.post(f"/done/{key}", old)[0] == 200
    result = run("publish", server.root.parent / "nodes.yaml", "--to", "pxe", "--root", server.root, "--rearm", MACS[2])
    assert result.returncode == 0, result.stderr
    new = report_token(server.root, key)
    assert new != old and boots(server.root, key)["pxelinux"] == "install"
    assert server.post(f"/done/{key}", old)[0] == 403
    assert server.post(f"/done/{key}", new)[0] == 200 and boots(server.root, key)["grub"] == "local"


def test_a_plain_publish_keeps_an_installing_machines_token_good(server):
    key = mac_key(MACS[1])
    first = report_token(server.root, key)  # the kickstart the machine is installing with
    assert run("publish", server.root.parent / "nodes.yaml", "--to", "pxe", "--root", server.root).returncode == 0
    assert report_token(server.root, key) != first
    assert server.post(f"/done/{key}", first)[0] == 200


def test_the_log_escapes_control_characters_and_a_long_path_gets_414(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
        client.sendall(b"GET /ks/%1b[2J\x1b[31m\x07 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert client.recv(4096).split(b" ")[1] in (b"400", b"404")
    for length in (5_000, 65_000):
        status, body, _ = server.get("/ks/" + "a" * length)
        assert status == 414, length
    status, _, _ = server.get("/ks/x", {"X-Long": "b" * 10_000})
    assert status == 431
    log = server.log.read_bytes()
    assert b"Traceback" not in log and not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", log)


def test_slow_and_idle_clients_are_closed_by_the_time_out(server):
    """A client that never finishes its request head, and one that sends nothing, are closed by serve itself."""
    with socket.create_connection(("127.0.0.1", server.port)) as slow, socket.create_connection(("127.0.0.1", server.port)) as idle:
        slow.sendall(b"GET /ks/default.cfg HTTP/1.1\r\n")
        slow.settimeout(120)
        idle.settimeout(120)
        for _ in range(200):  # a header line now and then would keep a thread-per-connection server's reader waiting
            slow.sendall(b"X-A: b\r\n")
            try:
                if slow.recv(1, socket.MSG_DONTWAIT) == b"":
                    break
            except BlockingIOError:
                time.sleep(0.5)
            except ConnectionResetError:
                break
        else:
            pytest.fail("a client sending its head slowly for 100 s was not closed")
        assert idle.recv(1) == b""
    assert server.get("/boot.ipxe")[0] == 200


def listen_backlog(port: int) -> int:
    """The listen socket's backlog, as the kernel reports it (ss: Send-Q of a listening socket)."""
    result = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return int(result.stdout.split()[2])


def test_backlog_and_connection_cap(server):
    assert listen_backlog(server.port) >= 128
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(socket.create_connection(("127.0.0.1", server.port)))
        status, _, _ = server.get("/boot.ipxe")
        assert status == 503
    finally:
        for connection in held:
            connection.close()
    for _ in range(100):  # once they are gone, the next client is served
        if server.get("/boot.ipxe")[0] == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("serve did not serve again after its connections closed")


def test_an_install_report_never_writes_outside_the_tree(server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (server.root / "pxelinux.cfg").rename(tmp_path / "moved")
    (server.root / "pxelinux.cfg").symlink_to(outside)
    key = mac_key(MACS[1])
    assert server.post(f"/done/{key}", report_token(server.root, key))[0] == 200
    assert list(outside.iterdir()) == []
    result = run("publish", server.root.parent / "nodes.yaml", "--to", "pxe", "--root", server.root)
    assert result.returncode == 1 and "leads out of the tree" in result.stderr
    assert list(outside.iterdir()) == []


def test_a_restarted_serve_keeps_an_installed_machine_on_its_local_disk(tmp_path):
    spec, root = install_spec(tmp_path), tmp_path / "tree"
    key = mac_key(MACS[2])
    with serving(spec, root, tmp_path / "serve.log") as first:
        assert first.post(f"/done/{key}", report_token(root, key))[0] == 200
    with serving(spec, root, tmp_path / "serve2.log") as second:
        status, body, _ = second.get(f"/pxelinux.cfg/01-{key}")
        assert status == 200 and b"DEFAULT local\n" in body
        status, body, _ = second.get(f"/pxelinux.cfg/01-{mac_key(MACS[0])}")
        assert status == 200 and b"DEFAULT install\n" in body


def test_head_gives_the_size_and_no_body(reading_server):
    status, body, headers = reading_server.request("HEAD", "/ks/default.cfg")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) == (reading_server.root / "ks/default.cfg").stat().st_size


def test_the_threat_model_in_the_docs_states_serves_limits():
    """docs/pxe-iso.md's threat model table: who can reach serve, what they can try, what stops them, with the
    limits serve really has."""
    from builder.install import serve

    text = (ROOT.parent / "docs/pxe-iso.md").read_text()
    section = text[text.index("## Who can reach serve, and what stops them"):]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == "| who | what they can try | what stops them |" and len(rows) >= 8
    table = "\n".join(rows)
    for phrase in (f"within {serve.HEAD_SECONDS:.0f} s", f"{serve.TOTAL_SECONDS:.0f} s per request",
                   f"{serve.MAX_CONNECTIONS} connections", f"listen backlog {serve.BACKLOG}", f"over {serve.MAX_PATH} characters",
                   f"over {serve.MAX_REQUEST_LINE} bytes get 414", f"over {serve.MAX_HEADER_FIELD} bytes 431", "403", "409"):
        assert phrase in table, phrase
