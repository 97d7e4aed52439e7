"""builder.host: the one way to run a command, require tools and report progress."""
from __future__ import annotations

import ast
import sys
import threading
import time
from pathlib import Path

import pytest
from support.requirements import skip_or_fail

from builder import host
from builder.errors import BuilderError


def test_family_from_os_release(tmp_path):
    rocky = tmp_path / "rocky"
    rocky.write_text('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n')
    debian = tmp_path / "debian"
    debian.write_text('ID=debian\n')
    ubuntu = tmp_path / "ubuntu"
    ubuntu.write_text('ID=ubuntu\nID_LIKE=debian\n')
    assert host.host_family(rocky) is host.HostFamily.EL
    assert host.host_family(debian) is host.HostFamily.DEBIAN
    assert host.host_family(ubuntu) is host.HostFamily.DEBIAN


def test_missing_tool_names_the_package_for_the_host_family(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuilderError) as exc:
        host.require_tools(["qemu-img", "sgdisk", "qemu-img"], "a qcow2 build")
    assert "qemu-img, sgdisk" in str(exc.value)
    assert exc.value.hint.startswith(host.INSTALL_COMMAND[host.host_family()])
    assert host.install_hint(["qemu-img", "ssh"], host.HostFamily.EL) == "dnf install qemu-img openssh-clients"
    assert host.install_hint(["qemu-img", "ssh"], host.HostFamily.DEBIAN) == "apt-get install qemu-utils openssh-client"


def test_run_failure_names_the_step_the_command_and_its_output(tmp_path):
    with pytest.raises(BuilderError) as exc:
        host.run([sys.executable, "-c", "import sys; print('partial'); sys.exit(3)"], "the step")
    text = str(exc.value)
    assert text.startswith("the step failed (exit 3)") and "partial" in text
    with pytest.raises(BuilderError, match="not installed"):
        host.run([str(tmp_path / "no-such-tool")], "x")
    assert host.run([sys.executable, "-c", "print('ok')"], "y").stdout == "ok\n"


def test_progress_goes_to_stderr(capsys):
    host.progress("bootstrapping")
    out, err = capsys.readouterr()
    assert out == "" and err == "==> bootstrapping\n"


def test_source_date_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert host.source_date_epoch(1700000000) == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    assert host.source_date_epoch(1700000000) == 1600000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(BuilderError, match="not a number"):
        host.source_date_epoch(0)


# ---------------------------------------------------------------- one command runner: process groups, logs, time-outs

BUILDER = Path(__file__).resolve().parent.parent / "builder"
PATIENCE = 60  # seconds a test waits for a process to reach a point it is sure to reach


def test_no_module_but_host_imports_subprocess():
    """Every command goes through builder.host: nothing else can start one outside its process groups and interrupts."""
    importers = []
    for path in sorted(BUILDER.rglob("*.py")):
        if path == BUILDER / "host.py" or BUILDER / "host" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(name == "subprocess" or name.startswith("subprocess.") for name in names):
                importers.append(f"{path.relative_to(BUILDER.parent)}:{node.lineno}")
    assert not importers, f"run commands through builder.host instead: {importers}"


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's zombie waits for its new parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"not within {PATIENCE} s: {what}"
        time.sleep(0.05)


def child_pid(pidfile: Path) -> int:
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), f"{pidfile} written")
    return int(pidfile.read_text())


def test_stream_writes_every_line_to_the_log_and_the_callback_and_returns_the_exit_status(tmp_path):
    seen = []
    log = tmp_path / "build.log"
    script = "echo one; echo two >&2; printf 'three \\377 no newline'; exit 4"
    status = host.stream(["sh", "-c", script], "a step", each_line=seen.append, log=log)
    assert status == 4
    assert seen == ["one\n", "two\n", "three \ufffd no newline"]
    assert log.read_text() == "one\ntwo\nthree \ufffd no newline"


def test_what_a_streamed_command_leaves_behind_in_its_group_is_stopped(tmp_path):
    pidfile = tmp_path / "pid"
    script = f"sleep 600 >/dev/null 2>&1 & echo $! > {pidfile}; echo left it running"
    assert host.stream(["sh", "-c", script], "a step", new_session=True) == 0
    assert not alive(child_pid(pidfile))


def test_a_streamed_command_over_its_time_out_is_stopped_with_its_group(tmp_path):
    pidfile = tmp_path / "pid"
    script = f"sleep 600 >/dev/null 2>&1 & echo $! > {pidfile}; exec sleep 600"
    with pytest.raises(host.TimedOut, match=r"^a step: sh -c .* took longer than 1 s$"):
        host.stream(["sh", "-c", script], "a step", timeout=1)
    assert not alive(child_pid(pidfile))


def test_a_failing_callback_stops_the_command_and_its_group(tmp_path):
    pidfile = tmp_path / "pid"
    script = f"sleep 600 >/dev/null 2>&1 & echo $! > {pidfile}; echo a line; exec sleep 600"

    def each_line(line: str) -> None:
        child_pid(pidfile)
        raise ValueError(line)

    with pytest.raises(ValueError, match="a line"):
        host.stream(["sh", "-c", script], "a step", each_line=each_line, patience=5)
    assert not alive(child_pid(pidfile))


def test_an_interrupt_stops_a_streamed_command_and_a_background_one_with_their_groups(tmp_path):
    ended: dict[str, object] = {}
    log = tmp_path / "build.log"

    def streamed() -> None:
        script = f"sleep 600 >/dev/null 2>&1 & echo $! > {tmp_path / 'streamed'}; echo started; exec sleep 600"
        try:
            ended["streamed"] = host.stream(["sh", "-c", script], "a long step", log=log)
        except host.Interrupted:
            ended["streamed"] = "interrupted"

    def background() -> None:
        script = f"sleep 600 & echo $! > {tmp_path / 'background'}; echo on stderr >&2; exec sleep 600"
        try:
            with host.background(["sh", "-c", script], "a guest", stderr=tmp_path / "err") as proc:
                wait_until(lambda: proc.poll() is not None, "the command stopped by the interrupt")
            ended["background"] = "block ended"
        except host.Interrupted:
            ended["background"] = "interrupted"

    try:
        with host.interruptible():
            threads = [threading.Thread(target=streamed), threading.Thread(target=background)]
            for thread in threads:
                thread.start()
            pids = [child_pid(tmp_path / "streamed"), child_pid(tmp_path / "background")]
            wait_until(lambda: len(host._RUNNING) == 2, "both commands registered")
            host.interrupt_commands()
            for thread in threads:
                thread.join(PATIENCE)
    finally:
        with host.interruptible():  # the next command starts afresh
            pass
    assert ended == {"streamed": "interrupted", "background": "interrupted"}
    assert [pid for pid in pids if alive(pid)] == []
    assert log.read_text() == "started\n"
    assert (tmp_path / "err").read_text() == "on stderr\n"


def test_a_background_command_is_stopped_at_the_end_of_its_block(tmp_path):
    pidfile = tmp_path / "pid"
    with host.background(["sh", "-c", f"sleep 600 & echo $! > {pidfile}; exec sleep 600"], "a guest",
                         stderr=tmp_path / "err") as proc:
        child = child_pid(pidfile)
        assert proc.poll() is None and alive(child)
    assert proc.returncode is not None and not alive(child)
    with pytest.raises(BuilderError, match="no-such-tool is not installed"):
        with host.background([str(tmp_path / "no-such-tool")], "a guest", stderr=tmp_path / "err"):
            pass


# ------------------------------------------------------------------ the build host's CPU (EL 9: x86-64-v2, EL 10: v3)

# /proc/cpuinfo texts, written by hand: a Nehalem-class CPU (x86-64-v2: SSE4.2, POPCNT, no AVX) and a Haswell-class one.
V2_FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx "
            "lm constant_tsc pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm")
V3_FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx "
            "pdpe1gb rdtscp lm constant_tsc pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave "
            "avx f16c rdrand lahf_lm abm bmi1 avx2 bmi2 erms invpcid")
V2_CPUINFO = (f"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU X5650 @ 2.67GHz\n"
              f"flags\t\t: {V2_FLAGS}\n\nprocessor\t: 1\nflags\t\t: {V2_FLAGS}\n")
V3_CPUINFO = (f"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz\n"
              f"flags\t\t: {V3_FLAGS}\n")
V1_CPUINFO = "processor\t: 0\nflags\t\t: fpu tsc cx8 cmov mmx fxsr sse sse2 syscall nx lm\n"


def el_level(major: int):
    from builder.families import el

    return el.FAMILY.cpu_level(major)


def test_the_cpuinfo_flags_are_read_from_the_first_processor():
    assert {"sse4_2", "popcnt", "lahf_lm"} <= host.cpu_flags(V2_CPUINFO) and "avx2" not in host.cpu_flags(V2_CPUINFO)
    assert host.cpu_flags("processor\t: 0\n") == frozenset()


def test_el10_refuses_an_x86_64_v2_host_and_names_what_it_lacks():
    assert el_level(10).name == "x86-64-v3" and el_level(9).name == "x86-64-v2" and el_level(8) is None
    with pytest.raises(BuilderError) as refused:
        host.require_cpu(el_level(10), "bootstrapping EL 10", V2_CPUINFO)
    message = str(refused.value)
    assert message.startswith("bootstrapping EL 10 needs an x86-64-v3 CPU on the build host"), message
    assert "; this host's CPU lacks abm, avx, avx2, bmi1, bmi2, f16c, fma, movbe, xsave\n" in message, message
    assert "host-passthrough" in refused.value.hint
    host.require_cpu(el_level(10), "bootstrapping EL 10", V3_CPUINFO)   # accepted
    host.require_cpu(el_level(9), "bootstrapping EL 9", V2_CPUINFO)     # EL 9 needs v2 only
    with pytest.raises(BuilderError, match="x86-64-v2 CPU.* lacks cx16, lahf_lm, popcnt, sse4_1, sse4_2, ssse3\n"):
        host.require_cpu(el_level(9), "bootstrapping EL 9", V1_CPUINFO)
    host.require_cpu(el_level(8), "bootstrapping EL 8", V1_CPUINFO)     # EL 8: x86-64 (v1)


def test_the_el10_bootstrap_refuses_a_v2_host_before_running_dnf(tmp_path, monkeypatch):
    from builder.bootstrap.dnf import DnfInstallroot

    (tmp_path / "cpuinfo").write_text(V2_CPUINFO)
    monkeypatch.setattr(host, "CPUINFO", tmp_path / "cpuinfo")     # the host's /proc/cpuinfo, as a v2 host has it
    dnf = DnfInstallroot("10", (), ("bash",), (), "/usr/lib/sysimage/rpm", "C")
    with pytest.raises(BuilderError, match="^bootstrapping EL 10 needs an x86-64-v3 CPU"):
        dnf.bootstrap(tmp_path / "root", tmp_path / "work", log=lambda _: None)
    assert not (tmp_path / "work").exists() and not (tmp_path / "root").exists()   # nothing ran, nothing written
    (tmp_path / "cpuinfo").write_text(V3_CPUINFO)
    with pytest.raises(BuilderError) as failed:     # past the check: dnf runs, and finds no repository
        dnf.bootstrap(tmp_path / "root", tmp_path / "work", log=lambda _: None)
    assert "x86-64" not in str(failed.value) and (tmp_path / "work" / "dnf.conf").exists(), str(failed.value)


def test_the_qemu_boot_uses_a_cpu_model_with_x86_64_v3():
    """qemu_argv takes no release: every boot (EL 9 and 10 alike) runs TCG's `max`, which QEMU itself expands here to
    a model with every x86-64-v3 flag (QMP query-cpu-model-expansion; QEMU names lahf_lm and sse4_1 with - and .)."""
    import json
    import shutil
    import subprocess

    from builder.qcow2.live import QEMU, qemu_argv

    argv = qemu_argv(Path("d.qcow2"), Path("/w"), 2222, 22, Path("c.log"))
    assert argv[argv.index("-cpu") + 1] == "max" and "q35,accel=tcg" in argv
    if shutil.which(QEMU) is None:
        skip_or_fail(f"{QEMU} is not installed (apt-get install qemu-system-x86)")
    qmp = ('{"execute":"qmp_capabilities"}\n{"execute":"query-cpu-model-expansion","arguments":'
           '{"type":"full","model":{"name":"max"}}}\n{"execute":"quit"}\n')
    proc = subprocess.run([QEMU, "-machine", "q35,accel=tcg", "-nodefaults", "-display", "none", "-no-user-config",
                           "-qmp", "stdio", "-S"], input=qmp, capture_output=True, text=True, timeout=60)
    [props] = [reply["return"]["model"]["props"] for reply in map(json.loads, proc.stdout.splitlines())
               if isinstance(reply.get("return"), dict) and "model" in reply["return"]]
    names = {flag: flag.replace("_", ".") if flag.startswith("sse4") else flag.replace("_", "-") for flag in el_level(10).flags}
    assert {flag for flag, name in names.items() if props.get(name) is not True} == set()
