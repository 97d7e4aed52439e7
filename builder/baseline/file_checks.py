"""The offline checks of the file items: repos, packages, host and locale files, limits, sysctls, rc.local, files.

The checks only read files (no chroot, nothing written); `rpm` is the one
outside tool, since the rpm database has no stable format to parse. Details
never carry a password hash or the contents of a spec file. Accounts, sshd,
security, boot and units are in verify_system; the orchestration is verify.py.
"""
from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from .. import rpmdb
from ..spec import ExtraFile
from ..targets import Family
from . import paths as m
from . import repos
from .names import Item
from .prepull import mirrors_dropin, prepull_script, prepull_unit
from .results import (
    Check,
    Result,
    failed,
    first_difference,
    mode_of,
    not_applicable,
    passed,
    same_file,
    short,
    verdict,
    wrong_setting,
)
from .rootfs import RootFS, RootfsError, parse_dpkg_status, parse_env
from .verify_system import enabled_units


def check_repos(c: Check) -> Iterator[Result]:
    if not c.spec.repos:
        yield not_applicable(Item.REPOS, "no repositories in the spec: the distribution's are kept")
        return
    for path, content in c.baseline.repo_files:
        yield same_file(c, Item.REPOS, path, content, show=not path.startswith((repos.EL_KEY_DIR, repos.DEBIAN_KEY_DIR)))
    try:
        problems = (_el_repo_problems(c) if c.baseline.family is Family.EL else _debian_source_problems(c))
    except RootfsError as exc:
        problems = [str(exc)]
    where = "dnf's repo files" if c.baseline.family is Family.EL else "APT's sources"
    yield verdict(Item.REPOS, problems, f"the enabled repositories in {where} are the spec's {len(c.spec.repos)}, "
                  "each defined once, each with its key")


def _el_repo_problems(c: Check) -> list[str]:
    found = repos.el_definitions(c.fs)
    problems = _defined_twice(found, "repo id")
    enabled = {d.id: d for d in found if d.enabled}
    for definition in enabled.values():
        if not definition.id.startswith(repos.REPO_ID_PREFIX) or definition.id not in {repos.repo_id(r) for r in c.spec.repos}:
            problems.append(f"repo {definition.id} in {definition.file} is enabled and is not one of the spec's repos")
    for repo in c.spec.repos:
        have = enabled.get(repos.repo_id(repo))
        if have is None:
            problems.append(f"repo {repos.repo_id(repo)} (the spec's {repo.name}) is not enabled in any repo file")
            continue
        key = repos.repo_key(repo, c.baseline.family)
        gpgcheck = have.options.get("gpgcheck", "0").lower() in ("1", "yes", "true", "on")
        if gpgcheck != repo.gpgcheck:
            problems.append(f"repo {have.id} in {have.file} has gpgcheck {'on' if gpgcheck else 'off'}, the spec says "
                            f"{'on' if repo.gpgcheck else 'off'}")
        if key is not None and key.url_under() not in have.options.get("gpgkey", "").split():
            problems.append(f"repo {have.id} in {have.file} does not name its key {key.url_under()}")
        problems += _key_missing(c, have.id, key)
    return problems


def _debian_source_problems(c: Check) -> list[str]:
    found = repos.debian_definitions(c.fs)
    problems = _defined_twice([d for d in found if d.enabled], "APT source",
                              ' (every `apt-get update` warns "configured multiple times")')
    expected = {}
    for repo in c.spec.repos:
        for suite in repo.suites:
            for component in repo.components:
                expected[repos.debian_target("deb", repo.baseurl, suite, component)] = repo
    reported: set[tuple[str, str]] = set()
    for definition in found:
        if definition.enabled and definition.id not in expected and (definition.id, definition.file) not in reported:
            reported.add((definition.id, definition.file))
            problems.append(f"{definition.id} in {definition.file} is enabled and is not one of the spec's repos")
    enabled = {d.id: d for d in found if d.enabled}
    for target, repo in expected.items():
        have = enabled.get(target)
        if have is None:
            problems.append(f"{target} (the spec's {repo.name}) is in no enabled APT source")
            continue
        key = repos.repo_key(repo, c.baseline.family)
        signed_by = have.options.get("signed-by", "")
        if key is not None and key.system_path and signed_by != key.system_path:
            problems.append(f"{target} in {have.file} is signed by {signed_by or 'any trusted key'}, expected {key.system_path}")
        if key is not None:
            problems += _key_missing(c, target, key)
    return list(dict.fromkeys(problems))


def _defined_twice(found: list[repos.Definition], what: str, why: str = "") -> list[str]:
    files: dict[str, list[str]] = {}
    for definition in found:
        files.setdefault(definition.id, []).append(definition.file)
    return [f"{what} {name} is defined {len(where)} times: in {' and '.join(where)}{why}"
            for name, where in files.items() if len(where) > 1]


def _key_missing(c: Check, what: str, key: repos.RepoKey | None) -> list[str]:
    path = key.system_path if key is not None else None
    if path is None or c.fs.stat(path) is not None:
        return []
    return [f"{what}: its key {path} is missing"]


def check_packages(c: Check) -> Iterator[Result]:
    wanted = c.baseline.packages
    if c.baseline.family is Family.DEBIAN:
        status = c.fs.read_text("/var/lib/dpkg/status")
        if status is None:
            yield failed(Item.PACKAGES, "/var/lib/dpkg/status is missing")
            return
        installed = parse_dpkg_status(status)
        missing = [name for name in wanted if name not in installed]
    else:
        rpm = shutil.which("rpm")
        if rpm is None:
            yield not_applicable(Item.PACKAGES, "rpm is not available on this host")
            return
        missing = _rpm_missing(rpm, c.fs, wanted)
    if missing:
        yield failed(Item.PACKAGES, f"not installed: {', '.join(missing)}")
    else:
        yield passed(Item.PACKAGES, f"all {len(wanted)} baseline packages are installed")


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


def rpm_database(fs: RootFS) -> Path:
    """The tree's rpm database directory, as a host path."""
    return fs.resolve(_rpm_dbpath(fs))


def _rpm_missing(rpm: str, fs: RootFS, names: Iterable[str]) -> list[str]:
    source = rpm_database(fs)
    try:
        proc = rpmdb.query(source, ["-q", "--qf", "%{NAME}\\n", "--", *names], rpm=rpm)
    except rpmdb.TimedOut:
        raise RootfsError("rpm -q did not answer within 300 s") from None
    missing = re.findall(r"^package (\S+) is not installed$", proc.stdout + proc.stderr, re.MULTILINE)
    if proc.returncode and not missing:
        raise RootfsError(f"rpm -q on {source} failed: {(proc.stderr.strip().splitlines() or ['?'])[0]}")
    return missing


def check_hostname(c: Check) -> Iterator[Result]:
    want = c.spec.hostname
    if not want:
        yield not_applicable(Item.HOSTNAME, "no hostname in the spec")
        return
    have = c.fs.read_text("/etc/hostname")
    if have is None:
        yield failed(Item.HOSTNAME, "/etc/hostname is missing")
    elif have.strip() != want:
        yield failed(Item.HOSTNAME, f"/etc/hostname is {short(have.strip())}, expected {want!r}")
    else:
        yield passed(Item.HOSTNAME, want)


def check_hosts(c: Check) -> Iterator[Result]:
    yield same_file(c, Item.HOSTS, "/etc/hosts", c.baseline.hosts_file)


def check_network(c: Check) -> Iterator[Result]:
    keyfiles = c.baseline.nm_keyfiles
    if not keyfiles:
        reason = ("no interfaces in the spec" if c.baseline.family is Family.EL
                  else f"{c.spec.target} takes its network from DHCP/cloud-init")
        yield not_applicable(Item.NETWORK, reason)
    for path, content in keyfiles:
        yield same_file(c, Item.NETWORK, path, content)


def check_locale(c: Check) -> Iterator[Result]:
    b, locale = c.baseline, c.spec.locale
    path = b.paths.locale_conf
    text = c.fs.read_text(path)
    have = parse_env(text).get("LANG")
    yield (passed(Item.LOCALE, f"LANG={locale} in {path}") if have == locale
           else failed(Item.LOCALE, wrong_setting("LANG", path, text, have, locale)))
    if b.locale_needs_generation:
        enabled = [line.split()[0] for line in (c.fs.read_text("/etc/locale.gen") or "").splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
        problems = [] if locale in enabled else [f"{locale} is not enabled in /etc/locale.gen"]
        if not c.fs.exists("/usr/lib/locale/locale-archive"):
            problems.append("/usr/lib/locale/locale-archive is missing (locale-gen did not run)")
        yield verdict(Item.LOCALE, problems, f"{locale} is generated")


def check_timezone(c: Check) -> Iterator[Result]:
    tz = c.spec.timezone
    target = c.fs.readlink("/etc/localtime")
    endings = (f"zoneinfo/{tz}", "zoneinfo/Etc/UTC") if tz == "UTC" else (f"zoneinfo/{tz}",)
    if target is None:
        yield failed(Item.TIMEZONE, "/etc/localtime is not a symlink to a zoneinfo file")
    elif not target.endswith(endings):
        yield failed(Item.TIMEZONE, f"/etc/localtime points to {target}, expected .../zoneinfo/{tz}")
    elif c.fs.stat("/etc/localtime") is None and tz != "UTC":
        yield failed(Item.TIMEZONE, f"/etc/localtime points to {target}, which does not exist (is tzdata installed?)")
    else:
        yield passed(Item.TIMEZONE, f"/etc/localtime -> {target}")
    if c.baseline.family is Family.DEBIAN:
        text = c.fs.read_text("/etc/timezone")
        have = (text or "").strip()
        yield (passed(Item.TIMEZONE, f"/etc/timezone is {tz}") if have == tz
               else failed(Item.TIMEZONE, "/etc/timezone is missing, expected " + tz if text is None
                           else f"/etc/timezone is {have!r}, expected {tz!r}"))


def check_keyboard(c: Check) -> Iterator[Result]:
    if c.baseline.family is Family.DEBIAN:
        yield not_applicable(Item.KEYBOARD, "console keymap is set by the installer/console-setup, not the baseline")
        return
    text = c.fs.read_text("/etc/vconsole.conf")
    have, want = parse_env(text).get("KEYMAP"), c.spec.keyboard
    yield (passed(Item.KEYBOARD, f"KEYMAP={want}") if have == want
           else failed(Item.KEYBOARD, wrong_setting("KEYMAP", "/etc/vconsole.conf", text, have, want)))


def check_time(c: Check) -> Iterator[Result]:
    conf = c.baseline.chrony_conf
    if conf is None:
        yield not_applicable(Item.TIME, "no time servers in the spec: the distribution's pool is kept")
    else:
        yield same_file(c, Item.TIME, c.baseline.paths.chrony_conf, conf)


def check_limits(c: Check) -> Iterator[Result]:
    b = c.baseline
    yield same_file(c, Item.LIMITS, m.LIMITS_FILE, b.limits_file)
    yield same_file(c, Item.LIMITS, m.SYSTEMD_LIMITS_FILE, b.systemd_limits_file)
    yield same_file(c, Item.LIMITS, m.USER_LIMITS_FILE, b.systemd_limits_file)


def check_sysctls(c: Check) -> Iterator[Result]:
    yield same_file(c, Item.SYSCTLS, m.SYSCTL_FILE, c.baseline.sysctl_file)


def check_rc_local(c: Check) -> Iterator[Result]:
    path, body = c.baseline.paths.rc_local, c.baseline.rc_local_body
    st = c.fs.stat(path)
    if st is None:
        yield failed(Item.RC_LOCAL, f"{path} is missing")
        return
    if not stat.S_ISREG(st.st_mode):
        yield failed(Item.RC_LOCAL, f"{path} is not a regular file")
        return
    text = c.fs.read_text(path) or ""
    problems = []
    if not st.st_mode & stat.S_IXUSR:
        problems.append(f"{path} is not executable (mode {mode_of(st)}), so rc-local.service will not run it")
    if not text.startswith("#!"):
        problems.append(f"{path} does not start with #!")
    if body is not None and text != body:
        problems.append(f"{path} differs from the baseline: {first_difference(text, body, show=False)}")
    yield verdict(Item.RC_LOCAL, problems, f"{path} is executable" + (" and holds the spec's commands" if body else ""))


def check_files(c: Check) -> Iterator[Result]:
    if not c.spec.files:
        yield not_applicable(Item.FILES, "no extra files in the spec")
    for extra in c.spec.files:
        try:
            yield verdict(Item.FILES, _file_problems(c, extra), f"content, mode {extra.mode}, "
                           f"owner {extra.owner}:{extra.group}", subject=extra.path)
        except RootfsError as exc:
            yield failed(Item.FILES, str(exc))


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


def check_prepull_mirrors(c: Check) -> Iterator[Result]:
    b = c.baseline
    if b.prepull is None:
        yield not_applicable(Item.PREPULL_MIRRORS, "no container.prepull in the spec")
    elif b.prepull.engine != "podman":
        yield not_applicable(Item.PREPULL_MIRRORS, f"{b.prepull.engine} pulls through the mirrors in the prepull script (checked there)")
    elif b.prepull_mirrors:
        yield same_file(c, Item.PREPULL_MIRRORS, m.MIRRORS_DROPIN, mirrors_dropin(b.prepull, b.prepull_mirrors))
    elif c.fs.exists(m.MIRRORS_DROPIN):
        yield failed(Item.PREPULL_MIRRORS, f"{m.MIRRORS_DROPIN} is there, and the node has no site: it should pull "
                     "straight from the origin registry")
    else:
        yield passed(Item.PREPULL_MIRRORS, "no site: no mirror drop-in, the node pulls straight from the origin registry")


def check_prepull(c: Check) -> Iterator[Result]:
    b = c.baseline
    if b.prepull is None:
        yield not_applicable(Item.PREPULL, "no container.prepull in the spec")
        return
    yield same_file(c, Item.PREPULL, m.PREPULL_SCRIPT, prepull_script(b.prepull, b.prepull_mirrors))
    yield same_file(c, Item.PREPULL, m.PREPULL_UNIT_FILE, prepull_unit(b.prepull))
    st = c.fs.stat(m.PREPULL_SCRIPT)
    if st is not None and not st.st_mode & stat.S_IXUSR:
        yield failed(Item.PREPULL, f"{m.PREPULL_SCRIPT} is not executable (mode {mode_of(st)})")
    yield (passed(Item.PREPULL, f"{m.PREPULL_UNIT} is enabled") if m.PREPULL_UNIT in enabled_units(c)
           else failed(Item.PREPULL, f"{m.PREPULL_UNIT} is not enabled: the node will not pull {b.prepull.image} at boot"))


def check_post_commands(c: Check) -> Iterator[Result]:
    if c.spec.post_commands:
        yield not_applicable(Item.POST_COMMANDS, "free-form commands cannot be checked")
    else:
        yield not_applicable(Item.POST_COMMANDS, "none")
