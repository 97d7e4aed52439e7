"""One plan per spec (builder/bootstrap/plan.py): what `builder build` computes once per spec and hands to every kind."""
from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

from builder.bootstrap.plan import Plan, plan_for
from builder.build import BuildContext, job_for
from builder.cli import main
from builder.errors import BuilderError
from builder.kinds import KINDS, BuildOptions, Kind, resolve
from builder.spec import load_all

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEBIAN = EXAMPLES / "debian12-node.yaml"


def job(spec: Path, *only: Kind):
    item = load_all([str(spec)])[0]
    return job_for(BuildContext((item,), Path("OUT"), only, BuildOptions()), item)


def without_repos(tmp_path: Path) -> Path:
    text = DEBIAN.read_text()
    spec = tmp_path / DEBIAN.name
    spec.write_text(text[:text.index("repos:")] + text[text.index("hostname:"):])
    return spec


def test_an_image_kind_is_planned_with_the_targets_definition_and_base_tree():
    plan = job(DEBIAN, Kind.CONTAINER).plan
    # base-images/debian-12.yaml: bootstrapped by debootstrap, variant minbase, suite bookworm, from the spec's mirror
    assert plan.base_image.definition.name == "debian-12"
    assert plan.base_image.tree.command_line(Path("ROOT")).startswith("debootstrap --variant=minbase")
    assert " bookworm ROOT " in plan.base_image.tree.command_line(Path("ROOT")) + " "
    assert (plan.baseline.context, plan.container_baseline.context) == ("rootfs", "container")
    assert plan.item.path == DEBIAN and plan.target.codename == "bookworm"


def test_a_build_without_an_image_kind_plans_no_base_tree(tmp_path, capsys):
    """A Debian spec without repositories has no base tree (debootstrap needs the spec's mirror for its suite): a build
    that makes no image does not ask for one."""
    spec = without_repos(tmp_path)
    with pytest.raises(BuilderError, match="no repository in the spec serves bookworm"):
        plan_for(load_all([str(spec)])[0], images=True)
    plan = job(spec).plan
    assert plan.image is None
    with pytest.raises(BuilderError, match="planned without its base tree"):
        _ = plan.base_image
    assert main(["build", str(spec), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    assert "nothing to build by default" in capsys.readouterr().err


def test_a_plan_is_frozen():
    plan = job(DEBIAN, Kind.QCOW2).plan
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.image = None  # type: ignore[misc]


@pytest.mark.parametrize("kind", [k for k in KINDS if k.base_tree], ids=lambda k: k.name)
def test_the_image_kinds_take_the_typed_plan(kind):
    for ref in (kind.plan_with, kind.build_with):
        assert typing.get_type_hints(resolve(ref))["plan"] is Plan, ref


IMAGE_BUILDERS = ("builder/container/build.py", "builder/qcow2/build.py", "builder/qcow2/dib.py")
DERIVED_FROM_THE_SPEC = {"Baseline", "image_definition", "base_tree_for", "plan_for"}


def calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


@pytest.mark.parametrize("module", IMAGE_BUILDERS)
def test_the_image_builders_derive_nothing_the_plan_holds(module):
    """A builder takes the baselines, the image definition and the base tree from its plan; it builds none of its own."""
    assert not calls(ROOT / module) & DERIVED_FROM_THE_SPEC


def test_the_check_sees_a_builder_that_makes_its_own_baseline(tmp_path):
    source = tmp_path / "dib.py"
    source.write_text("from ..baseline import Baseline\n\ndef distro(spec):\n    return Baseline(spec).selinux\n")
    assert calls(source) & DERIVED_FROM_THE_SPEC == {"Baseline"}
