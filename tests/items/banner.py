"""A test-only baseline item, `banner` (/etc/issue.net): the whole of an item in one module, as builder/baseline/items/
asks.

tests/test_items.py loads this file in a fixture (loading it registers the item) and unregisters it after: it
shows that one new module puts an item in the script, the checks, the package list, the owned paths and the
docs table. It is not in builder/baseline/items/, so no build ever sees it.
"""
from __future__ import annotations

from collections.abc import Iterator

from builder.baseline.items import Step, Unit, register
from builder.baseline.items.unit import in_container
from builder.baseline.results import Check, Result, same_file
from builder.baseline.shell import put_generated

NAME = "banner"
PATH = "/etc/issue.net"


def banner(b) -> str:
    return f"Authorised use only. This is {b.spec.hostname or b.spec.name}.\n"


def step(b) -> list[str]:
    return [put_generated(PATH, banner(b))]


def check(c: Check) -> Iterator[Result]:
    yield same_file(c, NAME, PATH, banner(c.baseline))


UNIT = register(Unit(
    NAME, "(test only)", (Step("banner", step),),
    writes="`/etc/issue.net`", check=check, checked="file content",
    not_applicable=in_container("a container shows no login banner"),
    packages=lambda b: ("test-only-banner-package",),
    owns=(PATH,),
))
