"""The users item: the spec's `users` (accounts, groups, password hashes, SSH keys, sudoers drop-ins for key-only
admins), their homes and login scripts kept to themselves, and login.defs' `ENCRYPT_METHOD` as PAM's."""
from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..paths import SUDOERS_PREFIX
from ..results import Check, Result, Status, failed, mode_of, not_applicable, passed, same_file, verdict, wrong_setting
from ..rootfs import PasswdEntry, RootfsError
from ..shell import put_generated, put_words
from .unit import Step, Unit, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "users"
# A spec user's home directory, and what the baseline takes away from the login scripts at its top (.bashrc,
# .profile, ...): group write and execute, and everything for others (so 0644 becomes 0640).
HOME_MODE = "0700"
SUDOERS_DIR_MODE = "0750"
DOTFILE_MODES_TAKEN = "/g=wx,o=rwx"
DOTFILE_CHMOD = "g-wx,o-rwx"


def user_groups(b: BaselineView, user) -> tuple[str, ...]:
    """Supplementary groups of a spec user: the family's admin group first, if admin."""
    return tuple(dict.fromkeys(([b.paths.admin_group] if user.admin else []) + list(user.groups)))


def sudoers_file(b: BaselineView, user) -> tuple[str, str] | None:
    """(path, content) of the sudoers drop-in for a key-only admin."""
    if not (user.admin and user.sudo_nopasswd):
        return None
    return f"{SUDOERS_PREFIX}{user.name}", f"# Managed by builder\n{user.name} ALL=(ALL) NOPASSWD: ALL\n"


def sudoers_files(b: BaselineView) -> tuple[tuple[str, str], ...]:
    return tuple(f for f in (sudoers_file(b, user) for user in b.spec.users) if f)


def encrypt_method(b: BaselineView) -> str | None:
    """login.defs' ENCRYPT_METHOD (chpasswd, newusers), the same as PAM's: Debian 12's PAM hashes with
    yescrypt while its login.defs says SHA512; EL's two agree (SHA512) and are left alone (None)."""
    return b.facts.baseline.encrypt_method


def step(b: BaselineView) -> list[str]:
    lines: list[str] = []
    for user in b.spec.users:
        name = quote(user.name)
        groups = user_groups(b, user)
        for group in groups:
            lines.append(f"getent group {quote(group)} >/dev/null || groupadd -- {quote(group)}")
        lines.append(f"id -u -- {name} >/dev/null 2>&1 || useradd -m -s {quote(user.shell)} -- {name}")
        lines.append(f"[ \"$(getent passwd -- {name} | cut -d: -f7)\" = {quote(user.shell)} ] || usermod -s {quote(user.shell)} -- {name}")
        for group in groups:
            lines.append(f"id -nG -- {name} | tr ' ' '\\n' | grep -qxF -- {quote(group)} || usermod -aG {quote(group)} -- {name}")
        if user.password_hash:
            lines.append(set_hash(user.name, user.password_hash))
        sudoers = sudoers_file(b, user)
        if sudoers:
            lines.append(put_generated(*sudoers, "0440"))
        lines += [
            f"home=$(getent passwd -- {name} | cut -d: -f6)",
            # The home and its login scripts are the user's alone (useradd copies /etc/skel's 0644 files);
            # only a home the user owns: an existing system account's may be /usr/sbin or /nonexistent.
            f"if [ -d \"$home\" ] && [ \"$(stat -c %u -- \"$home\")\" = \"$(id -u -- {name})\" ]; then",
            f"    [ \"$(stat -c %a -- \"$home\")\" = {HOME_MODE[1:]} ] || chmod {HOME_MODE} -- \"$home\"",
            f"    find \"$home\" -mindepth 1 -maxdepth 1 -type f -name '.*' -perm {DOTFILE_MODES_TAKEN} "
            f"-exec chmod {DOTFILE_CHMOD} -- {{}} +",
            "fi",
        ]
        if user.ssh_keys:
            keys = "".join(k + "\n" for k in user.ssh_keys)
            lines += [
                f"install -d -m 0700 -o {name} -g \"$(id -gn -- {name})\" -- \"$home/.ssh\"",
                put_words(f"\"$home/.ssh/authorized_keys\" 0600 {name} \"$(id -gn -- {name})\"", keys),
            ]
    if sudoers_files(b):
        lines.append(f"[ \"$(stat -c %a /etc/sudoers.d)\" = {SUDOERS_DIR_MODE[1:]} ] || chmod {SUDOERS_DIR_MODE} /etc/sudoers.d")
    if method := encrypt_method(b):
        quoted = quote(f"ENCRYPT_METHOD {method}")
        lines += [
            f"if [ -f /etc/login.defs ] && ! grep -qx -- {quoted} /etc/login.defs; then",
            f"    sed -i -E -e {quote(f's/^[[:space:]]*ENCRYPT_METHOD([[:space:]].*)?$/ENCRYPT_METHOD {method}/')} /etc/login.defs",
            f"    grep -qx -- {quoted} /etc/login.defs || echo {quoted} >> /etc/login.defs",
            "fi",
        ]
    return lines


def set_hash(user: str, crypt_hash: str) -> str:
    # usermod -p rewrites /etc/shadow even when nothing changes: compare first.
    return (f"[ \"$(getent shadow -- {quote(user)} | cut -d: -f2)\" = {quote(crypt_hash)} ] "
            f"|| usermod -p {quote(crypt_hash)} -- {quote(user)}")


def check(c: Check) -> Iterator[Result]:
    if not c.spec.users:
        yield not_applicable(NAME, "no users in the spec")
    for user in c.spec.users:
        entry = c.passwd.get(user.name)
        if entry is None:
            yield failed(NAME, f"{user.name}: no entry in /etc/passwd")
            continue
        problems = [] if entry.shell == user.shell else [f"shell is {entry.shell}, expected {user.shell}"]
        wanted = user_groups(c.baseline, user)
        for name in wanted:
            group = c.groups.get(name)
            if group is None:
                problems.append(f"group {name} does not exist")
            elif user.name not in group.members and group.gid != entry.gid:
                problems.append(f"not a member of {name}")
        if user.password_hash and c.shadow.get(user.name) != user.password_hash:
            problems.append("password hash in /etc/shadow is not the spec's")
        problems += _home_problems(c, entry)
        problems += key_problems(c, entry, user.ssh_keys)
        ok = ", ".join(filter(None, [
            f"shell {entry.shell}", "groups " + " ".join(wanted) if wanted else "",
            "password hash" if user.password_hash else "", f"{len(user.ssh_keys)} SSH key(s)" if user.ssh_keys else ""]))
        yield verdict(NAME, problems, ok, subject=user.name)
        if sudoers := sudoers_file(c.baseline, user):
            yield _sudoers_result(c, user.name, *sudoers)
    if sudoers_files(c.baseline):
        st = c.fs.stat("/etc/sudoers.d")
        want = int(SUDOERS_DIR_MODE, 8)
        yield (passed(NAME, f"/etc/sudoers.d has mode {SUDOERS_DIR_MODE}") if st and stat.S_IMODE(st.st_mode) == want
               else failed(NAME, f"/etc/sudoers.d has mode {mode_of(st) if st else '(missing)'}, expected {SUDOERS_DIR_MODE}"))
    if method := encrypt_method(c.baseline):
        text = c.fs.read_text("/etc/login.defs")
        # login.defs keeps the last value of a key.
        values = [line.split()[1] for line in (text or "").splitlines() if line.split()[:1] == ["ENCRYPT_METHOD"]
                  and len(line.split()) > 1]
        have = values[-1] if values else None
        yield (passed(NAME, f"ENCRYPT_METHOD {method} in /etc/login.defs (as PAM hashes)") if have == method
               else failed(NAME, wrong_setting("ENCRYPT_METHOD", "/etc/login.defs", text, have, method)))


def _sudoers_result(c: Check, user: str, path: str, content: str) -> Result:
    result = same_file(c, NAME, path, content)
    if result.status is Status.FAIL:
        return failed(NAME, f"{user}: {result.detail}")
    st = c.fs.stat(path)
    if st is None:  # read a moment ago: removed since
        return failed(NAME, f"{user}: {path} is missing")
    problems = [] if stat.S_IMODE(st.st_mode) == 0o440 else [f"{path} has mode {mode_of(st)}, expected 0440"]
    if st.st_uid != 0:
        problems.append(f"{path} is owned by uid {st.st_uid}, and sudo ignores it unless root owns it")
    return verdict(NAME, problems, f"passwordless sudo through {path}", subject=user)


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


def key_problems(c: Check, entry: PasswdEntry, keys: list[str]) -> list[str]:
    """What is wrong with a user's authorized_keys, as sshd's StrictModes would see it."""
    if not keys:
        return []
    ssh_dir = f"{entry.home.rstrip('/')}/.ssh"
    path = f"{ssh_dir}/authorized_keys"
    problems: list[str] = []
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


UNIT = register(Unit(
    NAME, "`users`", (Step("users", step),),
    writes="`useradd`/`usermod` guarded, `authorized_keys`, sudoers drop-in for key-only admins "
           "(`/etc/sudoers.d` 0750); each home 0700, its dotfiles without group write or other access; "
           "login.defs `ENCRYPT_METHOD` as PAM's (Debian: `YESCRYPT`)",
    check=check, checked="passwd, group, shadow, keys, home and dotfile modes, login.defs",
    kickstart="`user --iscrypted`, `sshkey`", kickstart_block="accounts",
    packages=lambda b: ("sudo",), package_order=30,
    owns=(SUDOERS_PREFIX, "/etc/login.defs"),
))
