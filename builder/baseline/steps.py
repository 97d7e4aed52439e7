"""The script's steps: each renders the shell lines for one baseline item ([] when there is nothing to do).

Every value goes through shlex.quote; a body builder renders is written in a quoted
heredoc, free text from the spec (file contents, rc.local and post commands) base64-encoded
(see shell.py), so no spec value can end the script, start a kickstart section or be read
by the shell. Which item each step belongs to, and the order they run in, is the item table's
(items.py).
"""
from __future__ import annotations

from shlex import quote
from typing import TYPE_CHECKING

from ..targets import Family
from . import paths as m
from .model import DOTFILE_CHMOD, DOTFILE_MODES_TAKEN, HOME_MODE, SSHD_BLOCK_BEGIN, SSHD_BLOCK_END, SUDOERS_DIR_MODE
from .prepull import mirrors_dropin, prepull_script, prepull_unit
from .repos import disable_others
from .shell import b64, heredoc_can_carry, heredoc_delimiter, put_free_text, put_generated, put_words

if TYPE_CHECKING:
    from .model import Baseline


# Each step renders the shell lines for one baseline item; [] when it does not apply.


def repos(b: Baseline) -> list[str]:
    if not b.spec.repos:
        return []  # the spec names none: the distribution's stay
    files = b.repo_files
    ours = [path for path, _ in files if path.endswith((".repo", ".sources"))]
    return [put_generated(path, content) for path, content in files] + disable_others(ours, b.family)


def packages(b: Baseline) -> list[str]:
    return install_packages(b, b.packages)


def install_packages(b: Baseline, wanted) -> list[str]:
    names = " ".join(quote(n) for n in wanted)
    if not names:
        return []
    if b.family is Family.EL:
        return [
            "missing=()",
            f"for p in {names}; do rpm -q --quiet -- \"$p\" || missing+=(\"$p\"); done",
            'if [ ${#missing[@]} -gt 0 ]; then dnf -y install -- "${missing[@]}"; fi',
        ]
    return [
        "missing=()",
        f"for p in {names}; do",
        "    [ \"$(dpkg-query -W -f='${Status}' -- \"$p\" 2>/dev/null)\" = 'install ok installed' ] || missing+=(\"$p\")",
        "done",
        'if [ ${#missing[@]} -gt 0 ]; then',
        '    DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends -- "${missing[@]}"',
        "fi",
    ]


def hostname(b: Baseline) -> list[str]:
    lines = [put_generated("/etc/hosts", b.hosts_file)]
    if b.spec.hostname:
        lines.insert(0, put_generated("/etc/hostname", b.spec.hostname + "\n"))
    return lines


def network(b: Baseline) -> list[str]:
    lines = [put_generated(path, content, "0600") for path, content in b.nm_keyfiles]
    if b.nm_keyfiles and b.info.major == 8:
        # EL 8's Anaconda writes ifcfg files; the keyfiles replace them.
        for path, _ in b.nm_keyfiles:
            device = path.rsplit("/", 1)[1].removesuffix(".nmconnection")
            lines.append(f"rm -f -- {quote('/etc/sysconfig/network-scripts/ifcfg-' + device)}")
    return lines


def locale(b: Baseline) -> list[str]:
    lines = [put_generated(b.paths.locale_conf, b.locale_file)]
    entry = b.locale_gen_entry
    if entry:
        lines += [
            f"if ! grep -qxF -- {quote(entry)} /etc/locale.gen; then",
            f"    sed -i -e 's|^# *{_sed_escape(entry)}$|{_sed_escape(entry)}|' /etc/locale.gen",
            f"    grep -qxF -- {quote(entry)} /etc/locale.gen || echo {quote(entry)} >> /etc/locale.gen",
            "    locale-gen",
            "fi",
        ]
    if b.family is Family.EL:
        lines.append(put_generated("/etc/vconsole.conf", f"KEYMAP={b.spec.keyboard}\n"))
    return lines


def _sed_escape(text: str) -> str:
    # Locale names are checked to [A-Za-z0-9_.@-]; '.' is the only regex character to escape.
    return text.replace(".", r"\.")


def timezone(b: Baseline) -> list[str]:
    zone = quote(f"../usr/share/zoneinfo/{b.spec.timezone}")
    lines = [
        f"if [ \"$(readlink /etc/localtime 2>/dev/null)\" != {zone} ]; then",
        f"    ln -sfn -- {zone} /etc/localtime",
        "fi",
    ]
    if b.family is Family.DEBIAN:
        lines.append(put_generated("/etc/timezone", b.spec.timezone + "\n"))
    return lines


def time_sync(b: Baseline) -> list[str]:
    conf = b.chrony_conf
    return [put_generated(b.paths.chrony_conf, conf)] if conf else []


def users(b: Baseline) -> list[str]:
    lines: list[str] = []
    for user in b.spec.users:
        name = quote(user.name)
        groups = b.user_groups(user)
        for group in groups:
            lines.append(f"getent group {quote(group)} >/dev/null || groupadd -- {quote(group)}")
        lines.append(f"id -u -- {name} >/dev/null 2>&1 || useradd -m -s {quote(user.shell)} -- {name}")
        lines.append(f"[ \"$(getent passwd -- {name} | cut -d: -f7)\" = {quote(user.shell)} ] || usermod -s {quote(user.shell)} -- {name}")
        for group in groups:
            lines.append(f"id -nG -- {name} | tr ' ' '\\n' | grep -qxF -- {quote(group)} || usermod -aG {quote(group)} -- {name}")
        if user.password_hash:
            lines.append(_set_hash(user.name, user.password_hash))
        sudoers = b.sudoers_file(user)
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
    if b.sudoers_files:
        lines.append(f"[ \"$(stat -c %a /etc/sudoers.d)\" = {SUDOERS_DIR_MODE[1:]} ] || chmod {SUDOERS_DIR_MODE} /etc/sudoers.d")
    if b.encrypt_method:
        method = quote(f"ENCRYPT_METHOD {b.encrypt_method}")
        lines += [
            f"if [ -f /etc/login.defs ] && ! grep -qx -- {method} /etc/login.defs; then",
            f"    sed -i -E -e {quote(f's/^[[:space:]]*ENCRYPT_METHOD([[:space:]].*)?$/ENCRYPT_METHOD {b.encrypt_method}/')} /etc/login.defs",
            f"    grep -qx -- {method} /etc/login.defs || echo {method} >> /etc/login.defs",
            "fi",
        ]
    return lines


def _set_hash(user: str, crypt_hash: str) -> str:
    # usermod -p rewrites /etc/shadow even when nothing changes: compare first.
    return (f"[ \"$(getent shadow -- {quote(user)} | cut -d: -f2)\" = {quote(crypt_hash)} ] "
            f"|| usermod -p {quote(crypt_hash)} -- {quote(user)}")


def root(b: Baseline) -> list[str]:
    if b.spec.root.lock:
        return ["case \"$(getent shadow root | cut -d: -f2)\" in '!'*|'*'*) ;; *) usermod -L root ;; esac"]
    if b.spec.root.password_hash:
        return [_set_hash("root", b.spec.root.password_hash)]
    return []


def root_keys(b: Baseline) -> list[str]:
    if not b.spec.root.ssh_keys:
        return []
    keys = "".join(k + "\n" for k in b.spec.root.ssh_keys)
    return ["install -d -m 0700 -o root -g root /root/.ssh", put_generated("/root/.ssh/authorized_keys", keys, "0600")]


# Rewrites sshd_config on stdout: every global line that sets one of KEYS is commented out, and the block in
# BUILDER_SSHD_BLOCK (the drop-in's settings) follows the drop-in Include, replacing the block a previous run
# wrote. Lines in Match blocks are left alone: they are not global settings.
SSHD_CONFIG_AWK = f"""
BEGIN {{ n = split(KEYS, k, " "); for (i = 1; i <= n; i++) ours[k[i]] = 1 }}
/^{SSHD_BLOCK_BEGIN}/ {{ skip = 1; next }}
skip {{ if (/^{SSHD_BLOCK_END}/) skip = 0; next }}
{{ word = tolower($1); sub(/=.*/, "", word) }}
word == "match" {{ inmatch = 1 }}
!inmatch && (word in ours) {{ print "#" $0; next }}
{{ print }}
!placed && word == "include" && $2 == INCLUDE {{ print ENVIRON["BUILDER_SSHD_BLOCK"]; placed = 1 }}
""".strip("\n")


def sshd(b: Baseline) -> list[str]:
    if not b.spec.sshd.enabled:
        return []
    dropin_glob = m.SSHD_DROPIN.rsplit("/", 1)[0] + "/*.conf"
    include = f"Include {dropin_glob}"
    config = quote(m.SSHD_CONFIG)
    keys = " ".join(key.lower() for key, _ in b.sshd_settings)
    block = b.sshd_main_block
    delimiter = heredoc_delimiter(block)
    assert heredoc_can_carry(block)
    return [
        put_generated(m.SSHD_DROPIN, b.sshd_dropin, "0600"),
        f"if [ -f {config} ]; then",
        # EL 8 ships an sshd_config without the drop-in Include; it must come first (first value wins).
        f"    grep -qxF -- {quote(include)} {config} || sed -i -e {quote('1i ' + include)} {config}",
        f"    builder_sshd_block=$(cat <<'{delimiter}'\n{block}{delimiter}\n)",
        f"    BUILDER_SSHD_BLOCK=$builder_sshd_block awk -v KEYS={quote(keys)} -v INCLUDE={quote(dropin_glob)} "
        f"{quote(SSHD_CONFIG_AWK)} {config} \\",
        f"        | builder_put {config} 0600 root root",
        "fi",
    ]


def selinux(b: Baseline) -> list[str]:
    mode = b.selinux
    if mode is None:
        return []
    lines = [
        "if [ -f /etc/selinux/config ] && ! grep -qx -- "
        f"{quote('SELINUX=' + mode)} /etc/selinux/config; then",
        f"    sed -i -e {quote('s/^SELINUX=.*/SELINUX=' + mode + '/')} /etc/selinux/config",
        "fi",
    ]
    if b.selinux_port_label:
        port = str(b.spec.sshd.port)
        lines += [
            f"if ! semanage port -l -C | grep -qE -- {quote(f'^ssh_port_t +tcp +(.*[ ,])?{port}(,|$)')}; then",
            f"    semanage port -a -t ssh_port_t -p tcp {port} 2>/dev/null || semanage port -m -t ssh_port_t -p tcp {port}",
            "fi",
        ]
    return lines


def firewall(b: Baseline) -> list[str]:
    if not b.spec.firewall.enabled:
        return []
    lines = []
    for port in b.firewall_ports:
        lines.append(f"firewall-offline-cmd -q --query-port={quote(port)} || firewall-offline-cmd --add-port={quote(port)}")
    for service in b.spec.firewall.services:
        lines.append(f"firewall-offline-cmd -q --query-service={quote(service)} || firewall-offline-cmd --add-service={quote(service)}")
    for service in b.firewall_services_removed:
        lines.append(f"if firewall-offline-cmd -q --query-service={quote(service)}; then firewall-offline-cmd --remove-service={quote(service)}; fi")
    return lines


def limits(b: Baseline) -> list[str]:
    return [
        put_generated(m.LIMITS_FILE, b.limits_file),
        put_generated(m.SYSTEMD_LIMITS_FILE, b.systemd_limits_file),
        put_generated(m.USER_LIMITS_FILE, b.systemd_limits_file),
    ]


def sysctls(b: Baseline) -> list[str]:
    return [put_generated(m.SYSCTL_FILE, b.sysctl_file)]


def rc_local(b: Baseline) -> list[str]:
    path = quote(b.paths.rc_local)
    body = b.rc_local_body
    directory = b.paths.rc_local.rsplit("/", 1)[0]
    # EL's /etc/rc.d comes with a package (initscripts on EL 8) that a small install may lack.
    create = f"{{ mkdir -p {quote(directory)} && printf '#!/bin/bash\\n' > {path}; }}" if directory != "/etc" else (
        f"printf '#!/bin/bash\\n' > {path}")
    lines = [put_free_text(b.paths.rc_local, body, "0755")] if body else [
        f"[ -e {path} ] || {create}",
        f"[ -x {path} ] || chmod 0755 {path}",
    ]
    if b.family is Family.EL:
        lines.append("[ -e /etc/rc.local ] || ln -s rc.d/rc.local /etc/rc.local")
    return lines


def services(b: Baseline) -> list[str]:
    return ([f"builder_enable {quote(u)}" for u in b.services_enabled]
            + [f"builder_disable {quote(u)}" for u in b.services_disabled])


def prepull_mirrors(b: Baseline) -> list[str]:
    if b.prepull is None or b.prepull.engine != "podman" or not b.prepull_mirrors:
        return []  # docker: the prepull script tries the mirrors (prepull.py says why)
    return [put_generated(m.MIRRORS_DROPIN, mirrors_dropin(b.prepull, b.prepull_mirrors))]


def prepull(b: Baseline) -> list[str]:
    if b.prepull is None:
        return []
    return [put_generated(m.PREPULL_SCRIPT, prepull_script(b.prepull, b.prepull_mirrors), "0755"),
            put_generated(m.PREPULL_UNIT_FILE, prepull_unit(b.prepull))] + [f"builder_enable {quote(unit)}" for unit in b.prepull_units]


def files(b: Baseline) -> list[str]:
    return [put_free_text(f.path, f.content, f.mode, f.owner, f.group) for f in b.spec.files]


def post_commands(b: Baseline) -> list[str]:
    lines = []
    for index, command in enumerate(b.spec.post_commands):
        lines += [
            f"builder_step 'post_commands[{index}]'",
            f"printf '%s' {b64(command)} | base64 -d | bash -eu -o pipefail",
        ]
    return lines
