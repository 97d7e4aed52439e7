"""The rc-local item: an executable rc.local, with the spec's `rc_local.commands` (carried base64)."""
from __future__ import annotations

import posixpath
import stat
from collections.abc import Iterator
from shlex import quote
from typing import TYPE_CHECKING

from ..paths import RC_LOCAL
from ..results import Check, Result, failed, first_difference, mode_of, verdict
from ..shell import put_free_text
from .unit import Step, Unit, in_container, register

if TYPE_CHECKING:
    from ..view import BaselineView

NAME = "rc-local"


def rc_local_body(b: BaselineView) -> str | None:
    if not b.spec.rc_local.commands:
        return None
    head = "#!/bin/bash\n# Managed by builder: rc.local runs once at the end of boot (rc-local.service).\n"
    if b.facts.baseline.rc_local_lock:
        head += f"touch {b.facts.baseline.rc_local_lock}\n"
    return head + "".join(c if c.endswith("\n") else c + "\n" for c in b.spec.rc_local.commands)


def step(b: BaselineView) -> list[str]:
    path = quote(b.paths.rc_local)
    body = rc_local_body(b)
    directory = b.paths.rc_local.rsplit("/", 1)[0]
    # EL's /etc/rc.d comes with a package (initscripts on EL 8) that a small install may lack.
    create = f"{{ mkdir -p {quote(directory)} && printf '#!/bin/bash\\n' > {path}; }}" if directory != "/etc" else (
        f"printf '#!/bin/bash\\n' > {path}")
    lines = [put_free_text(b.paths.rc_local, body, "0755")] if body else [
        f"[ -e {path} ] || {create}",
        f"[ -x {path} ] || chmod 0755 {path}",
    ]
    link = b.facts.baseline.rc_local_link
    if link:
        target = posixpath.relpath(b.paths.rc_local, posixpath.dirname(link))
        lines.append(f"[ -e {link} ] || ln -s {target} {link}")
    return lines


def check(c: Check) -> Iterator[Result]:
    path, body = c.baseline.paths.rc_local, rc_local_body(c.baseline)
    st = c.fs.stat(path)
    if st is None:
        yield failed(NAME, f"{path} is missing")
        return
    if not stat.S_ISREG(st.st_mode):
        yield failed(NAME, f"{path} is not a regular file")
        return
    text = c.fs.read_text(path) or ""
    problems = []
    if not st.st_mode & stat.S_IXUSR:
        problems.append(f"{path} is not executable (mode {mode_of(st)}), so rc-local.service will not run it")
    if not text.startswith("#!"):
        problems.append(f"{path} does not start with #!")
    if body is not None and text != body:
        problems.append(f"{path} differs from the baseline: {first_difference(text, body, show=False)}")
    yield verdict(NAME, problems, f"{path} is executable" + (" and holds the spec's commands" if body else ""))


UNIT = register(Unit(
    NAME, "`rc_local.commands`", (Step("rc-local", step),),
    writes="executable `rc.local` (with the spec's commands: carried base64)",
    check=check, checked="mode, shebang, content",
    not_applicable=in_container("a container runs no init system, so rc.local never runs"),
    owns=(*RC_LOCAL.values(),),  # EL's /etc/rc.local (a link to rc.d/rc.local) is Debian's file
))
