"""The EL base set: what official EL container bases carry and a Dockerfile built on ours expects (yum, tar, gzip, the
minimal curl builds), per release, and the spec's full package winning over a minimal build it conflicts with.

The expected names are written here by hand from the public lists docs/performance.md cites (osbuild's rhel-9/10
`container` image type, Rocky's Container-Base kickstarts, AlmaLinux's default Containerfiles), not read from the
image definition under test. The slow test that dnf installs them (and that a spec's curl does not stop at a conflict)
is in test_bootstrap_el.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builder import bootstrap
from builder.bootstrap.definition import image_definition
from builder.bootstrap.plan import plan_for
from builder.install.kickstart import render_kickstart
from builder.qcow2.dib import compose
from builder.spec import LoadedSpec, load_spec_text, spec_sha256

# What a Dockerfile's RUN line on an official EL base finds, on every release.
COMMANDS = {"yum", "tar", "gzip"}
# The minimal curl builds per release: EL 8 ships libcurl-minimal only (its curl command is the full build).
MINIMAL_CURL = {8: {"libcurl-minimal"}, 9: {"curl-minimal", "libcurl-minimal"}, 10: {"curl-minimal", "libcurl-minimal"}}


def spec_for(target: str, install: tuple[str, ...] = ()):
    """A small EL spec (with the disk a kickstart needs named)."""
    spec = {"version": 1, "name": "el-base", "description": "EL base set", "target": target,
            "repos": [{"name": "baseos", "baseurl": "http://mirror.example/el/BaseOS/", "gpgkey": "http://mirror.example/el/KEY"}],
            "packages": {"toolset": False, "install": list(install)}, "locale": "en_US.UTF-8", "timezone": "UTC",
            "users": [{"name": "ops", "admin": True, "ssh_keys": [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3o2Fw8bC2zq9q1m7qFzK5VdJm1f8yQw0nS2c4XrZ1d ops@example.com"]}],
            "kickstart": {"install_source": "http://mirror.example/el/BaseOS/", "disk": {"device": "vda"}}}
    loaded, _, problems = load_spec_text(yaml.safe_dump(spec, sort_keys=False))
    assert loaded is not None, problems
    return loaded


def first_and_excluded(spec) -> tuple[list[str], list[str], list[str]]:
    """(the base set's transaction, the spec's transaction, excludepkgs) of the bootstrap's dnf commands."""
    _, first, *rest = bootstrap.base_tree_for(spec).commands(Path("/w/root"), Path("/w"))
    excluded = next(arg.split("=", 2)[2].split(",") for arg in first if arg.startswith("--setopt=excludepkgs="))
    return first[first.index("--") + 1:], rest[0][rest[0].index("--") + 1:] if rest else [], excluded


@pytest.mark.parametrize("target,major", [("centos-stream-8", 8), ("rocky-8", 8), ("alma-8", 8), ("centos-stream-9", 9),
                                          ("rocky-9", 9), ("alma-9", 9), ("centos-stream-10", 10), ("rocky-10", 10),
                                          ("alma-10", 10)])
def test_the_image_definition_names_what_official_el_bases_carry(target, major):
    packages = set(image_definition(spec_for(target)).bootstrap.packages)
    assert COMMANDS <= packages
    assert packages & {"curl-minimal", "libcurl-minimal"} == MINIMAL_CURL[major]
    assert not packages & {"curl", "libcurl"}, "the full builds come only when the spec asks for them"


@pytest.mark.parametrize("target,major", [("centos-stream-9", 9), ("rocky-9", 9), ("alma-10", 10), ("rocky-10", 10)])
def test_the_bootstraps_first_transaction_installs_them(target, major):
    first, _, excluded = first_and_excluded(spec_for(target))
    assert COMMANDS | MINIMAL_CURL[major] <= set(first)
    assert not set(excluded) & (COMMANDS | MINIMAL_CURL[major])


@pytest.mark.parametrize("wanted", ["curl", "libcurl"])
@pytest.mark.parametrize("target", ["centos-stream-9", "alma-10"])
def test_a_spec_that_installs_full_curl_gets_it_and_no_minimal_build(target, wanted):
    """The spec wins: both minimal builds leave the base set and are excluded, so dnf pulls the full ones for whatever
    needs a libcurl (dnf, in the first transaction) and the spec's transaction meets no conflict."""
    first, second, excluded = first_and_excluded(spec_for(target, install=(wanted, "tmux")))
    assert not set(first) & {"curl-minimal", "libcurl-minimal"}
    assert {"curl-minimal", "libcurl-minimal"} <= set(excluded)
    assert wanted in second and "tmux" in second
    assert COMMANDS <= set(first), "only the conflicting builds give way"
    assert {"kernel", "linux-firmware"} <= set(excluded), "the definition's own exclusions stay"


def test_a_spec_that_installs_coreutils_gets_it_instead_of_coreutils_single():
    first, second, excluded = first_and_excluded(spec_for("rocky-9", install=("coreutils",)))
    assert "coreutils-single" not in first and "coreutils-single" in excluded and "coreutils" in second
    assert {"curl-minimal", "libcurl-minimal"} <= set(first), "the curl builds do not give way to coreutils"


def test_the_qcow2_starts_from_the_same_base_set():
    """One tree for both images: the qcow2's root is the bootstrapped tree, so it carries the same base set (and, from
    the same cache, the same versions) as the container."""
    spec = spec_for("rocky-9")
    plan = plan_for(LoadedSpec(Path("el-base.yaml"), spec, []), images=True)
    run = compose(plan)
    assert run.root == plan.base_image.tree
    assert COMMANDS | MINIMAL_CURL[9] <= set(run.root.bootstrapper.base_packages)


def test_the_kickstart_does_not_name_the_minimal_builds():
    """The kickstart installs Anaconda's @^minimal-environment, whose @core names the full curl (as Rocky's and
    AlmaLinux's GenericCloud installs have it): adding curl-minimal there would conflict with it."""
    spec = spec_for("rocky-9")
    packages = render_kickstart(spec, spec_sha256(spec)).split("%packages", 1)[1].split("%end", 1)[0]
    assert "@^minimal-environment" in packages
    assert not {"curl-minimal", "libcurl-minimal"} & set(packages.split())


def test_the_package_set_report_maps_names_as_dibs_pkg_map_does(tmp_path: Path):
    """benchmarks/el_package_sets.py (docs/performance.md's counts): release over distro over family over default."""
    from benchmarks.el_package_sets import pkg_map

    (tmp_path / "pkg-map").write_text('{"default": {"a": "a-default", "gone": ""}, "family": {"redhat": {"a": "a-rh", "b": "b-rh"}},'
                                      ' "distro": {"rocky": {"b": "b-rocky"}}, "release": {"rocky": {"9": {"c": "c1 c2"}}}}')
    assert pkg_map(tmp_path, ["a", "b", "c", "gone", "other"], "rocky", "9") == ["a-rh", "b-rocky", "c1", "c2", "other"]
    assert pkg_map(tmp_path, ["b", "c"], "almalinux", "9") == ["b-rh", "c"]


def test_the_package_set_report_counts_the_container_inside_the_qcow2():
    from benchmarks.el_package_sets import ROOT, package_sets

    report = package_sets(ROOT / "examples" / "compute-node-cs9.yaml")
    assert COMMANDS | MINIMAL_CURL[9] <= set(report["base set"]) <= set(report["container"]) <= set(report["qcow2"])
    assert {"kernel", "cloud-init", "qemu-guest-agent", "grub2-tools", "openssh-server"} <= set(report["qcow2"])
    assert not {"kernel", "openssh-server"} & set(report["container"])
