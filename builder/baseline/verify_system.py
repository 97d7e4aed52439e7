"""Checks of accounts, sshd, SELinux, the firewall, the kernel command line and systemd units."""
from __future__ import annotations

import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from . import paths as m
from .model import HOME_MODE, SUDOERS_DIR_MODE
from .names import Item
from .results import Check, Result, Status, failed, mode_of, not_applicable, passed, same_file, verdict, wrong_setting
from .rootfs import PasswdEntry, RootFS, RootfsError, parse_env, sshd_file_settings, sshd_global_settings


def check_users(c: Check) -> Iterator[Result]:
    if not c.spec.users:
        yield not_applicable(Item.USERS, "no users in the spec")
    for user in c.spec.users:
        entry = c.passwd.get(user.name)
        if entry is None:
            yield failed(Item.USERS, f"{user.name}: no entry in /etc/passwd")
            continue
        problems = [] if entry.shell == user.shell else [f"shell is {entry.shell}, expected {user.shell}"]
        wanted = c.baseline.user_groups(user)
        for name in wanted:
            group = c.groups.get(name)
            if group is None:
                problems.append(f"group {name} does not exist")
            elif user.name not in group.members and group.gid != entry.gid:
                problems.append(f"not a member of {name}")
        if user.password_hash and c.shadow.get(user.name) != user.password_hash:
            problems.append("password hash in /etc/shadow is not the spec's")
        problems += _home_problems(c, entry)
        problems += _key_problems(c, entry, user.ssh_keys)
        ok = ", ".join(filter(None, [
            f"shell {entry.shell}", "groups " + " ".join(wanted) if wanted else "",
            "password hash" if user.password_hash else "", f"{len(user.ssh_keys)} SSH key(s)" if user.ssh_keys else ""]))
        yield verdict(Item.USERS, problems, ok, subject=user.name)
        if sudoers := c.baseline.sudoers_file(user):
            yield _sudoers_result(c, user.name, *sudoers)
    if c.baseline.sudoers_files:
        st = c.fs.stat("/etc/sudoers.d")
        want = int(SUDOERS_DIR_MODE, 8)
        yield (passed(Item.USERS, f"/etc/sudoers.d has mode {SUDOERS_DIR_MODE}") if st and stat.S_IMODE(st.st_mode) == want
               else failed(Item.USERS, f"/etc/sudoers.d has mode {mode_of(st) if st else '(missing)'}, expected {SUDOERS_DIR_MODE}"))
    if method := c.baseline.encrypt_method:
        text = c.fs.read_text("/etc/login.defs")
        # login.defs keeps the last value of a key.
        values = [line.split()[1] for line in (text or "").splitlines() if line.split()[:1] == ["ENCRYPT_METHOD"]
                  and len(line.split()) > 1]
        have = values[-1] if values else None
        yield (passed(Item.USERS, f"ENCRYPT_METHOD {method} in /etc/login.defs (as PAM hashes)") if have == method
               else failed(Item.USERS, wrong_setting("ENCRYPT_METHOD", "/etc/login.defs", text, have, method)))


def _sudoers_result(c: Check, user: str, path: str, content: str) -> Result:
    result = same_file(c, Item.USERS, path, content)
    if result.status is Status.FAIL:
        return failed(Item.USERS, f"{user}: {result.detail}")
    st = c.fs.stat(path)
    problems = [] if stat.S_IMODE(st.st_mode) == 0o440 else [f"{path} has mode {mode_of(st)}, expected 0440"]
    if st.st_uid != 0:
        problems.append(f"{path} is owned by uid {st.st_uid}, and sudo ignores it unless root owns it")
    return verdict(Item.USERS, problems, f"passwordless sudo through {path}", subject=user)


def _home_problems(c: Check, entry: PasswdEntry) -> list[str]:
    """What in a user's home directory others can read or change: the home itself, its top-level login scripts."""
    home = entry.home.rstrip("/") or "/"
    try:
        st = c.fs.stat(home)
        if st is None or st.st_uid != entry.uid:
            return []  # an existing system account's home (/nonexistent, /usr/sbin): the script leaves it alone too
        problems = [] if stat.S_IMODE(st.st_mode) == int(HOME_MODE, 8) else [
            f"{home} has mode {mode_of(st)}, expected {HOME_MODE}"]
        for name in sorted(c.fs.listdir(home)):
            path = f"{home}/{name}"
            st = c.fs.lstat(path)
            if name.startswith(".") and st is not None and stat.S_ISREG(st.st_mode) and st.st_mode & 0o037:
                problems.append(f"{path} has mode {mode_of(st)}: group may write or run it, or others use it")
    except RootfsError as exc:
        return [str(exc)]
    return problems


def _key_problems(c: Check, entry: PasswdEntry, keys: list[str]) -> list[str]:
    """What is wrong with a user's authorized_keys, as sshd's StrictModes would see it."""
    if not keys:
        return []
    ssh_dir = f"{entry.home.rstrip('/')}/.ssh"
    path = f"{ssh_dir}/authorized_keys"
    problems = []
    try:
        for where, mode in ((ssh_dir, 0o700), (path, 0o600)):
            st = c.fs.stat(where)
            if st is None:
                return problems + [f"{where} is missing"]
            if stat.S_IMODE(st.st_mode) != mode:
                problems.append(f"{where} has mode {mode_of(st)}, expected {mode:04o}")
            if st.st_uid != entry.uid:
                problems.append(f"{where} is owned by uid {st.st_uid}, expected {entry.uid}")
        present = {_key_id(line) for line in (c.fs.read_text(path) or "").splitlines()}
    except RootfsError as exc:
        return problems + [str(exc)]
    for number, key in enumerate(keys, 1):
        if _key_id(key) not in present:
            comment = key.split()[2] if len(key.split()) > 2 else key.split()[0]
            problems.append(f"SSH key {number} ({comment}) is not in {path}")
    return problems


def _key_id(line: str) -> tuple[str, str] | None:
    """(type, base64) of a key line, skipping any options in front of it."""
    words = line.split()
    for i, word in enumerate(words[:-1]):
        if re.fullmatch(r"(ssh-[a-z0-9]+|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9@.-]+)", word):
            return word, words[i + 1]
    return None


def check_root(c: Check) -> Iterator[Result]:
    root = c.spec.root
    field = c.shadow.get("root")
    if root.lock:
        if field is None:
            yield failed(Item.ROOT, "no root entry in /etc/shadow")
        elif field.startswith(("!", "*")):
            yield passed(Item.ROOT, "root password is locked")
        else:
            yield failed(Item.ROOT, "root password is not locked")
    elif root.password_hash:
        yield (passed(Item.ROOT, "root password hash is the spec's") if field == root.password_hash
               else failed(Item.ROOT, "root password hash in /etc/shadow is not the spec's"))
    else:
        yield not_applicable(Item.ROOT, "root is not locked and the spec gives no hash: the password is left as it is")
    if root.ssh_keys:
        entry = c.passwd.get("root")
        if entry is None:
            yield failed(Item.ROOT, "no root entry in /etc/passwd")
        else:
            yield verdict(Item.ROOT, _key_problems(c, entry, root.ssh_keys), f"{len(root.ssh_keys)} SSH key(s) for root")


def check_sshd(c: Check) -> Iterator[Result]:
    if not c.spec.sshd.enabled:
        yield not_applicable(Item.SSHD, "sshd is disabled in the spec (its unit is checked under services)")
        return
    yield same_file(c, Item.SSHD, m.SSHD_DROPIN, c.baseline.sshd_dropin)
    yield from _sshd_config_itself(c)
    settings = sshd_global_settings(c.fs)
    for key, want in c.baseline.sshd_settings:
        values = settings.get(key.lower())
        if not values:
            yield failed(Item.SSHD, f"{key} is not set in /etc/ssh/sshd_config or the files it includes")
        elif key == "Port":  # every Port line adds a listening port
            ports = list(dict.fromkeys(v.value for v in values))
            yield (passed(Item.SSHD, f"Port {want}") if ports == [want]
                   else failed(Item.SSHD, f"sshd listens on port(s) {', '.join(ports)}, expected only {want}"))
        elif values[0].value.lower() == want.lower():
            yield passed(Item.SSHD, f"{key} {want} (from {values[0].source})")
        else:
            yield failed(Item.SSHD, f"{key} is {values[0].value} (first set in {values[0].source}), expected {want}")


def _sshd_config_itself(c: Check) -> Iterator[Result]:
    """sshd_config alone, as a scanner that reads only it (SSG) sees it: mode 0600, the drop-in's values but Port."""
    path = m.SSHD_CONFIG
    st = c.fs.stat(path)
    if st is None:
        yield failed(Item.SSHD, f"{path} is missing")
        return
    problems = [] if stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0 else [
        f"{path} has mode {mode_of(st)} and uid {st.st_uid}, expected 0600 and root"]
    own = sshd_file_settings(c.fs, path)
    for key, want in c.baseline.sshd_settings:
        have = list(dict.fromkeys(v.value for v in own.get(key.lower(), [])))
        if key == "Port":  # only the drop-in sets it: each Port line adds a listening socket
            if have:
                problems.append(f"{path} itself sets Port {' '.join(have)}: sshd would listen there too")
        elif [v.lower() for v in have] != [want.lower()]:
            problems.append(f"{key} is {' and '.join(have) or 'not set'} in {path} itself, expected {want}")
    yield verdict(Item.SSHD, problems, f"{path} is 0600 and carries the same settings itself (for scanners)")


def check_selinux(c: Check) -> Iterator[Result]:
    b = c.baseline
    if b.selinux is None:
        yield not_applicable(Item.SELINUX, "SELinux is not part of the Debian baseline")
        return
    text = c.fs.read_text("/etc/selinux/config")
    have = parse_env(text).get("SELINUX")
    yield (passed(Item.SELINUX, f"SELINUX={b.selinux}") if have == b.selinux
           else failed(Item.SELINUX, wrong_setting("SELINUX", "/etc/selinux/config", text, have, b.selinux.value)))
    if b.selinux_port_label:
        port = c.spec.sshd.port
        # semanage writes to the store the config names (EL: targeted; an admin may run mls).
        store = parse_env(text).get("SELINUXTYPE") or "targeted"
        path = f"/var/lib/selinux/{store}/active/ports.local"
        want = f"portcon tcp {port} system_u:object_r:ssh_port_t:s0"
        lines = {" ".join(line.split()) for line in (c.fs.read_text(path) or "").splitlines()}
        yield (passed(Item.SELINUX, f"tcp port {port} is labelled ssh_port_t") if want in lines
               else failed(Item.SELINUX, f"tcp port {port} is not labelled ssh_port_t in {path}: sshd could not bind it"))


def check_firewall(c: Check) -> Iterator[Result]:
    if not c.spec.firewall.enabled:
        unit = "firewalld.service"
        yield (failed(Item.FIREWALL, f"the firewall is disabled in the spec, but {unit} is enabled")
               if unit in enabled_units(c) else passed(Item.FIREWALL, f"disabled ({unit} is not enabled)"))
        return
    path = "/etc/firewalld/zones/public.xml"
    text = c.fs.read_text(path)
    if text is None:
        yield failed(Item.FIREWALL, f"{path} is missing: no port was opened")
        return
    try:
        zone = ET.fromstring(text)
    except ET.ParseError as exc:
        yield failed(Item.FIREWALL, f"{path} is not valid XML ({exc})")
        return
    ports = {(e.get("port"), e.get("protocol")) for e in zone.iter("port")}
    services = {e.get("name") for e in zone.iter("service")}
    for entry in c.baseline.firewall_ports:
        port, proto = entry.split("/")
        yield (passed(Item.FIREWALL, f"{entry} is open") if (port, proto) in ports
               else failed(Item.FIREWALL, f"{entry} is not open in the public zone"))
    for service in c.spec.firewall.services:
        yield (passed(Item.FIREWALL, f"service {service} is allowed") if service in services
               else failed(Item.FIREWALL, f"service {service} is not allowed in the public zone"))
    for service in c.baseline.firewall_services_removed:
        yield (failed(Item.FIREWALL, f"service {service} is allowed in the public zone, and the spec does not ask for it")
               if service in services else passed(Item.FIREWALL, f"service {service} is not allowed"))
    if not c.baseline.firewall_ports and not c.spec.firewall.services and not c.baseline.firewall_services_removed:
        yield passed(Item.FIREWALL, "the public zone exists; the spec opens nothing")


def check_kernel_args(c: Check) -> Iterator[Result]:
    args = c.baseline.kernel_args
    if not args:
        yield not_applicable(Item.KERNEL_ARGS, "the baseline adds no kernel arguments")
        return
    sources = _kernel_cmdlines(c.fs)
    if not sources:
        yield not_applicable(Item.KERNEL_ARGS, "no bootloader configuration in this root filesystem")
        return
    for arg in args:
        where = [name for name, cmdlines in sources.items() if all(arg in line.split() for line in cmdlines)]
        yield (passed(Item.KERNEL_ARGS, f"{arg} in {where[0]}") if where
               else failed(Item.KERNEL_ARGS, f"{arg} is not in {' nor '.join(sources)}"))


def _kernel_cmdlines(fs: RootFS) -> dict[str, list[str]]:
    """Each place a kernel command line is kept -> the command line(s) it holds."""
    sources: dict[str, list[str]] = {}
    grub = fs.read_text("/etc/default/grub")
    if grub is not None:
        # The default entry boots with both; diskimage-builder writes its arguments to _DEFAULT.
        env = parse_env(grub)
        sources["GRUB_CMDLINE_LINUX(_DEFAULT) in /etc/default/grub"] = [
            f"{env.get('GRUB_CMDLINE_LINUX', '')} {env.get('GRUB_CMDLINE_LINUX_DEFAULT', '')}"]
    entries = fs.glob("/boot/loader/entries/*.conf")
    if entries:
        # EL 8 entries say `options $kernelopts`; the value lives in grubenv.
        kernelopts = parse_env(fs.read_text("/boot/grub2/grubenv")).get("kernelopts", "")
        lines = []
        for entry in entries:
            options = [line.split(None, 1)[1] if len(line.split()) > 1 else ""
                       for line in (fs.read_text(entry) or "").splitlines() if line.split()[:1] == ["options"]]
            lines.append(" ".join(options).replace("$kernelopts", kernelopts))
        sources["every /boot/loader/entries/*.conf"] = lines
    cmdline = fs.read_text("/etc/kernel/cmdline")
    if cmdline is not None:
        sources["/etc/kernel/cmdline"] = [cmdline]
    return sources


def check_services(c: Check) -> Iterator[Result]:
    enabled = enabled_units(c)
    for unit in c.baseline.services_enabled:
        if _masked(c, unit):
            yield failed(Item.SERVICES, f"{unit} is masked, expected enabled")
        else:
            yield (passed(Item.SERVICES, f"{unit} is enabled") if unit in enabled
                   else failed(Item.SERVICES, f"{unit} is not enabled (no link in /etc/systemd/system/*.wants)"))
    for unit in c.baseline.services_disabled:
        if _masked(c, unit):
            yield passed(Item.SERVICES, f"{unit} is masked")
        else:
            yield (failed(Item.SERVICES, f"{unit} is enabled, expected disabled") if unit in enabled
                   else passed(Item.SERVICES, f"{unit} is not enabled"))


def enabled_units(c: Check) -> set[str]:
    """Units with a link in a .wants or .requires directory, by link name and by target name."""
    units = set()
    base = "/etc/systemd/system"
    for name in c.fs.listdir(base):
        if name.endswith((".wants", ".requires")):
            for link in c.fs.listdir(f"{base}/{name}"):
                target = c.fs.readlink(f"{base}/{name}/{link}")
                if target is not None:
                    units.update((link, target.rstrip("/").rsplit("/", 1)[-1]))
    return units


def _masked(c: Check, unit: str) -> bool:
    return c.fs.readlink(f"/etc/systemd/system/{unit}") == "/dev/null"


