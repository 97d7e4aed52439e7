"""The baseline items: one module per item (builder/baseline/items/), and what is read from them.

Expected values come from facts written outside the code: the hand-checked golden kickstart's `builder_step`
lines, the kickstart template, the docs, and lists written here by hand.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from support.golden import COMMAND

from builder.baseline import Baseline, render_script
from builder.baseline.items import markdown_table, not_applicable_items, owner_of, steps, units, unregister
from builder.baseline.verify import Result, Status, verify_rootfs
from builder.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DOC = ROOT / "docs" / "baseline.md"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
# The hand-checked golden kickstart whose example turns on every step but one (root has no keys in any example).
GOLDEN = ROOT / "tests" / "golden" / "compute-node-cs9.ks"


@pytest.mark.parametrize("item", units(), ids=lambda u: u.name)
def test_every_item_has_a_step_and_a_check_or_says_why_not(item):
    assert item.steps or item.no_step, f"{item.name}: no script step and no reason"
    assert not (item.steps and item.no_step), f"{item.name}: a step and a reason for having none"
    assert item.check or item.no_check, f"{item.name}: no check and no reason"
    assert item.spec_field and item.writes and item.checked, f"{item.name}: the docs columns are empty"


def test_the_script_runs_its_steps_in_the_golden_kickstart_s_order():
    golden = [line.split(None, 1)[1] for line in GOLDEN.read_text().splitlines()
              if line.startswith("builder_step ") and not line.startswith("builder_step '")]
    assert golden[-1] == "finished"
    names = [step.name for _, step in steps()]
    # `root ssh keys` renders only for a root with keys, which no golden example has: it runs right after `root`.
    assert names == [*golden[:golden.index("root") + 1], "root ssh keys", *golden[golden.index("root") + 1:-1]]


def test_every_step_renders_something_for_some_example():
    """A step that never renders anything for any shipped example would be dead (or untested) code."""
    specs = [load_spec(example)[0] for example in EXAMPLES]
    # No shipped example gives root a key; one that does:
    specs.append(specs[0].model_copy(update={"root": specs[0].root.model_copy(update={"ssh_keys": [KEY]})}))
    silent = {step.name for _, step in steps()}
    for spec in specs:
        b = Baseline(spec)
        silent -= {step.name for _, step in steps() if step.render(b)}
    assert silent == set()


def test_what_does_not_apply_in_a_container_and_container_sshd_keeps_sshd():
    spec = load_spec(ROOT / "examples" / "debian12-node.yaml")[0]
    na = not_applicable_items(spec, "container")
    # docs/baseline.md: the items whose "in a container" column says n/a.
    assert list(na) == ["hostname", "hosts", "network", "keyboard", "time", "sshd", "selinux", "firewall", "kernel-args",
                        "limits", "sysctls", "rc-local", "services", "prepull-mirrors", "prepull"]
    assert all(na.values())
    assert not_applicable_items(spec, "rootfs") == {} == not_applicable_items(spec, "qcow2")
    kept = spec.model_copy(update={"container": spec.container.model_copy(update={"sshd": True})})
    assert "sshd" not in not_applicable_items(kept, "container")
    with pytest.raises(ValueError):
        not_applicable_items(spec, "vm")


def test_kickstart_commands_the_items_name_are_in_the_kickstarts():
    """Each command an item says the kickstart owns appears at the start of a line of some golden kickstart."""
    lines = [line for path in (ROOT / "tests" / "golden").glob("*.ks") for line in path.read_text().splitlines()]
    for item in units():
        for command in re.findall(r"`([^`]+)`", item.kickstart):
            word = command.split()[0]
            if word.startswith("@") or word.startswith("-"):
                continue
            assert any(line.split()[:1] == [word] for line in lines), f"{item.name}: no `{word}` line in any kickstart"


def _docs_table() -> str:
    text = DOC.read_text()
    start = text.index("\n", text.index("<!-- item table:")) + 1
    return text[start:text.index("<!-- end of item table -->")]


def test_the_docs_item_table_is_the_generated_one():
    assert _docs_table() == markdown_table(), (
        f"docs/baseline.md's item table differs from builder.baseline.items.markdown_table(): run {COMMAND}")


def test_the_kickstart_template_has_one_block_per_item_command_and_no_other():
    """Each item the kickstart owns is rendered in the template block it names, and every block is one."""
    template = (ROOT / "builder" / "resources" / "kickstarts" / "base.ks.j2").read_text()
    blocks = set(re.findall(r"{% block (\w+) %}", template)) - {"packages_options"}
    assert blocks == {u.template_block for u in units() if u.template_block}
    for release in (ROOT / "builder" / "resources" / "kickstarts").glob("el*.ks.j2"):
        assert set(re.findall(r"{% block (\w+) %}", release.read_text())) <= blocks | {"packages_options"}, release.name


def test_the_package_list_keeps_its_order():
    """The order the script and the kickstart's %packages have always printed (tests/golden/debian12-node.baseline.sh)."""
    spec = load_spec(ROOT / "examples" / "debian12-node.yaml")[0]
    golden = (ROOT / "tests" / "golden" / "debian12-node.baseline.sh").read_text()
    listed = re.search(r"^for p in (.*?); do$", golden, re.M).group(1).split()
    assert list(Baseline(spec).packages) == listed


@pytest.fixture
def extra_item():
    """The test-only item of tests/items/banner.py, registered by loading its module, unregistered after."""
    path = ROOT / "tests" / "items" / "banner.py"
    module_spec = importlib.util.spec_from_file_location("builder_test_item_banner", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    yield module
    unregister(module.UNIT)
    assert "banner" not in [u.name for u in units()]


def test_a_new_item_is_one_module(extra_item, tmp_path):
    spec = load_spec(ROOT / "examples" / "debian12-node.yaml")[0]
    b = Baseline(spec)
    banner = "Authorised use only. This is node12.internal.example.com.\n"

    # The script runs its step, last (after post_commands), and installs its package.
    script = render_script(b)
    assert script.index("\nbuilder_step post_commands\n") < script.index("\nbuilder_step banner\n") < script.index(
        "\nbuilder_step finished\n")
    assert "/etc/issue.net" in script.split("\nbuilder_step banner\n")[1].split("\nbuilder_step finished\n")[0]
    assert "test-only-banner-package" in b.packages

    # verify reports it, on a hand-written tree: right, then wrong.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "issue.net").write_text(banner)
    assert [r for r in verify_rootfs(b, tmp_path) if r.item == "banner"] == [
        Result("banner", Status.PASS, "/etc/issue.net is as the baseline writes it")]
    (tmp_path / "etc" / "issue.net").write_text("Welcome!\n")
    assert [r.status for r in verify_rootfs(b, tmp_path) if r.item == "banner"] == [Status.FAIL]

    # In a container it does not apply, and says why.
    container = Baseline(spec, context="container")
    assert "\n# banner: not applicable in a container: a container shows no login banner\n" in render_script(container)
    assert "test-only-banner-package" not in container.packages

    # Its path is the baseline's, and the docs table has its row.
    assert owner_of("/etc/issue.net") is extra_item.UNIT
    assert "| banner | (test only) | — | `/etc/issue.net` | file content | n/a |" in markdown_table().splitlines()
