"""The package files split by source package: groups, their order by update history, and what an update changes.

The tree is dpkg-shaped and hand-written: five source packages with known sizes and changelogs, so every expected
group, order and count below follows from the fixture, not from the code under test.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from test_container_layers import EPOCH, members, union

from builder.bootstrap.definition import image_definition, package_layers
from builder.container import plan
from builder.container.build import plan_summary
from builder.errors import SpecError
from builder.spec import MOST_LAYERS, Compression, LayerContent, load_spec_text

STABLE = "^bookworm(-security)?$"
PACKAGES_ONLY = ((LayerContent.DISTRIBUTION, LayerContent.PACKAGES), (LayerContent.PACKAGE_STATE,), (LayerContent.CONFIGURATION,))
ONE = (tuple(LayerContent),)


def rules(most: int) -> plan.Rules:
    return plan.Rules(("required", "important"), (), "", STABLE, most)


def changelog(source: str, stable: int, other: int) -> bytes:
    """A changelog.Debian.gz with `stable` entries for bookworm(-security) and `other` for unstable/experimental."""
    entries = [f"{source} (1.0-1+deb12u{n}) {'bookworm-security' if n % 2 else 'bookworm'}; urgency=medium\n\n  * fix {n}\n\n"
               f" -- Maint <m@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n\n" for n in range(stable, 0, -1)]
    entries += [f"{source} (0.{n}-1) {'unstable' if n % 2 else 'experimental'}; urgency=low\n\n  * upload {n}\n\n"
                f" -- Maint <m@example.org>  Mon, 01 Jan 2022 00:00:00 +0000\n\n" for n in range(other, 0, -1)]
    return gzip.compress("".join(entries).encode(), mtime=0)


# package -> (source, priority, {path: size}, stable updates in its changelog)
PACKAGES = {
    "libc-core": ("core", "required", {"usr/lib/libcore.so": 90_000, "usr/bin/core": 30_000}, 0),
    "core-tools": ("core", "optional", {"usr/bin/core-tool": 40_000}, 0),
    "hotlib": ("hot", "optional", {"usr/lib/libhot.so": 60_000}, 7),
    "tiny-a": ("tiny-a", "required", {"usr/lib/libtinya.so": 300}, 0),
    "tiny-b": ("tiny-b", "optional", {"usr/lib/libtinyb.so": 200}, 0),
    "warm": ("warmsrc", "optional", {"usr/bin/warm": 500}, 1),
}


def make_installed(root: Path, changed: str = "") -> None:
    """The packages as installed; `changed`: that package's files and version differ (an update)."""
    status, fields = [], []
    for package, (source, priority, files, stable) in PACKAGES.items():
        version = "1.0-2" if package == changed else "1.0-1"
        fields = [f"Package: {package}", "Status: install ok installed", f"Priority: {priority}", f"Version: {version}"]
        if source != package:
            fields.append(f"Source: {source}")
        status.append("\n".join(fields) + "\n")
        listing = ["/.", "/usr", "/usr/share", "/usr/share/doc", f"/usr/share/doc/{package}",
                   f"/usr/share/doc/{package}/changelog.Debian.gz"]
        for rel, size in files.items():
            listing.append("/" + rel)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            fill = b"2" if package == changed else b"1"
            (root / rel).write_bytes(bytes((i * 7 + len(rel)) % 251 for i in range(size)) + fill)
        doc = root / f"usr/share/doc/{package}/changelog.Debian.gz"
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_bytes(changelog(source, stable + (package == changed), 3))
        info = root / f"var/lib/dpkg/info/{package}.list"
        info.parent.mkdir(parents=True, exist_ok=True)
        info.write_text("\n".join(listing) + "\n")
    (root / "var/lib/dpkg/status").write_text("\n".join(status))
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (EPOCH - 100, EPOCH - 100), follow_symlinks=False)


def build(root: Path, out: Path, layers, most: int, changed: str = "") -> list[plan.PlannedLayer]:
    make_installed(root, changed)
    before = plan.snapshot(root)
    history = plan.update_history(root, rules(most))
    (root / "etc/motd").write_text("hello\n")  # the baseline's change
    out.mkdir()
    return plan.write_layers(root, before, layers, rules(most), out, EPOCH, Compression.GZIP, history)


def files_of(planned: plan.PlannedLayer, root: Path) -> set[str]:
    return {m.name for m, _ in members(planned.layer.path) if not (root / m.name).is_dir()}


def test_the_update_history_counts_the_stable_entries_of_each_source(tmp_path: Path):
    make_installed(tmp_path)
    history = plan.update_history(tmp_path, rules(40))
    assert history == {"core": 0, "hot": 7, "tiny-a": 0, "tiny-b": 0, "warmsrc": 1}
    assert plan.update_history(tmp_path, plan.Rules(("required",))) == {}, "no rule, no history"


def test_a_changelog_that_is_a_symlink_or_not_gzip_counts_nothing(tmp_path: Path):
    make_installed(tmp_path)
    hot = tmp_path / "usr/share/doc/hotlib/changelog.Debian.gz"
    hot.unlink()
    hot.symlink_to(tmp_path / "usr/share/doc/warm/changelog.Debian.gz")
    (tmp_path / "usr/share/doc/warm/changelog.Debian.gz").write_bytes(b"not gzip")
    assert plan.update_history(tmp_path, rules(40)) == {"core": 0, "tiny-a": 0, "tiny-b": 0}, "unread: no history"


def test_each_source_gets_a_layer_ordered_by_update_rate_per_byte(tmp_path: Path):
    layered = build(tmp_path / "root", tmp_path / "out", PACKAGES_ONLY, most=40)
    root = tmp_path / "root"
    groups = [p.group for p in layered[:-2]]
    # Rate (updates + 0.5) per byte of the fixture: core's 120 KB (required: distribution) and 40 KB (optional:
    # packages) at 0.5; hot's 60 KB at 7.5 (1.2e-4/byte); tiny-a and tiny-b (under 1 KB each with their
    # changelog and dpkg list) at 0.5; warmsrc (about 1.2 KB) at 1.5.
    assert groups == ["distribution: core", "packages: core", "packages: hot", "distribution: tiny-a",
                      "packages: tiny-b", "packages: warmsrc"]
    assert [p.contents for p in layered[-2:]] == list(PACKAGES_ONLY[1:])
    assert files_of(layered[0], root) >= {"usr/lib/libcore.so", "usr/bin/core", "var/lib/dpkg/info/libc-core.list"}
    assert "usr/bin/core-tool" in files_of(layered[1], root)
    assert files_of(layered[2], root) >= {"usr/lib/libhot.so", "usr/share/doc/hotlib/changelog.Debian.gz"}


def test_past_the_limit_the_small_sources_are_packed_by_history(tmp_path: Path):
    layered = build(tmp_path / "root", tmp_path / "out", PACKAGES_ONLY, most=4)
    # Sizes: distribution core ~120 KB, hot ~60 KB, packages core ~40 KB, then three under 1 KB. Keeping three
    # units would leave the rest in two tiers (never updated, updated once): 5 layers. So two keep a layer, and the
    # rest is packed by tier. Per byte: core (0.5 / 120 KB), the never-updated pack (1.5 / 41 KB), hot (7.5 / 60 KB),
    # the updated-once pack (warmsrc: 1.5 / 1.2 KB).
    assert [p.group for p in layered[:-2]] == ["distribution: core", "3 source packages packed, never updated",
                                               "packages: hot", "1 source package packed, updated once"]
    packed = files_of(layered[1], tmp_path / "root")
    assert {"usr/bin/core-tool", "usr/lib/libtinya.so", "usr/lib/libtinyb.so"} <= packed
    assert "usr/bin/warm" in files_of(layered[3], tmp_path / "root")


def test_the_split_layers_make_exactly_the_one_layer_tree(tmp_path: Path):
    layered = build(tmp_path / "a", tmp_path / "out-a", PACKAGES_ONLY, most=40)
    single = build(tmp_path / "b", tmp_path / "out-b", ONE, most=40)
    assert len(single) == 1 and len(layered) == 8
    assert union(layered) == union(single)
    files = [files_of(p, tmp_path / "a") for p in layered]
    for i, one in enumerate(files):
        for other in files[i + 1:]:
            assert not one & other, "a file is in one layer only (no whiteouts needed)"


def test_the_same_tree_gives_the_same_digests(tmp_path: Path):
    first = build(tmp_path / "a", tmp_path / "out-a", PACKAGES_ONLY, most=4)
    second = build(tmp_path / "b", tmp_path / "out-b", PACKAGES_ONLY, most=4)
    assert [(p.group, p.layer.digest) for p in first] == [(p.group, p.layer.digest) for p in second]


@pytest.mark.parametrize("package, group", [("tiny-b", "packages: tiny-b"), ("libc-core", "distribution: core")])
def test_an_update_of_one_package_changes_its_layer_and_the_package_state_only(tmp_path: Path, package: str, group: str):
    before = build(tmp_path / "a", tmp_path / "out-a", PACKAGES_ONLY, most=40)
    after = build(tmp_path / "b", tmp_path / "out-b", PACKAGES_ONLY, most=40, changed=package)
    old = {p.group or p.name: p.layer.digest for p in before}
    new = {p.group or p.name: p.layer.digest for p in after}
    assert old.keys() == new.keys()
    changed = {name for name in old if old[name] != new[name]}
    assert changed == {group, "package-state"}


def test_one_layer_per_content_when_not_split(tmp_path: Path):
    layered = build(tmp_path / "a", tmp_path / "out", tuple((c,) for c in LayerContent), most=1)
    assert [p.name for p in layered] == list(LayerContent)


def test_the_plan_in_words():
    assert plan_summary(PACKAGES_ONLY, 40) == ("layers: distribution+packages (split by source package into up to 40) | "
                                               "package-state | configuration")
    assert plan_summary(ONE, 40) == "layers: distribution+packages+package-state+configuration"


def test_rpm_source_names():
    assert plan.rpm_source_name("openssl-3.0.7-27.el9.src.rpm") == "openssl"
    assert plan.rpm_source_name("python3.11-3.11.7-1.el9_4.src.rpm") == "python3.11"
    assert plan.rpm_source_name("(none)") == ""


USERS = "users: [{name: ops, admin: true, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3o2Fw8bC2zq9q1m7qFzK5VdJm1f8yQw0nS2c4XrZ1d ops']}]"


def spec(container: str):
    return load_spec_text(f"version: 1\nname: n\ntarget: debian-12\ncontainer:\n{container}{USERS}\n", "spec.yaml")[0]


def test_package_layers_comes_from_base_images_unless_the_spec_sets_it():
    default = spec("  sshd: false\n")
    definition = image_definition(default)
    assert definition.package_layers > 1 and package_layers(default, definition) == definition.package_layers
    assert definition.stable_update == STABLE
    assert package_layers(spec("  package_layers: 1\n"), definition) == 1
    el = load_spec_text(f"version: 1\nname: n\ntarget: rocky-9\n{USERS}\n")[0]
    assert image_definition(el).stable_update == r"\.el9_[0-9]"


@pytest.mark.parametrize("container, message", [
    ("  layers: [[distribution, packages, package-state, configuration]]\n  package_layers: 8\n",
     "spec.yaml:6: container.package_layers: does not apply: no layer of container.layers holds package files only"),
    ("  layers: [[distribution], [packages], [package-state, configuration]]\n  package_layers: 40\n",
     "spec.yaml:6: container.package_layers: 40 per layer of package files makes up to 81 layers, more than 64"),
    (f"  package_layers: {MOST_LAYERS + 1}\n", "container.package_layers"),
    ("  package_layers: 0\n", "container.package_layers"),
])
def test_a_package_layers_that_cannot_apply_is_refused_at_its_line(container: str, message: str):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec(container)


def test_a_packed_layer_changes_when_any_member_does_so_many_small_ones_go_high(tmp_path: Path):
    """A packed layer's rate is its members' sum: 20 never-updated sources of 100 bytes packed (10 / 2 KB) sit
    above one source of 20 KB updated 7 times (7.5 / 20 KB), which sits above a big never-updated one (0.5 / 50 KB);
    by their own rates the small ones (0.5 each) would sit lowest."""
    contents: dict[str, LayerContent] = {}
    sources: dict[str, str] = {}
    for name, size in [("big", 50_000), ("hot", 20_000)] + [(f"small{i:02d}", 100) for i in range(20)]:
        (tmp_path / name).write_bytes(b"x" * size)
        contents[name], sources[name] = LayerContent.PACKAGES, name
    classified = plan.Classified(contents, sources)
    groups = plan.package_groups(classified, (LayerContent.PACKAGES,), tmp_path, {"hot": 7}, most=3)
    assert [g.name for g in groups] == ["packages: big", "packages: hot", "20 source packages packed, never updated"]


def test_a_new_epoch_alone_changes_no_package_layer(tmp_path: Path):
    """The mirror's date (the epoch) moves with every update; what the build made (dpkg's records, directories,
    the status file) is newer than it. The package layers must not change with it; the package state does."""
    layered = []
    for name, epoch in (("a", EPOCH), ("b", EPOCH + 86_400)):
        root, out = tmp_path / name, tmp_path / f"out-{name}"
        make_installed(root)
        made = EPOCH + 10 * 86_400  # the bootstrap ran after both mirror dates
        for path in [root / "usr", root / "usr/lib", *root.glob("var/lib/dpkg/info/*"), root / "var/lib/dpkg/status"]:
            os.utime(path, (made, made), follow_symlinks=False)
        before = plan.snapshot(root)
        out.mkdir()
        layered.append(plan.write_layers(root, before, PACKAGES_ONLY, rules(40), out, epoch, Compression.GZIP,
                                         plan.update_history(root, rules(40))))
    first, second = ({p.group or p.name: p.layer.digest for p in layers} for layers in layered)
    assert [name for name in first if first[name] != second[name]] == ["package-state"]
    times = {m.name: m.mtime for m, _ in members(layered[0][0].layer.path)}
    assert times["usr/lib"] == 0 and times["var/lib/dpkg/info/libc-core.list"] == 0, "made by the build: undated"
    assert times["usr/lib/libcore.so"] == EPOCH - 100, "a package's file keeps its date"
    state = {m.name: m.mtime for m, _ in members(layered[0][-2].layer.path)}
    assert state["var/lib/dpkg/status"] == EPOCH, "the package state is dated by the epoch, as before"


def docker_refetch(order: list[tuple[str, int, float]]) -> float:
    """Expected bytes a Docker node fetches again for an update: layer k is fetched when it or any layer below it
    changed (independent changes; each (name, size, chance of a change))."""
    expected, unchanged_below = 0.0, 1.0
    for _, size, chance in order:
        unchanged_below *= 1 - chance
        expected += size * (1 - unchanged_below)
    return expected


def test_the_order_is_the_one_docker_refetches_least_by_brute_force(tmp_path: Path):
    """Five sources of the shape the examples show (a big one seldom updated, a small one never updated, a big hot
    one, a medium warm one...): of all 120 orders, the one with the fewest expected bytes Docker fetches again
    (computed here, by brute force) is the plan's. The chance of a change in one update round is small and
    proportional to updates + 0.5 (one round: a hundredth of the history)."""
    import itertools

    shapes = {"vimish": (7_000_000, 1), "aptish": (900_000, 0), "glibcish": (6_000_000, 6), "zlibish": (100_000, 0),
              "perlish": (2_000_000, 2)}
    contents: dict[str, LayerContent] = {}
    sources: dict[str, str] = {}
    for name, (size, _) in shapes.items():
        with (tmp_path / name).open("wb") as sparse:   # only the size counts
            sparse.truncate(size)
        contents[name], sources[name] = LayerContent.PACKAGES, name
    history = {name: updates for name, (_, updates) in shapes.items()}
    groups = plan.package_groups(plan.Classified(contents, sources), (LayerContent.PACKAGES,), tmp_path, history, most=5)
    units = [(name, size, (updates + 0.5) / 100) for name, (size, updates) in shapes.items()]
    best = min(itertools.permutations(units), key=docker_refetch)
    assert [g.name for g in groups] == [f"packages: {name}" for name, _, _ in best]
    assert [name for name, _, _ in best][:2] == ["vimish", "aptish"], "a big seldom-updated source sits lowest"
