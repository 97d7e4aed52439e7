"""The baseline items: one module per item, each registering one `Unit` (unit.py) when it is imported.

An item's module holds all of it: its name, spec field(s) and docs strings, the kickstart command that owns it,
where it does not apply and why, its packages, the paths it owns, the file bodies it renders, its script step(s),
its offline check and its booted check. The script, the checks, the package list, the managed-path list and
the docs table are read from the register (unit.py), in the order the modules are imported below: the order
the script runs and the checks report.

Adding an item is one new module here: build a `Unit` and `register` it (see any module below, hosts.py is the
smallest), then import the module below at the place its step runs (an item module may import an earlier
item's module, never a later one: importing registers). `make golden` rewrites docs/baseline.md's item table
from the register (`markdown_table`); tests/test_items.py compares the two.
"""
# isort: off
from . import (  # noqa: F401 - each import registers its item: this order is the script's
    repos,
    packages,
    hostname,
    hosts,
    network,
    locale,
    timezone,
    keyboard,
    time,
    users,
    root,
    sshd,
    selinux,
    firewall,
    kernel_args,
    limits,
    sysctls,
    rc_local,
    services,
    prepull_mirrors,
    prepull,
    files,
    post_commands,
    seal,
    cloud_init,
    growroot,
)
# isort: on
from .unit import (
    CONTEXTS,
    Step,
    Unit,
    booted_checks,
    item_packages,
    items_in,
    markdown_table,
    not_applicable_items,
    owner_of,
    register,
    steps,
    units,
    unregister,
)

__all__ = ["CONTEXTS", "Step", "Unit", "booted_checks", "item_packages", "items_in", "markdown_table", "not_applicable_items", "owner_of",
           "register", "steps", "units", "unregister"]
