"""The item table: one record per baseline item, and everything about items read from it."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from builder.baseline import Baseline
from builder.baseline.booted import booted_checks
from builder.baseline.items import BOOTED_CHECKS, CHECKS, ITEMS, STEPS, markdown_table, not_applicable_items
from builder.baseline.names import Item
from builder.baseline.script import step_function
from builder.baseline.verify import check_function
from builder.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DOC = ROOT / "docs" / "baseline.md"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"


def test_one_record_per_item_in_the_names_order():
    assert [r.item for r in ITEMS] == list(Item)


@pytest.mark.parametrize("record", ITEMS, ids=lambda r: r.item)
def test_every_item_has_a_step_and_a_check_or_says_why_not(record):
    assert record.steps or record.no_step, f"{record.item}: no script step and no reason"
    assert not (record.steps and record.no_step), f"{record.item}: a step and a reason for having none"
    assert record.check or record.no_check, f"{record.item}: no check and no reason"
    assert record.spec_field and record.writes and record.checked, f"{record.item}: the docs columns are empty"


def test_the_script_runs_its_steps_in_the_order_it_always_has():
    assert [step.name for _, step in STEPS] == [
        "repos", "packages", "hostname", "network", "locale", "timezone", "time", "users", "root", "root ssh keys",
        "sshd", "selinux", "firewall", "limits", "sysctls", "rc-local", "services", "prepull-mirrors", "prepull", "files",
        "post_commands"]


def test_every_step_renders_something_for_some_example():
    """A step that never renders anything for any shipped example would be dead (or untested) code."""
    specs = [load_spec(example)[0] for example in EXAMPLES]
    # No shipped example gives root a key; one that does:
    specs.append(specs[0].model_copy(update={"root": specs[0].root.model_copy(update={"ssh_keys": [KEY]})}))
    silent = {step.name for _, step in STEPS}
    for spec in specs:
        b = Baseline(spec)
        silent -= {step.name for _, step in STEPS if step_function(step)(b)}
    assert silent == set()


def test_derived_tables_follow_the_records():
    assert [item for item, _ in CHECKS] == [r.item for r in ITEMS if r.check]
    assert [item for item, _ in BOOTED_CHECKS] == [r.item for r in ITEMS if r.booted]


def test_applicability_is_the_table_s_and_container_sshd_keeps_sshd():
    spec = load_spec(ROOT / "examples" / "debian12-node.yaml")[0]
    na = not_applicable_items(spec, "container")
    assert list(na) == [r.item for r in ITEMS if "container" in r.not_applicable]
    assert not_applicable_items(spec, "rootfs") == {} == not_applicable_items(spec, "qcow2")
    kept = spec.model_copy(update={"container": spec.container.model_copy(update={"sshd": True})})
    assert Item.SSHD not in not_applicable_items(kept, "container") and Item.SSHD in na
    with pytest.raises(ValueError):
        not_applicable_items(spec, "vm")


def test_kickstart_commands_named_by_the_table_are_in_the_kickstarts():
    """Each command an item record says the kickstart owns appears at the start of a line of some golden kickstart."""
    lines = [line for path in (ROOT / "tests" / "golden").glob("*.ks") for line in path.read_text().splitlines()]
    for record in ITEMS:
        for command in re.findall(r"`([^`]+)`", record.kickstart):
            word = command.split()[0]
            if word.startswith("@") or word.startswith("-"):
                continue
            assert any(line.split()[:1] == [word] for line in lines), f"{record.item}: no `{word}` line in any kickstart"


def test_the_docs_item_table_is_the_records():
    text = DOC.read_text()
    start = text.index("\n", text.index("<!-- item table:")) + 1
    end = text.index("<!-- end of item table -->")
    if os.environ.get("UPDATE_GOLDEN"):
        DOC.write_text(text[:start] + markdown_table() + text[end:])
    else:
        assert text[start:end] == markdown_table(), "docs/baseline.md's item table differs; rerun with UPDATE_GOLDEN=1"


def test_the_kickstart_template_has_one_block_per_item_command_and_no_other():
    """Each item the kickstart owns is rendered in the template block its record names, and every block is one."""
    template = (ROOT / "builder" / "resources" / "kickstarts" / "base.ks.j2").read_text()
    blocks = set(re.findall(r"{% block (\w+) %}", template)) - {"packages_options"}
    assert blocks == {r.template_block for r in ITEMS if r.template_block}
    for release in (ROOT / "builder" / "resources" / "kickstarts").glob("el*.ks.j2"):
        assert set(re.findall(r"{% block (\w+) %}", release.read_text())) <= blocks | {"packages_options"}, release.name


def test_every_function_a_record_names_exists():
    """The records name their steps and checks; the modules above the table resolve every name."""
    for _, step in STEPS:
        assert callable(step_function(step)), step
    for _, ref in CHECKS:
        assert callable(check_function(ref)), ref
    assert [item for item, _ in booted_checks()] == [item for item, _ in BOOTED_CHECKS]
    assert all(callable(check) for _, check in booted_checks())
