"""The sshd item: the spec's `sshd` settings in a drop-in that sshd reads first, repeated in `sshd_config` itself."""
from __future__ import annotations

import stat
from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..paths import SSHD_CONFIG, SSHD_DROPIN
from ..results import Check, Result, failed, mode_of, not_applicable, passed, same_file, verdict
from ..rootfs import sshd_file_settings, sshd_global_settings
from ..shell import heredoc_can_carry, heredoc_delimiter, put_generated
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..booted import Guest
    from ..view import BaselineView

NAME = "sshd"
# sshd settings every baseline sets, whatever the spec says: no login with an empty password, and a client
# that stops answering is dropped (one unanswered keepalive after 300 s idle: gone within 10 minutes).
# ClientAliveCountMax is 1, not 0: since OpenSSH 8.2, 0 turns the disconnection off.
SSHD_FIXED_SETTINGS = (("PermitEmptyPasswords", "no"), ("ClientAliveInterval", "300"), ("ClientAliveCountMax", "1"))
SSHD_BLOCK_BEGIN = "# BEGIN builder"
SSHD_BLOCK_END = "# END builder"


def sshd_settings(b: BaselineView) -> tuple[tuple[str, str], ...]:
    s = b.spec.sshd
    root = s.permit_root_login
    yes_no = lambda v: "yes" if v else "no"  # noqa: E731
    return (
        ("Port", str(s.port)),
        ("PermitRootLogin", root if isinstance(root, str) else yes_no(root)),
        ("UseDNS", yes_no(s.use_dns)),
        ("GSSAPIAuthentication", yes_no(s.gssapi_authentication)),
        ("PasswordAuthentication", yes_no(s.password_authentication)),
        *SSHD_FIXED_SETTINGS,
    )


def sshd_dropin(b: BaselineView) -> str:
    body = "".join(f"{k} {v}\n" for k, v in sshd_settings(b))
    return ("# Managed by builder. sshd takes the FIRST value it reads, and this file sorts\n"
            "# before the distribution's drop-ins (50-redhat.conf), so these settings win.\n" + body)


def sshd_main_block(b: BaselineView) -> str:
    """The block the main sshd_config carries right after its drop-in Include: the drop-in's settings again.

    sshd reads the drop-in first and keeps the first value, so the block changes nothing for
    sshd; it is there for scanners that read only sshd_config (SSG's OVAL for Debian 12).
    """
    # Not Port: every Port line adds a listening socket, and a second one on the same port fails to bind.
    body = "".join(f"{k} {v}\n" for k, v in sshd_settings(b) if k != "Port")
    return (f"{SSHD_BLOCK_BEGIN}: the settings of {SSHD_DROPIN} but Port (that file is read first,\n"
            "# through the Include above, and wins), repeated for scanners that read only this file.\n"
            f"{body}{SSHD_BLOCK_END}\n")


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


def step(b: BaselineView) -> list[str]:
    if not b.spec.sshd.enabled:
        return []
    dropin_glob = SSHD_DROPIN.rsplit("/", 1)[0] + "/*.conf"
    include = f"Include {dropin_glob}"
    config = quote(SSHD_CONFIG)
    keys = " ".join(key.lower() for key, _ in sshd_settings(b))
    block = sshd_main_block(b)
    delimiter = heredoc_delimiter(block)
    assert heredoc_can_carry(block)
    return [
        put_generated(SSHD_DROPIN, sshd_dropin(b), "0600"),
        f"if [ -f {config} ]; then",
        # EL 8 ships an sshd_config without the drop-in Include; it must come first (first value wins).
        f"    grep -qxF -- {quote(include)} {config} || sed -i -e {quote('1i ' + include)} {config}",
        f"    builder_sshd_block=$(cat <<'{delimiter}'\n{block}{delimiter}\n)",
        f"    BUILDER_SSHD_BLOCK=$builder_sshd_block awk -v KEYS={quote(keys)} -v INCLUDE={quote(dropin_glob)} "
        f"{quote(SSHD_CONFIG_AWK)} {config} \\",
        f"        | builder_put {config} 0600 root root",
        "fi",
    ]


def check(c: Check) -> Iterator[Result]:
    if not c.spec.sshd.enabled:
        yield not_applicable(NAME, "sshd is disabled in the spec (its unit is checked under services)")
        return
    yield same_file(c, NAME, SSHD_DROPIN, sshd_dropin(c.baseline))
    yield from _sshd_config_itself(c)
    settings = sshd_global_settings(c.fs)
    for key, want in sshd_settings(c.baseline):
        values = settings.get(key.lower())
        if not values:
            yield failed(NAME, f"{key} is not set in /etc/ssh/sshd_config or the files it includes")
        elif key == "Port":  # every Port line adds a listening port
            ports = list(dict.fromkeys(v.value for v in values))
            yield (passed(NAME, f"Port {want}") if ports == [want]
                   else failed(NAME, f"sshd listens on port(s) {', '.join(ports)}, expected only {want}"))
        elif values[0].value.lower() == want.lower():
            yield passed(NAME, f"{key} {want} (from {values[0].source})")
        else:
            yield failed(NAME, f"{key} is {values[0].value} (first set in {values[0].source}), expected {want}")


def _sshd_config_itself(c: Check) -> Iterator[Result]:
    """sshd_config alone, as a scanner that reads only it (SSG) sees it: mode 0600, the drop-in's values but Port."""
    path = SSHD_CONFIG
    st = c.fs.stat(path)
    if st is None:
        yield failed(NAME, f"{path} is missing")
        return
    problems = [] if stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0 else [
        f"{path} has mode {mode_of(st)} and uid {st.st_uid}, expected 0600 and root"]
    own = sshd_file_settings(c.fs, path)
    for key, want in sshd_settings(c.baseline):
        have = list(dict.fromkeys(v.value for v in own.get(key.lower(), [])))
        if key == "Port":  # only the drop-in sets it: each Port line adds a listening socket
            if have:
                problems.append(f"{path} itself sets Port {' '.join(have)}: sshd would listen there too")
        elif [v.lower() for v in have] != [want.lower()]:
            problems.append(f"{key} is {' and '.join(have) or 'not set'} in {path} itself, expected {want}")
    yield verdict(NAME, problems, f"{path} is 0600 and carries the same settings itself (for scanners)")


def booted(b: BaselineView, guest: Guest) -> Iterator[Result]:
    if not b.spec.sshd.enabled:
        yield not_applicable(NAME, "sshd is disabled in the spec")
        return
    port = b.spec.sshd.port
    listening = guest.shell("ss -ltnH").out
    on_port = any(line.split()[3].rsplit(":", 1)[-1] == str(port) for line in listening.splitlines() if len(line.split()) > 3)
    yield passed(NAME, f"listening on port {port}") if on_port else failed(NAME, f"nothing listens on port {port}")
    effective = dict(line.split(" ", 1) for line in guest.shell("sshd -T").out.splitlines() if " " in line)
    for key, value in sshd_settings(b):
        got = effective.get(key.lower())
        yield (passed(NAME, f"sshd -T: {key.lower()} {got}") if got == value.lower()
               else failed(NAME, f"sshd -T: {key.lower()} is {got!r}, expected {value.lower()!r}"))
    # From the host: the banner on the forwarded port, and root refused where the spec says so.
    banner = guest.ssh_banner()
    yield (passed(NAME, f"from the host: {banner.splitlines()[0] if banner else ''}") if banner.startswith("SSH-2.0-")
           else failed(NAME, f"no SSH banner on the forwarded port: {banner!r}"))
    if dict(sshd_settings(b))["PermitRootLogin"] == "no":
        code, stderr = guest.root_login()
        yield (passed(NAME, "root login refused from the host (permission denied)")
               if code == 255 and "Permission denied" in stderr
               else failed(NAME, f"root login was not refused: exit {code}: {stderr.strip()[:200]}"))


UNIT = register(Unit(
    NAME, "`sshd`", (Step("sshd", step),),
    writes="`/etc/ssh/sshd_config.d/10-builder.conf` (sorts before `50-redhat.conf`: first value wins), "
           "with `PermitEmptyPasswords no`, `ClientAliveInterval 300`, `ClientAliveCountMax 1` always; "
           "`sshd_config` 0600 repeats them but Port after its Include (for scanners that read only it)",
    check=check,
    checked="effective config, Includes followed; `sshd_config` itself and its mode; "
            "booted: `sshd -T`, port, banner, root refused",
    booted=booted,
    not_applicable=in_container("a container is reached through its runtime, not sshd "
                                "(set container.sshd: true to keep sshd)"),
    kept_by="container.sshd", kept=lambda spec: bool(spec.container and spec.container.sshd),
    packages=lambda b: ("openssh-server",), package_order=10,
    owns=(SSHD_CONFIG, SSHD_DROPIN.rsplit("/", 1)[0] + "/"),
))
