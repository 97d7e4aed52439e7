"""builder/ reads top-down: every import goes to the same layer or a lower one, and no modules import each other in a cycle.

Imports are found with ast at any depth (inside functions too), and so are the lazily
loaded ".module:function" strings a table hands to `resolve`/`import_module`.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "builder"

# The one table of layers, lowest first; each layer is one or more groups of modules. "name.*" places a module or
# package and everything below it. A module imports its own layer or a lower one, and the groups of one layer stand side
# by side: none imports another (the container and the qcow2 both start from the base tree below them, and neither
# builds on the other; the install media need neither).
LAYERS: dict[str, dict[str, tuple[str, ...]]] = {
    "foundation": {"foundation": ("builder", "builder.errors", "builder.resources", "builder.families.*", "builder.targets",
                                  "builder.packages", "builder.host.*", "builder.workers", "builder.manifest.*",
                                  "builder.output", "builder.rpmdb", "builder.locks", "builder.repodata", "builder.versions")},
    "spec": {"spec": ("builder.spec.*",)},
    "baseline": {"baseline": ("builder.baseline.*",)},
    "base tree": {"base tree": ("builder.bootstrap.*",)},
    "images and install media": {
        "container": ("builder.container.*",),
        "qcow2": ("builder.qcow2.*",),
        "install": ("builder.install.*", "builder.rendered"),
    },
    "artifact kinds": {"artifact kinds": ("builder.build", "builder.kinds.*", "builder.publishers")},
    "cli": {"cli": ("builder.cli",)},
}

# Upward imports allowed, each with its reason (none today). An entry that no longer matches an import
# fails test_known_upward_imports_still_exist: delete it then.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}

LAZY_REF = re.compile(r"(\.+)([A-Za-z_][\w.]*):\w+")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line})"


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _absolute(module: str, is_package: bool, level: int, name: str) -> str:
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports(module: str, path: Path, known: set[str]) -> list[Edge]:
    """Every module of the package that `module` imports, at any depth, including lazy ".module:function" strings."""
    is_package = path.name == "__init__.py"
    edges: dict[Edge, None] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.level, node.module or "")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (lazy := LAZY_REF.fullmatch(node.value)):
            # importlib.import_module(name, __package__) resolves against the module's package
            names = [_absolute(module, is_package, len(lazy[1]), lazy[2])]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            # a submodule importing its own package (`from . import x`) is no dependency between layers
            if name and name != module and not module.startswith(name + "."):
                edges[Edge(module, name, node.lineno)] = None
    return list(edges)


def graph(root: Path) -> dict[str, list[Edge]]:
    mods = modules(root)
    return {module: imports(module, path, set(mods)) for module, path in mods.items()}


def members(layer: str) -> tuple[str, ...]:
    """Every entry of a layer's groups."""
    return tuple(member for group in LAYERS[layer].values() for member in group)


def _member(module: str, member: str) -> bool:
    return module == member.removesuffix(".*") or (member.endswith(".*") and module.startswith(member[:-1]))


def group_of(module: str) -> tuple[int, str] | None:
    """(the rank of the module's layer, its group's name), or None when LAYERS does not place it."""
    for rank, groups in enumerate(LAYERS.values()):
        for name, members in groups.items():
            if any(_member(module, member) for member in members):
                return rank, name
    return None


def layer_of(module: str) -> int | None:
    group = group_of(module)
    return None if group is None else group[0]


def upward(edges: dict[str, list[Edge]]) -> list[Edge]:
    return [e for module in edges for e in edges[module]
            if layer_of(e.target) is not None and layer_of(e.source) is not None and layer_of(e.target) > layer_of(e.source)]


def sideways(edges: dict[str, list[Edge]]) -> list[Edge]:
    """Imports from one group of a layer into another group of the same layer."""
    return [e for module in edges for e in edges[module]
            if (source := group_of(e.source)) is not None and (target := group_of(e.target)) is not None
            and source[0] == target[0] and source[1] != target[1]]


def cycles(edges: dict[str, list[Edge]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in {e.target for e in edges[v]}:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            component.append(v)
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _without_known(edges: dict[str, list[Edge]]) -> dict[str, list[Edge]]:
    return {m: [e for e in es if (e.source, e.target) not in KNOWN_UPWARD] for m, es in edges.items()}


def _layer_name(module: str) -> str:
    return list(LAYERS)[layer_of(module)]


def _group_name(module: str) -> str:
    return group_of(module)[1]


def test_every_module_has_a_layer():
    unplaced = [m for m in modules(PACKAGE) if layer_of(m) is None]
    assert not unplaced, f"place these modules in tests/test_layers.py LAYERS: {unplaced}"


def test_no_module_imports_from_a_higher_layer():
    found = upward(_without_known(graph(PACKAGE)))
    report = [f"{e}: {_layer_name(e.source)} imports {_layer_name(e.target)}" for e in found]
    assert not report, "imports from a lower layer to a higher one:\n" + "\n".join(report)


def test_no_group_imports_another_of_its_layer():
    found = sideways(_without_known(graph(PACKAGE)))
    report = [f"{e}: {_group_name(e.source)} imports {_group_name(e.target)}, beside it in {_layer_name(e.source)}"
              for e in found]
    assert not report, "imports between groups of one layer:\n" + "\n".join(report)


def test_no_import_cycles():
    found = cycles(_without_known(graph(PACKAGE)))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def by_package(edges: dict[str, list[Edge]]) -> dict[str, list[Edge]]:
    """The import graph with each module folded into its sub-package (builder.x.y counts as builder.x): a cycle
    between two sub-packages that no two modules close (bootstrap -> container.definition, container -> bootstrap)."""
    def fold(module: str) -> str:
        return ".".join(module.split(".")[:2])
    folded: dict[str, list[Edge]] = {fold(m): [] for m in edges}
    for module, out in edges.items():
        folded[fold(module)] += [Edge(fold(e.source), fold(e.target), e.line) for e in out if fold(e.target) != fold(module)]
    return folded


def test_no_import_cycles_between_sub_packages():
    found = cycles(by_package(_without_known(graph(PACKAGE))))
    assert not found, "import cycles between sub-packages:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_known_upward_imports_still_exist():
    present = {(e.source, e.target) for e in upward(graph(PACKAGE))}
    stale = [pair for pair in KNOWN_UPWARD if pair not in present]
    assert not stale, f"these upward imports are gone: delete them from KNOWN_UPWARD: {stale}"


def test_the_spec_layer_imports_only_the_foundation_and_itself():
    spec, foundation = list(LAYERS).index("spec"), list(LAYERS).index("foundation")
    edges = graph(PACKAGE)
    wrong = [str(e) for m in edges if layer_of(m) == spec for e in edges[m] if layer_of(e.target) not in (spec, foundation)]
    assert not wrong, wrong
    assert {e.target for m in edges if layer_of(m) == spec for e in edges[m] if layer_of(e.target) == foundation} <= {
        "builder", "builder.errors", "builder.targets", "builder.packages"}


@pytest.fixture
def bad_package(tmp_path: Path) -> Path:
    """A package with an upward import hidden in a function, a lazy upward load, a cycle and an unplaced module."""
    root = tmp_path / "builder"
    (root / "spec").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "spec" / "__init__.py").write_text("def late():\n    from ..cli import main\n    return main\n")
    (root / "spec" / "model.py").write_text("TABLE = {'x': '..install.iso:build_iso'}\n")
    (root / "cli.py").write_text("from .spec import late\n\ndef main():\n    pass\n")
    (root / "install").mkdir()
    (root / "install" / "__init__.py").write_text("")
    (root / "install" / "iso.py").write_text("def build_iso():\n    pass\n")
    (root / "stray.py").write_text("import builder.cli\n")
    return root


def test_the_checks_find_what_they_look_for(bad_package: Path):
    edges = graph(bad_package)
    assert {(e.source, e.target, e.line) for e in upward(edges)} == {
        ("builder.spec", "builder.cli", 2), ("builder.spec.model", "builder.install.iso", 1)}
    assert cycles(edges) == [["builder.cli", "builder.spec"]]
    assert [m for m in modules(bad_package) if layer_of(m) is None] == ["builder.stray"]


@pytest.fixture
def images_package(tmp_path: Path) -> Path:
    """The base tree and both images as they were before the base-tree layer: the image definition in container/,
    read by bootstrap/ (which container/ imports), and a qcow2 module reaching into container/."""
    root = tmp_path / "builder"
    for package in ("bootstrap", "container", "qcow2"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "bootstrap" / "__init__.py").write_text("from ..container.definition import image_definition\n")
    (root / "container" / "definition.py").write_text("def image_definition():\n    pass\n")
    (root / "container" / "build.py").write_text("from .. import bootstrap\n")
    (root / "qcow2" / "dib.py").write_text("import os\n\nfrom ..container.definition import image_definition\n")
    return root


def test_the_checks_find_an_image_below_the_base_tree_and_images_importing_each_other(images_package: Path):
    edges = graph(images_package)
    assert [str(e) for e in upward(edges)] == ["builder.bootstrap -> builder.container.definition (line 1)"]
    assert [str(e) for e in sideways(edges)] == ["builder.qcow2.dib -> builder.container.definition (line 3)"]
    assert cycles(by_package(edges)) == [["builder.bootstrap", "builder.container"]]
    assert not cycles(edges), "no two modules close the cycle: only the per-package view sees it"
