"""Check a root filesystem against the baseline, item by item, without booting it.

The checks only read files (no chroot, nothing written); `rpm` is the one
outside tool, since the rpm database has no stable format to parse. Every
item yields at least one Result, and an item that does not apply says why.
Details never carry a password hash or the contents of a spec file.
This module holds the orchestration and the file items; accounts, sshd,
security, boot and units are in verify_system.
"""
from __future__ import annotations

import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import BuilderError
from ..spec import ExtraFile
from ..targets import Family
from . import model as m
from .applicability import CONTEXTS, not_applicable_items
from .model import Baseline
from .results import (
    Check,
    Result,
    Status,
    failed,
    first_difference,
    mode_of,
    not_applicable,
    passed,
    same_file,
    short,
    verdict,
)
from .rootfs import RootFS, RootfsError, parse_dpkg_status, parse_env
from .verify_system import check_firewall, check_kernel_args, check_root, check_selinux, check_services, check_sshd, check_users

__all__ = ["CONTEXTS", "Result", "Status", "verify_rootfs"]


def verify_rootfs(baseline: Baseline, root: Path, context: str = "rootfs") -> list[Result]:
    """Check every baseline item on the tree at `root`; never writes to it."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {', '.join(CONTEXTS)}")
    if context != baseline.context and "container" in (context, baseline.context):
        raise ValueError(f"a baseline rendered for {baseline.context} cannot be checked as {context}")
    if not Path(root).is_dir():
        raise BuilderError(f"{root} is not a directory", hint="give the root of an unpacked file system")
    check = Check(baseline, RootFS(root), context)
    na = not_applicable_items(baseline.spec, context)
    results: list[Result] = []
    for item, run in CHECKS:
        if item in na:
            results.append(Result(item, Status.NA, na[item]))
            continue
        found: list[Result] = []
        try:
            found.extend(run(check))
        except RootfsError as exc:
            found.append(Result(item, Status.FAIL, str(exc)))
        results.extend(found or [Result(item, Status.NA, "nothing to check")])
    return results


def check_repos(c: Check) -> Iterator[Result]:
    if not c.spec.repos:
        yield not_applicable("repos", "no repositories in the spec")
    for repo in c.spec.repos:
        yield same_file(c, "repos", *c.baseline.repo_file(repo))


def check_packages(c: Check) -> Iterator[Result]:
    wanted = c.baseline.packages
    if c.baseline.family is Family.DEBIAN:
        status = c.fs.read_text("/var/lib/dpkg/status")
        if status is None:
            yield failed("packages", "/var/lib/dpkg/status is missing")
            return
        installed = parse_dpkg_status(status)
        missing = [name for name in wanted if name not in installed]
    else:
        rpm = shutil.which("rpm")
        if rpm is None:
            yield not_applicable("packages", "rpm is not available on this host")
            return
        missing = _rpm_missing(rpm, c.fs, wanted)
    if missing:
        yield failed("packages", f"not installed: {', '.join(missing)}")
    else:
        yield passed("packages", f"all {len(wanted)} baseline packages are installed")


# Where EL keeps its rpm database: /usr/lib/sysimage/rpm from EL 10 on (/var/lib/rpm links
# there), /var/lib/rpm before; sqlite from EL 9 on, Berkeley DB ("Packages") on EL 8. Named
# explicitly because rpm --root otherwise looks for the host's own %_dbpath inside the tree
# (~/.rpmdb with Debian's rpm) and creates an empty database there.
RPM_DBPATHS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm")
RPM_DB_FILES = ("rpmdb.sqlite", "Packages")


def _rpm_dbpath(fs: RootFS) -> str:
    for path in RPM_DBPATHS:
        if any(fs.stat(f"{path}/{name}") is not None for name in RPM_DB_FILES):
            return "/" + fs.resolve(path).relative_to(fs.root).as_posix()
    raise RootfsError(f"no rpm database in {' or '.join(RPM_DBPATHS)}")


def _rpm_missing(rpm: str, fs: RootFS, names: Iterable[str]) -> list[str]:
    # Query a private copy: even a read-only `rpm -q` touches sqlite's -shm file,
    # and the checks must leave the tree exactly as they found it.
    source = fs.resolve(_rpm_dbpath(fs))
    with tempfile.TemporaryDirectory(prefix="builder-rpmdb.") as copy:
        for entry in source.iterdir():
            if entry.is_file() and not entry.is_symlink():
                shutil.copy2(entry, copy)
        try:
            proc = subprocess.run([rpm, "--dbpath", copy, "-q", "--qf", "%{NAME}\\n", "--", *names],
                                  capture_output=True, text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise RootfsError("rpm -q did not answer within 300 s") from None
    missing = re.findall(r"^package (\S+) is not installed$", proc.stdout + proc.stderr, re.MULTILINE)
    if proc.returncode and not missing:
        raise RootfsError(f"rpm -q on {source} failed: {(proc.stderr.strip().splitlines() or ['?'])[0]}")
    return missing


def check_hostname(c: Check) -> Iterator[Result]:
    want = c.spec.hostname
    if not want:
        yield not_applicable("hostname", "no hostname in the spec")
        return
    have = c.fs.read_text("/etc/hostname")
    if have is None:
        yield failed("hostname", "/etc/hostname is missing")
    elif have.strip() != want:
        yield failed("hostname", f"/etc/hostname is {short(have.strip())}, expected {want!r}")
    else:
        yield passed("hostname", want)


def check_hosts(c: Check) -> Iterator[Result]:
    yield same_file(c, "hosts", "/etc/hosts", c.baseline.hosts_file)


def check_network(c: Check) -> Iterator[Result]:
    keyfiles = c.baseline.nm_keyfiles
    if not keyfiles:
        reason = ("no interfaces in the spec" if c.baseline.family is Family.EL
                  else f"{c.spec.target} takes its network from DHCP/cloud-init")
        yield not_applicable("network", reason)
    for path, content in keyfiles:
        yield same_file(c, "network", path, content)


def check_locale(c: Check) -> Iterator[Result]:
    b, locale = c.baseline, c.spec.locale
    path = b.paths.locale_conf
    have = parse_env(c.fs.read_text(path)).get("LANG")
    yield (passed("locale", f"LANG={locale} in {path}") if have == locale
           else failed("locale", f"LANG in {path} is {have!r}, expected {locale!r}"))
    if b.locale_needs_generation:
        enabled = [line.split()[0] for line in (c.fs.read_text("/etc/locale.gen") or "").splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
        problems = [] if locale in enabled else [f"{locale} is not enabled in /etc/locale.gen"]
        if not c.fs.exists("/usr/lib/locale/locale-archive"):
            problems.append("/usr/lib/locale/locale-archive is missing (locale-gen did not run)")
        yield verdict("locale", problems, f"{locale} is generated")


def check_timezone(c: Check) -> Iterator[Result]:
    tz = c.spec.timezone
    target = c.fs.readlink("/etc/localtime")
    endings = (f"zoneinfo/{tz}", "zoneinfo/Etc/UTC") if tz == "UTC" else (f"zoneinfo/{tz}",)
    if target is None:
        yield failed("timezone", "/etc/localtime is not a symlink to a zoneinfo file")
    elif not target.endswith(endings):
        yield failed("timezone", f"/etc/localtime points to {target}, expected .../zoneinfo/{tz}")
    elif c.fs.stat("/etc/localtime") is None and tz != "UTC":
        yield failed("timezone", f"/etc/localtime points to {target}, which does not exist (is tzdata installed?)")
    else:
        yield passed("timezone", f"/etc/localtime -> {target}")
    if c.baseline.family is Family.DEBIAN:
        have = (c.fs.read_text("/etc/timezone") or "").strip()
        yield (passed("timezone", f"/etc/timezone is {tz}") if have == tz
               else failed("timezone", f"/etc/timezone is {have!r}, expected {tz!r}"))


def check_keyboard(c: Check) -> Iterator[Result]:
    if c.baseline.family is Family.DEBIAN:
        yield not_applicable("keyboard", "console keymap is set by the installer/console-setup, not the baseline")
        return
    have = parse_env(c.fs.read_text("/etc/vconsole.conf")).get("KEYMAP")
    want = c.spec.keyboard
    yield (passed("keyboard", f"KEYMAP={want}") if have == want
           else failed("keyboard", f"KEYMAP in /etc/vconsole.conf is {have!r}, expected {want!r}"))


def check_time(c: Check) -> Iterator[Result]:
    conf = c.baseline.chrony_conf
    if conf is None:
        yield not_applicable("time", "no time servers in the spec: the distribution's pool is kept")
    else:
        yield same_file(c, "time", c.baseline.paths.chrony_conf, conf)


def check_limits(c: Check) -> Iterator[Result]:
    b = c.baseline
    yield same_file(c, "limits", m.LIMITS_FILE, b.limits_file)
    yield same_file(c, "limits", m.SYSTEMD_LIMITS_FILE, b.systemd_limits_file)
    yield same_file(c, "limits", m.USER_LIMITS_FILE, b.systemd_limits_file)


def check_sysctls(c: Check) -> Iterator[Result]:
    content = c.baseline.sysctl_file
    if content is None:
        yield not_applicable("sysctls", "no sysctls in the spec")
    else:
        yield same_file(c, "sysctls", m.SYSCTL_FILE, content)


def check_rc_local(c: Check) -> Iterator[Result]:
    path, body = c.baseline.paths.rc_local, c.baseline.rc_local_body
    st = c.fs.stat(path)
    if st is None:
        yield failed("rc-local", f"{path} is missing")
        return
    if not stat.S_ISREG(st.st_mode):
        yield failed("rc-local", f"{path} is not a regular file")
        return
    text = c.fs.read_text(path) or ""
    problems = []
    if not st.st_mode & stat.S_IXUSR:
        problems.append(f"{path} is not executable (mode {mode_of(st)}), so rc-local.service will not run it")
    if not text.startswith("#!"):
        problems.append(f"{path} does not start with #!")
    if body is not None and text != body:
        problems.append(f"{path} differs from the baseline: {first_difference(text, body, show=False)}")
    yield verdict("rc-local", problems, f"{path} is executable" + (" and holds the spec's commands" if body else ""))


def check_files(c: Check) -> Iterator[Result]:
    if not c.spec.files:
        yield not_applicable("files", "no extra files in the spec")
    for extra in c.spec.files:
        try:
            yield verdict("files", _file_problems(c, extra), f"content, mode {extra.mode}, "
                           f"owner {extra.owner}:{extra.group}", subject=extra.path)
        except RootfsError as exc:
            yield failed("files", str(exc))


def _file_problems(c: Check, extra: ExtraFile) -> list[str]:
    data = c.fs.read_bytes(extra.path)
    if data is None:
        return ["missing"]
    st = c.fs.stat(extra.path)
    problems = [] if data == extra.content.encode() else ["content differs from the spec"]
    if stat.S_IMODE(st.st_mode) != int(extra.mode, 8):
        problems.append(f"mode is {mode_of(st)}, expected {int(extra.mode, 8):04o}")
    owner, group = c.passwd.get(extra.owner), c.groups.get(extra.group)
    if owner is None:
        problems.append(f"owner {extra.owner} is not in the tree's /etc/passwd")
    elif owner.uid != st.st_uid:
        problems.append(f"owned by uid {st.st_uid}, expected {extra.owner} ({owner.uid})")
    if group is None:
        problems.append(f"group {extra.group} is not in the tree's /etc/group")
    elif group.gid != st.st_gid:
        problems.append(f"group is gid {st.st_gid}, expected {extra.group} ({group.gid})")
    return problems


def check_prepull(c: Check) -> Iterator[Result]:
    b = c.baseline
    if b.prepull is None:
        yield not_applicable("prepull", "no container.prepull in the spec")
        return
    from .prepull import prepull_script, prepull_unit

    yield same_file(c, "prepull", m.PREPULL_SCRIPT, prepull_script(b.prepull))
    yield same_file(c, "prepull", m.PREPULL_UNIT_FILE, prepull_unit(b.prepull))
    st = c.fs.stat(m.PREPULL_SCRIPT)
    if st is not None and not st.st_mode & stat.S_IXUSR:
        yield failed("prepull", f"{m.PREPULL_SCRIPT} is not executable (mode {mode_of(st)})")
    from .verify_system import _enabled_units

    yield (passed("prepull", f"{m.PREPULL_UNIT} is enabled") if m.PREPULL_UNIT in _enabled_units(c)
           else failed("prepull", f"{m.PREPULL_UNIT} is not enabled: the node will not pull {b.prepull.image} at boot"))


def check_post_commands(c: Check) -> Iterator[Result]:
    if c.spec.post_commands:
        yield not_applicable("post-commands", "free-form commands cannot be checked")
    else:
        yield not_applicable("post-commands", "none")


CHECKS: tuple[tuple[str, Callable[[Check], Iterable[Result]]], ...] = (
    ("repos", check_repos),
    ("packages", check_packages),
    ("hostname", check_hostname),
    ("hosts", check_hosts),
    ("network", check_network),
    ("locale", check_locale),
    ("timezone", check_timezone),
    ("keyboard", check_keyboard),
    ("time", check_time),
    ("users", check_users),
    ("root", check_root),
    ("sshd", check_sshd),
    ("selinux", check_selinux),
    ("firewall", check_firewall),
    ("kernel-args", check_kernel_args),
    ("limits", check_limits),
    ("sysctls", check_sysctls),
    ("rc-local", check_rc_local),
    ("services", check_services),
    ("prepull", check_prepull),
    ("files", check_files),
    ("post-commands", check_post_commands),
)

