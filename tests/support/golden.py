"""The golden files and what each is rendered from: the one list `make golden` rewrites and the tests compare.

The tests only compare (a difference fails and names the command); `scripts/update-golden` (`make golden`) is the
one way to rewrite them, and prints what changed, for a person to read in the diff before committing it.

    python -m tests.support.golden          # from the repository root: rewrite, print the diff
    python -m tests.support.golden --check  # rewrite nothing; exit 1 if a golden file differs
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
COMMAND = "make golden"  # (scripts/update-golden): what a failing golden test tells the developer to run
TABLE_START = "<!-- item table:"
TABLE_END = "<!-- end of item table -->"


@contextmanager
def examples_as_written() -> Iterator[None]:
    """The examples' mirror URLs as written, not rewritten to this host's mirror (BUILDER_MIRRORS unset)."""
    saved = os.environ.pop("BUILDER_MIRRORS", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["BUILDER_MIRRORS"] = saved


def el_examples(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / "examples").glob("*.yaml") if "debian" not in p.name)


def kickstart(example: Path) -> str:
    from builder.install.kickstart import render_kickstart
    from builder.spec import load_spec, spec_sha256

    with examples_as_written():
        spec, _, _ = load_spec(example)
        return render_kickstart(spec, spec_sha256(spec))


def debian_baseline_script(root: Path = ROOT) -> str:
    """Debian specs have no kickstart; their golden artifact is the baseline script itself."""
    from builder.baseline import Baseline, render_script
    from builder.spec import load_spec

    with examples_as_written():
        spec, _, _ = load_spec(root / "examples" / "debian12-node.yaml")
        return render_script(Baseline(spec))


def item_table() -> str:
    from builder.baseline.items import markdown_table  # the one line to change if the item table moves

    return markdown_table()


def with_item_table(doc: str, table: str) -> str:
    """docs/baseline.md with the text between its item-table markers replaced."""
    start = doc.index("\n", doc.index(TABLE_START)) + 1
    end = doc.index(TABLE_END)
    return doc[:start] + table + doc[end:]


def goldens(root: Path = ROOT) -> dict[Path, Callable[[], str]]:
    """Every golden file of the checkout at `root` and how its expected text is made."""
    golden, doc = root / "tests" / "golden", root / "docs" / "baseline.md"
    table: dict[Path, Callable[[], str]] = {golden / f"{p.stem}.ks": (lambda p=p: kickstart(p)) for p in el_examples(root)}
    table[golden / "debian12-node.baseline.sh"] = lambda: debian_baseline_script(root)
    table[doc] = lambda: with_item_table(doc.read_text(), item_table())
    return table


def differs(path: Path, expected: str, root: Path = ROOT) -> str:
    """The failure message of a golden test: empty when the file holds `expected`."""
    actual = path.read_text() if path.exists() else ""
    if actual == expected:
        return ""
    name = path.relative_to(root)
    diff = "".join(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True),
                                        f"{name} (committed)", f"{name} (rendered now)"))
    return f"{name} differs from what builder renders now; if the change is intended, run " \
           f"`{COMMAND}` (scripts/update-golden), read its diff and commit it\n{diff}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/update-golden", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a golden file differs")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    table = goldens(root)
    changed = []
    for path, render in table.items():
        expected = render()
        message = differs(path, expected, root)
        if not message:
            continue
        changed.append(path)
        print(message.split("\n", 1)[1], end="")
        if not args.check:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(expected)
            tmp.replace(path)
    rel = [str(p.relative_to(root)) for p in changed]
    verb = "differ" if args.check else "rewritten"
    print(f"{len(changed)} golden file(s) {verb}" + (f": {', '.join(rel)}" if rel else f" (all {len(table)} up to date)"),
          file=sys.stderr)
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
