"""One baseline, three artifacts: what each artifact runs is the same script, not three look-alikes.

The kickstart's %post and the qcow2 element run the full script byte for byte; the container
runs the same steps with the items that have no meaning there left out, and says so in a comment.
(The real artifacts are checked against the same items in test_rootfs_debian, test_container
and test_qcow2_image.)
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from builder.baseline import Baseline, render_script
from builder.baseline.items import steps as item_steps
from builder.bootstrap.plan import plan_for
from builder.install.kickstart import render_kickstart
from builder.kinds import BY_NAME, Kind
from builder.qcow2.dib import compose
from builder.spec import LoadedSpec, load_spec, spec_sha256

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


def steps(script: str) -> dict[str, str]:
    """Step name -> the shell lines of that step."""
    blocks = script.split("\nbuilder_step ")[1:]
    return {block.split("\n", 1)[0]: block.split("\n", 1)[1] if "\n" in block else "" for block in blocks}


def package_list(block: str) -> list[str]:
    match = re.search(r"^for p in (.*?); do", block, re.M)
    assert match, block
    return match.group(1).split()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_kickstart_qcow2_and_container_carry_the_same_baseline(example):
    spec = load_spec(example)[0]
    node = Baseline(spec)
    full = render_script(node)

    # The qcow2 element runs exactly the full script (the kickstart's %post where there is one).
    if BY_NAME[Kind.QCOW2].refusal(spec) is None:  # a spec without repositories has no qcow2
        assert compose(plan_for(LoadedSpec(example, spec, []), images=True)).files["baseline.sh"] == full
    if spec.target.info.kickstart_version:
        assert full.rstrip("\n") in render_kickstart(spec, spec_sha256(spec))

    container = Baseline(spec, context="container")
    container_steps = steps(render_script(container))
    skipped = container.not_applicable
    assert skipped, "a container always leaves host-owned items out"
    container_script = render_script(container)
    for item, why in skipped.items():
        assert f"\n# {item}: not applicable in a container: {why}\n" in container_script, item
        assert why

    item_of = {step.name: item.name for item, step in item_steps()}
    for name, lines in steps(full).items():
        if item_of.get(name) in skipped:
            assert name not in container_steps, f"{name} is not applicable in a container but still runs there"
        elif name == "packages":
            # The same packages, minus those installed only for an item the container leaves out.
            # docs/baseline.md: the packages that only serve an item (written here by hand), and the pre-pull's engine.
            only_for = {"chrony": "time", "openssh-server": "sshd", "firewalld": "firewall", "policycoreutils-python-utils": "selinux"}
            left_out = {pkg for pkg, item in only_for.items() if item in skipped} | set(node.prepull_packages)
            expected = [p for p in package_list(lines) if p not in left_out or p in spec.packages.install]
            assert package_list(container_steps[name]) == expected
        else:
            assert container_steps.get(name) == lines, f"step {name} differs between the container and the other artifacts"
