"""The root item: the spec's `root` (password locked or its hash set, its SSH keys)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..results import Check, Result, failed, not_applicable, passed, verdict
from ..shell import put_generated
from .unit import Step, Unit, register
from .users import key_problems, set_hash

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "root"


def step(b: BaselineView) -> list[str]:
    if b.spec.root.lock:
        return ["case \"$(getent shadow root | cut -d: -f2)\" in '!'*|'*'*) ;; *) usermod -L root ;; esac"]
    if b.spec.root.password_hash:
        return [set_hash("root", b.spec.root.password_hash)]
    return []


def root_keys(b: BaselineView) -> list[str]:
    if not b.spec.root.ssh_keys:
        return []
    keys = "".join(k + "\n" for k in b.spec.root.ssh_keys)
    return ["install -d -m 0700 -o root -g root /root/.ssh", put_generated("/root/.ssh/authorized_keys", keys, "0600")]


def check(c: Check) -> Iterator[Result]:
    root = c.spec.root
    field = c.shadow.get("root")
    if root.lock:
        if field is None:
            yield failed(NAME, "no root entry in /etc/shadow")
        elif field.startswith(("!", "*")):
            yield passed(NAME, "root password is locked")
        else:
            yield failed(NAME, "root password is not locked")
    elif root.password_hash:
        yield (passed(NAME, "root password hash is the spec's") if field == root.password_hash
               else failed(NAME, "root password hash in /etc/shadow is not the spec's"))
    else:
        yield not_applicable(NAME, "root is not locked and the spec gives no hash: the password is left as it is")
    if root.ssh_keys:
        entry = c.passwd.get("root")
        if entry is None:
            yield failed(NAME, "no root entry in /etc/passwd")
        else:
            yield verdict(NAME, key_problems(c, entry, root.ssh_keys), f"{len(root.ssh_keys)} SSH key(s) for root")


UNIT = register(Unit(
    NAME, "`root`", (Step("root", step), Step("root ssh keys", root_keys)),
    writes="root locked or its hash set, `/root/.ssh/authorized_keys`",
    check=check, checked="shadow, keys and modes", kickstart="`rootpw --lock`, `sshkey`",
    kickstart_block="accounts",
    owns=("/root/.ssh/authorized_keys",),
))
