"""Pre-pull through each site's registry mirrors: the spec's rules, the podman drop-in, the docker script, prepull.sh SITE.

The pull itself through a real pull-through cache is tests/test_registry_mirror.py (slow).
"""
from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from builder.baseline import Baseline, render_script
from builder.baseline import paths as m
from builder.baseline.prepull import mirrors_dropin, prepull_script
from builder.baseline.script import render_prepull_installer
from builder.baseline.verify import Status, verify_rootfs
from builder.errors import SpecError
from builder.install.machines import ks_name, render_kickstarts
from builder.spec import load_spec_text, spec_in_site

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example"
ORIGIN = "registry.example.com:5000"
IMAGE = f"{ORIGIN}/base/node:1"


def spec_text(engine: str = "podman", site: str | None = "dc1", plain_http: bool = False, machines: str = "",
              target: str = "centos-stream-9", extra: str = "") -> str:
    site_line = f"\n    site: {site}" if site else ""
    return f"""version: 1
name: node
target: {target}
users: [{{name: ops, admin: true, sudo_nopasswd: true, ssh_keys: ["{KEY}"]}}]
container:
  prepull:
    image: {IMAGE}
    engine: {engine}
    plain_http: {str(plain_http).lower()}
    mirrors:
      dc1: [mirror1.dc1.example.com:5000, mirror2.dc1.example.com]
      dc2: [mirror1.dc2.example.com:5000]{site_line}{extra}
{machines}"""


MACHINES = """install:
  pxe: {server_url: "http://10.0.0.5:8080", inst_repo: "http://mirror.example.com/os/"}
  machines:
    - {hostname: a01.example.com, mac: "52:54:00:00:00:01", site: dc2}
    - {hostname: a02.example.com, mac: "52:54:00:00:00:02"}
kickstart: {install_source: "http://mirror.example.com/os/", disk: {device: sda}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as refused:
        load_spec_text(text, "node.yaml")
    return str(refused.value).splitlines()


def baseline(text: str) -> Baseline:
    return Baseline(load_spec_text(text)[0])


# ---------------------------------------------------------------- the spec


def line_of(text: str, fragment: str) -> int:
    """The last line holding `fragment`."""
    return max(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize("change, field, words", [
    (("site: dc1", "site: dc3"), "container.prepull.site", "site dc3 has no entry in container.prepull.mirrors"),
    (("site: dc1", "site: DC1"), "container.prepull.site", "not a valid name"),
    (("dc2: [", "Dc-2: ["), "container.prepull.mirrors.Dc-2", "not a valid name"),
    (("mirror2.dc1.example.com", "http://mirror2.dc1.example.com"), "container.prepull.mirrors.dc1[1]", "not a valid registry host"),
    (("mirror2.dc1.example.com", "mirror2/x"), "container.prepull.mirrors.dc1[1]", "not a valid registry host"),
    (("mirror2.dc1.example.com", ORIGIN), "container.prepull.mirrors.dc1[1]", "is the origin registry"),
    (("mirror2.dc1.example.com", "mirror1.dc1.example.com:5000"), "container.prepull.mirrors.dc1[1]", "is also mirrors.dc1[0]"),
    (("dc2: [mirror1.dc2.example.com:5000]", "dc2: []"), "container.prepull.mirrors.dc2", "at least 1 item"),
])
def test_a_bad_site_or_mirror_is_refused_at_its_field(change, field, words):
    text = spec_text().replace(*change)
    assert text != spec_text()
    where = f"node.yaml:{line_of(text, change[1])}: {field}: "
    found = problems(text)
    assert any(line.startswith(where) and words in line for line in found), found


def test_a_machine_in_an_unknown_site_is_refused_at_its_line():
    text = spec_text(machines=MACHINES.replace("site: dc2", "site: dc9"))
    found = problems(text)
    where = f"node.yaml:{line_of(text, 'site: dc9')}: install.machines[0].site: "
    assert found[0].startswith(where + "site dc9 has no entry in container.prepull.mirrors"), found
    assert len([line for line in found if "dc9" in line]) == 1, "said once, at the machine's own field"


def test_a_machine_with_a_site_and_no_prepull_is_refused():
    text = spec_text(machines=MACHINES)
    text = text[:text.index("container:")] + text[text.index("install:"):]
    found = problems(text)
    assert any(line.startswith("node.yaml:") and "install.machines[0].site: the spec has no container.prepull" in line
               for line in found), found


def test_no_site_is_valid_and_pulls_from_the_origin():
    b = baseline(spec_text(site=None))
    assert b.prepull_mirrors == ()
    script = render_script(b)
    assert m.MIRRORS_DROPIN not in script
    assert "podman pull -- \"$image\"" in prepull_script(b.prepull, b.prepull_mirrors)


def test_a_list_of_registries_is_one_normalised_tuple_and_each_is_unique():
    spec = load_spec_text(spec_text(extra="\n  registry: [r1.example.com/base/node:1, r2.example.com:5000/base/node]"))[0]
    assert spec.container.registries == ("r1.example.com/base/node:1", "r2.example.com:5000/base/node")
    one = load_spec_text(spec_text(extra="\n  registry: r1.example.com/base/node:1"))[0]
    assert one.container.registries == ("r1.example.com/base/node:1",)
    text = spec_text(extra="\n  registry: [r1.example.com/base/node:1, r1.example.com/base/node:1]")
    found = problems(text)
    where = f"node.yaml:{line_of(text, 'registry: [')}: container.registry[1]: "
    assert found == [where + "this reference is also container.registry[0]"], found
    found = problems(spec_text(extra="\n  registry: [r1.example.com/base/node:1, 'bad ref']"))
    assert len(found) == 1 and found[0].startswith(where + "not a valid image reference"), found


# ---------------------------------------------------------------- podman: the drop-in


def test_the_podman_drop_in_lists_the_sites_mirrors_in_order_before_the_origin():
    b = baseline(spec_text())
    assert b.prepull_mirrors == ("mirror1.dc1.example.com:5000", "mirror2.dc1.example.com")
    assert mirrors_dropin(b.prepull, b.prepull_mirrors) == (
        f"# Generated by builder: {ORIGIN} through this site's mirrors, in order; then {ORIGIN} itself.\n"
        "[[registry]]\n"
        f'location = "{ORIGIN}"\n'
        "\n"
        "[[registry.mirror]]\n"
        'location = "mirror1.dc1.example.com:5000"\n'
        "\n"
        "[[registry.mirror]]\n"
        'location = "mirror2.dc1.example.com"\n')
    script = render_script(b)
    assert f"builder_put {m.MIRRORS_DROPIN} 0644 root root <<'BUILDER_EOF'\n" in script
    assert script.index("builder_step prepull-mirrors") < script.index("builder_step prepull\n")
    assert "mirror1" not in prepull_script(b.prepull, b.prepull_mirrors), "podman's script needs no mirror of its own"


def test_plain_http_makes_the_origin_and_every_mirror_insecure():
    b = baseline(spec_text(plain_http=True))
    dropin = mirrors_dropin(b.prepull, b.prepull_mirrors)
    assert dropin.count("insecure = true\n") == 3
    parsed = tomllib.loads(dropin)
    assert parsed == {"registry": [{"location": ORIGIN, "insecure": True, "mirror": [
        {"location": "mirror1.dc1.example.com:5000", "insecure": True}, {"location": "mirror2.dc1.example.com", "insecure": True}]}]}


def test_the_drop_in_is_checked_like_every_baseline_file(tmp_path: Path):
    b = baseline(spec_text())

    def mine(root: Path) -> list:
        return [r for r in verify_rootfs(b, root) if r.item == "prepull-mirrors"]

    assert [r.status for r in mine(tmp_path)] == [Status.FAIL]
    dropin = tmp_path / m.MIRRORS_DROPIN.lstrip("/")
    dropin.parent.mkdir(parents=True)
    dropin.write_text(mirrors_dropin(b.prepull, b.prepull_mirrors))
    assert [r.status for r in mine(tmp_path)] == [Status.PASS]
    origin_only = Baseline(spec_in_site(b.spec, None))
    stale = [r for r in verify_rootfs(origin_only, tmp_path) if r.item == "prepull-mirrors"]
    assert [r.status for r in stale] == [Status.FAIL] and "no site" in stale[0].detail
    dropin.unlink()
    assert [r.status for r in verify_rootfs(origin_only, tmp_path) if r.item == "prepull-mirrors"] == [Status.PASS]


def test_each_machine_kickstart_carries_its_own_sites_mirrors():
    spec = load_spec_text(spec_text(machines=MACHINES))[0]
    kickstarts = {name: data.decode() for name, data in render_kickstarts(spec).items()}
    a01, a02 = spec.install.machines
    assert "mirror1.dc2.example.com:5000" in kickstarts[ks_name(a01)] and "mirror1.dc1" not in kickstarts[ks_name(a01)]
    for default in (kickstarts[ks_name(a02)], kickstarts[ks_name(None)]):  # no site of its own: prepull.site (dc1)
        assert "mirror1.dc1.example.com:5000" in default and "mirror1.dc2" not in default


def test_a_kickstart_of_a_node_with_no_site_has_no_drop_in():
    spec = load_spec_text(spec_text(site=None, machines=MACHINES))[0]
    kickstarts = {name: data.decode() for name, data in render_kickstarts(spec).items()}
    assert m.MIRRORS_DROPIN in kickstarts[ks_name(spec.install.machines[0])]
    assert m.MIRRORS_DROPIN not in kickstarts[ks_name(spec.install.machines[1])]
    assert m.MIRRORS_DROPIN not in kickstarts[ks_name(None)]


# ---------------------------------------------------------------- docker: the script tries each mirror


def test_the_docker_script_tries_each_mirror_in_order_then_the_origin():
    b = baseline(spec_text(engine="docker", target="debian-12"))
    script = prepull_script(b.prepull, b.prepull_mirrors)
    assert "mirrors=(mirror1.dc1.example.com:5000/base/node:1 mirror2.dc1.example.com/base/node:1)\n" in script
    assert 'docker pull -- "$ref" && docker tag "$ref" "$image"' in script
    assert script.index('for ref in "${mirrors[@]}"') < script.index('    docker pull -- "$image"\n}')
    assert "if pull_through_mirrors" in script
    rendered = render_script(b)
    assert m.MIRRORS_DROPIN not in rendered and "builder_step prepull-mirrors" not in rendered
    assert "mirror1.dc1.example.com:5000/base/node:1" in rendered
    origin_only = Baseline(spec_in_site(b.spec, None))
    assert "mirrors=" not in prepull_script(origin_only.prepull, origin_only.prepull_mirrors)


def test_the_docker_script_is_shellcheck_clean(tmp_path: Path):
    b = baseline(spec_text(engine="docker", target="debian-12"))
    script = tmp_path / "prepull"
    script.write_text(prepull_script(b.prepull, b.prepull_mirrors))
    result = subprocess.run(["shellcheck", "-s", "bash", "-S", "warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# ---------------------------------------------------------------- prepull.sh SITE on a running node


@pytest.mark.parametrize("engine, target", [("podman", "centos-stream-9"), ("docker", "debian-12")])
def test_prepull_sh_configures_the_site_it_is_given(engine, target, tmp_path: Path):
    b = baseline(spec_text(engine=engine, target=target))
    installer = render_prepull_installer(b)
    script = tmp_path / "prepull.sh"
    script.write_text(installer)
    result = subprocess.run(["shellcheck", "-s", "bash", "-S", "warning", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "site=${1-dc1}\n" in installer, "no argument: the spec's default site"
    branches = installer.split('case "$site" in\n')[2].split("\nesac\n")[0]
    for site in ("dc1", "dc2"):
        node = Baseline(spec_in_site(b.spec, site))
        branch = branches.split(f"\n{site})\n", 1)[1].split("\n;;", 1)[0]
        if engine == "podman":
            assert mirrors_dropin(node.prepull, node.prepull_mirrors) in branch
        else:
            assert prepull_script(node.prepull, node.prepull_mirrors) in branch
    origin = branches.split("'')\n", 1)[1].split("\n;;", 1)[0]
    assert "mirror1" not in origin
    if engine == "podman":
        assert f"rm -f -- {m.MIRRORS_DROPIN}" in origin
        assert installer.count("builder_put /usr/local/libexec/builder-prepull") == 1, "the same pull script for every site"


@pytest.mark.parametrize("args, words", [(["dc9"], "unknown site dc9: the sites are: dc1 dc2"),
                                         (["dc1", "dc2"], "usage: "), (["$(touch x)"], "unknown site $(touch x)")])
def test_prepull_sh_refuses_an_unknown_site_before_doing_anything(args, words, tmp_path: Path):
    script = tmp_path / "prepull.sh"
    script.write_text(render_prepull_installer(baseline(spec_text())))
    result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr
    assert "==> baseline" not in result.stdout, "nothing was done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepull.sh"]


def test_prepull_sh_without_a_default_site_pulls_from_the_origin():
    installer = render_prepull_installer(baseline(spec_text(site=None)))
    assert "site=${1-''}\n" in installer
    assert "Without it: straight from the origin registry" in installer


def test_plain_http_with_docker_is_said_to_need_the_nodes_daemon_json():
    _spec, _source, warnings = load_spec_text(spec_text(engine="docker", target="debian-12", plain_http=True), "node.yaml")
    [warning] = [str(w) for w in warnings if w.path == "container.prepull.plain_http"]
    assert "insecure-registries" in warning and "mirror1.dc1.example.com:5000, mirror2.dc1.example.com" in warning
    assert ORIGIN in warning
    podman = load_spec_text(spec_text(plain_http=True))[2]
    assert not [w for w in podman if w.path.startswith("container")], "podman is told by the drop-in and --tls-verify=false"
