"""The publish targets: one object per target, in one table that `builder publish` reads, as `KINDS` is for builds.

Each target says where it sends what (the command's help), which `builder publish` options are its own (given
for another target, one is refused: it would be silently ignored) and the function that publishes, named as
".module:function" and imported only when used (openstack and requests are heavy for `builder --help`).

Every publisher reports a failed target the same way: its own line on stderr and in its summary on stdout as it
goes, the other targets published all the same, then `PublishFailed` (errors.py) carrying every target's result;
the command line turns that into exit 1.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from .kinds import Option, resolve


@dataclass(frozen=True)
class Publisher:
    name: str                                   # --to NAME
    where: str                                  # where it sends (the command's one-line help)
    does: str                                   # what it does (the command's description)
    reads: str | None                           # the artifact kind it reads from OUT/<name>/; None: made from the spec
    publish_with: str                           # ".module:function"(item, args) -> None; PublishFailed if a target failed
    options: tuple[Option, ...] = ()

    def publish(self, item, args: argparse.Namespace) -> None:
        resolve(self.publish_with)(item, args)


def at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


# `builder build` writes into OUT and `builder publish` reads from it: one option, one text.
OUT = Option("--out", "the output root: each spec's artifacts are in DIR/<name>/ (<name> is the spec's name field; "
             "default: out)", {"type": Path, "metavar": "DIR"}, default=Path("out"))
JOBS = Option("--jobs", "at most N uploads at a time: N regions (glance), N registry hosts (registry) (default 4)",
              {"type": at_least_one, "metavar": "N"}, default=4)

PUBLISHERS: tuple[Publisher, ...] = (
    Publisher("pxe", "PXE tree", "writes a ready-to-serve PXE tree from the spec", reads=None,
              publish_with=".install.pxe:publish_command",
              options=(Option("--root", "the tree to write (TFTP/HTTP root; required)", {"type": Path, "metavar": "DIR"}),
                       Option("--with-pxelinux", "also copy this host's pxelinux.0 and ldlinux.c32 into the tree",
                              {"action": "store_true"}),
                       Option("--rearm", "the installed machine with this MAC installs again on its next network boot "
                              "(repeatable)", {"action": "append", "metavar": "MAC"}))),
    Publisher("registry", "registry", "pushes the container image to each registry", reads="container",
              publish_with=".container.publish:publish",
              options=(OUT,
                       Option("--registry", "push here instead of the spec's container.registry (repeatable: to each, "
                              "concurrently)", {"action": "append", "metavar": "HOST[:PORT]/REPO[:TAG]"}),
                       Option("--plain-http", "plain HTTP instead of TLS (a trusted network only)", {"action": "store_true"}),
                       Option("--no-warm", "do not pull the image through each of container.prepull.mirrors after the push "
                              "(by default every mirror is warmed, so that a rack of nodes released at once finds the "
                              "image in its cache)", {"action": "store_true"}),
                       JOBS)),
    Publisher("glance", "Glance", "uploads the qcow2 to each cloud", reads="qcow2",
              publish_with=".qcow2.glance_regions:publish_command",
              options=(OUT,
                       Option("--cloud", "a cloud of clouds.yaml to upload to (repeatable; replaces the spec's "
                              "qcow2.glance_clouds; neither: OS_CLOUD)", {"action": "append", "metavar": "NAME"}),
                       JOBS,
                       Option("--timeout", "how long a region may leave a request unanswered, or an upload take to "
                              "become active, before it counts as failed (default 1800)",
                              {"type": float, "metavar": "SECONDS"}, default=1800))),
)

BY_NAME: dict[str, Publisher] = {publisher.name: publisher for publisher in PUBLISHERS}


def publisher(name: str) -> Publisher:
    return BY_NAME[name]


def all_options() -> list[tuple[Option, tuple[str, ...]]]:
    """Every target's option once (an option several targets read is one argument), with the targets that read it."""
    table: dict[str, tuple[Option, tuple[str, ...]]] = {}
    for target in PUBLISHERS:
        for option in target.options:
            table[option.flag] = (option, (*table.get(option.flag, (option, ()))[1], target.name))
    return list(table.values())


def summary() -> str:
    """`builder publish` in one line (the list of commands)."""
    return f"send a built artifact where it is used ({', '.join(p.where for p in PUBLISHERS)})"


def description() -> str:
    """`builder publish --help`: what each target does, and which read a built artifact."""
    does = "; ".join(f"{p.name} {p.does}" + (f" (built with --only {p.reads})" if p.reads else "") for p in PUBLISHERS)
    readers = [p.name for p in PUBLISHERS if p.reads]
    return (f"Send what `builder build` made where it is used: {does}; {' and '.join(readers)} read the artifact from "
            "OUT/<name>/ and re-check its sha256.")


def refuse_foreign_options(args: argparse.Namespace) -> str | None:
    """The first option given that the chosen target does not read, said as the refusal; None when there is none."""
    for option, targets in all_options():
        given = getattr(args, option.dest)
        if given is not None and given is not False and args.to not in targets:
            where = " or ".join(f"--to {t}" for t in sorted(targets))
            return f"{option.flag} is for {where}, not --to {args.to}"
    return None


def fill_defaults(args: argparse.Namespace) -> None:
    """The defaults of the options not given (after the refusal, for which not given is None)."""
    for option, _targets in all_options():
        if option.default is not None and getattr(args, option.dest) is None:
            setattr(args, option.dest, option.default)
