"""The install state under concurrent writers and crashes: publish (--rearm) and serve's reports, kill -9 of serve."""
from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import pytest
from support.install_spec import INSTALL_SPEC, MACS, install_spec, mac_key
from support.serve import boots, machine_states, report_token, serving

from builder.install.pxe import publish
from builder.spec import load_spec

KEYS = [mac_key(m) for m in MACS]


def mixed(root: Path) -> list[str]:
    """Machines whose loaders disagree, or whose entries disagree with their state."""
    states = machine_states(root)
    out = []
    for key in KEYS:
        seen = set(boots(root, key).values())
        expected = {"install" if states[key]["armed"] else "local"}
        if seen != expected:
            out.append(f"{key}: entries {boots(root, key)}, armed {states[key]['armed']}")
    return out


def leftovers(root: Path) -> list[str]:
    state = root / ".state"
    current = os.readlink(state / "current")
    previous = f"gen-{int(current.removeprefix('gen-')) - 1:08d}"  # kept for a reader that resolved it before the switch
    extra = [p.name for p in state.iterdir() if p.name not in ("lock", "current", current, previous)]
    return extra + [p.relative_to(root).as_posix() for p in root.rglob(".*.tmp")]


def test_publish_and_rearm_racing_reports_never_leave_a_reported_machine_installing(tmp_path):
    """50 races: publish (plain, or --rearm of another machine) in this process, a report to serve at a random moment."""
    spec_path = install_spec(tmp_path)
    root = tmp_path / "tree"
    spec, _, _ = load_spec(spec_path)
    rng = random.Random(18)
    reported = installing_after_200 = 0
    with serving(spec_path, root, tmp_path / "serve.log") as server:
        for race in range(50):
            machine, other = rng.sample(range(len(MACS)), 2)
            key = KEYS[machine]
            if not machine_states(root)[key]["armed"]:
                publish(spec, spec_path, root, rearm=(MACS[machine],))
            token = report_token(root, key)
            rearm = (MACS[other],) if race % 2 else ()
            failures: list[BaseException] = []

            def publishing(rearm=rearm, failures=failures) -> None:
                try:
                    publish(spec, spec_path, root, rearm=rearm)
                except BaseException as exc:  # noqa: BLE001 - reported by the test below
                    failures.append(exc)

            publisher = threading.Thread(target=publishing)
            publisher.start()
            threading.Event().wait(rng.uniform(0, 0.3))
            status, body, _ = server.post(f"/done/{key}", token)
            publisher.join()
            assert failures == [] and status == 200, (failures, body)
            reported += 1
            if set(boots(root, key).values()) != {"local"} or machine_states(root)[key]["armed"]:
                installing_after_200 += 1
            assert mixed(root) == []
    assert (reported, installing_after_200) == (50, 0)


def test_stale_temporary_files_are_removed_when_serve_starts(tmp_path):
    spec_path, root = install_spec(tmp_path), tmp_path / "tree"
    spec, _, _ = load_spec(spec_path)
    publish(spec, spec_path, root)
    stale = [root / ".state/.gen-00000099.tmp/ks/x.cfg", root / ".state/gen-00000098/pxelinux.cfg/01-x",
             root / f"pxelinux.cfg/.01-{KEYS[0]}.a1b2c3.tmp", root / ".grub.cfg.x9y8.tmp", root / "ks/.default.cfg.k2j3.tmp",
             root / ".state/.current.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("left by a killed writer")
    (root / ".keep").write_text("not ours")
    with serving(spec_path, root, tmp_path / "serve.log") as server:
        assert server.get("/boot.ipxe")[0] == 200
    assert [p for p in stale if p.exists()] == [] and leftovers(root) == []
    assert (root / ".keep").read_text() == "not ours"


@pytest.mark.slow
def test_kill_9_during_reports_never_leaves_a_mixed_state(tmp_path):
    """30 times: every machine reports at once, serve is killed at a random moment, then started again."""
    spec_path, root = install_spec(tmp_path), tmp_path / "tree"
    spec, _, _ = load_spec(spec_path)
    rng = random.Random(9)
    mixed_states, answered = [], 0
    for kill in range(30):
        publish(spec, spec_path, root, rearm=MACS)
        with serving(spec_path, root, tmp_path / f"serve-{kill}.log") as server:
            tokens = {key: report_token(root, key) for key in KEYS}
            results: list[int] = []

            def report(key: str, server=server, tokens=tokens, results=results) -> None:
                try:
                    results.append(server.post(f"/done/{key}", tokens[key])[0])
                except OSError:
                    pass  # killed before it answered

            reporters = [threading.Thread(target=report, args=(key,)) for key in KEYS]
            for reporter in reporters:
                reporter.start()
            threading.Event().wait(rng.uniform(0, 0.06))
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=30)
            for reporter in reporters:
                reporter.join()
            answered += results.count(200)
        with serving(spec_path, root, tmp_path / f"restart-{kill}.log") as again:
            assert again.get("/boot.ipxe")[0] == 200
            mixed_states += mixed(root)
            assert leftovers(root) == []
    assert mixed_states == []
    print(f"{answered} of {30 * len(KEYS)} reports answered 200 before the kill")


def test_reports_arriving_together_share_transactions(tmp_path):
    """40 machines report at once: they do not each wait for a transaction (and its flush) of their own."""
    macs = [f"52:54:00:ab:00:{i:02x}" for i in range(40)]
    spec_path = install_spec(tmp_path, text=INSTALL_SPEC[:INSTALL_SPEC.index("  machines:\n")] + "  machines:\n" + "".join(
        f'    - {{hostname: n{i:02d}.example.com, mac: "{mac}"}}\n' for i, mac in enumerate(macs)))
    root = tmp_path / "tree"
    with serving(spec_path, root, tmp_path / "serve.log") as server:
        before = int(os.readlink(root / ".state/current").removeprefix("gen-"))
        tokens = {mac_key(mac): report_token(root, mac_key(mac)) for mac in macs}
        results: dict[str, int] = {}
        barrier = threading.Barrier(len(macs))

        def report(key: str) -> None:
            barrier.wait()
            results[key] = server.post(f"/done/{key}", tokens[key])[0]

        reporters = [threading.Thread(target=report, args=(key,)) for key in tokens]
        for reporter in reporters:
            reporter.start()
        for reporter in reporters:
            reporter.join()
        transactions = int(os.readlink(root / ".state/current").removeprefix("gen-")) - before
    assert set(results.values()) == {200} and len(results) == 40
    assert all(not state["armed"] for state in machine_states(root).values())
    assert 1 <= transactions < 40
