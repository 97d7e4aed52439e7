"""The selinux item: the spec's `selinux` mode in `/etc/selinux/config` (EL), and sshd's port labelled `ssh_port_t`."""
from __future__ import annotations

from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ...spec import SELinux
from ..results import Check, Result, failed, not_applicable, passed, wrong_setting
from ..rootfs import parse_env
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "selinux"


def port_label(b: BaselineView) -> bool:
    """A non-22 sshd port needs ssh_port_t, or sshd cannot bind it."""
    return (b.selinux not in (None, SELinux.DISABLED) and b.spec.sshd.enabled
            and b.spec.sshd.port != 22)


def packages(b: BaselineView) -> list[str]:
    return ["policycoreutils-python-utils"] if port_label(b) else []


def step(b: BaselineView) -> list[str]:
    mode = b.selinux
    if mode is None:
        return []
    lines = [
        "if [ -f /etc/selinux/config ] && ! grep -qx -- "
        f"{quote('SELINUX=' + mode)} /etc/selinux/config; then",
        f"    sed -i -e {quote('s/^SELINUX=.*/SELINUX=' + mode + '/')} /etc/selinux/config",
        "fi",
    ]
    if port_label(b):
        port = str(b.spec.sshd.port)
        lines += [
            f"if ! semanage port -l -C | grep -qE -- {quote(f'^ssh_port_t +tcp +(.*[ ,])?{port}(,|$)')}; then",
            f"    semanage port -a -t ssh_port_t -p tcp {port} 2>/dev/null || semanage port -m -t ssh_port_t -p tcp {port}",
            "fi",
        ]
    return lines


def check(c: Check) -> Iterator[Result]:
    b = c.baseline
    if b.selinux is None:
        yield not_applicable(NAME, "SELinux is not part of the Debian baseline")
        return
    text = c.fs.read_text("/etc/selinux/config")
    have = parse_env(text).get("SELINUX")
    yield (passed(NAME, f"SELINUX={b.selinux}") if have == b.selinux
           else failed(NAME, wrong_setting("SELINUX", "/etc/selinux/config", text, have, b.selinux.value)))
    if port_label(b):
        port = c.spec.sshd.port
        # semanage writes to the store the config names (EL: targeted; an admin may run mls).
        store = parse_env(text).get("SELINUXTYPE") or "targeted"
        path = f"/var/lib/selinux/{store}/active/ports.local"
        want = f"portcon tcp {port} system_u:object_r:ssh_port_t:s0"
        lines = {" ".join(line.split()) for line in (c.fs.read_text(path) or "").splitlines()}
        yield (passed(NAME, f"tcp port {port} is labelled ssh_port_t") if want in lines
               else failed(NAME, f"tcp port {port} is not labelled ssh_port_t in {path}: sshd could not bind it"))


UNIT = register(Unit(
    NAME, "`selinux`", (Step("selinux", step),),
    writes="`/etc/selinux/config`; `semanage port -a -t ssh_port_t` for a non-22 port",
    check=check, checked="config, `ports.local`", kickstart="`selinux --MODE`",
    not_applicable=in_container("a container runs under the host's SELinux policy"),
    packages=packages, package_order=60,
    owns=("/etc/selinux/config",),
))
