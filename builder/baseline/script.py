"""Render the baseline as ONE idempotent bash script.

The same script runs in a kickstart %post, in a diskimage-builder element and
in a container root filesystem. Running it twice changes nothing: files are
replaced only when their bytes or metadata differ, and every command is
guarded by a test of the state it would change. The steps and their order are
the items' (items/); how file bodies are carried is shell.py's.
"""
from __future__ import annotations

from collections.abc import Iterator
from shlex import quote

from ..spec import spec_in_site
from .items import prepull, prepull_mirrors, steps
from .items.packages import install_packages
from .model import BASELINE_VERSION, Baseline
from .paths import MIRRORS_DROPIN
from .shell import PRELUDE


def applicable_steps(b: Baseline) -> Iterator[tuple[str, list[str]]]:
    """(step name, shell lines) of every step that applies to the baseline's context and has work to do."""
    for item, step in steps():
        if item.name in b.not_applicable:
            continue
        lines = step.render(b)
        if lines:
            yield step.name, lines


def render_script(b: Baseline) -> str:
    out = [PRELUDE.format(version=BASELINE_VERSION, target=b.spec.target.value)]
    if b.not_applicable:
        # Said here for the reader of the script; the build that chose the context prints them.
        notes = [f"# {item}: not applicable in a {b.context}: {why}" for item, why in b.not_applicable.items()]
        assert not any("\n" in note for note in notes)
        out.append("\n" + "\n".join(notes) + "\n")
    for name, lines in applicable_steps(b):
        out.append(f"\nbuilder_step {quote(name)}\n" + "\n".join(lines) + "\n")
    out.append("\nbuilder_step finished\n")
    script = "".join(out)
    assert "\x00" not in script
    return script


# prepull.sh [SITE]: which site's mirrors the node pulls through, checked before anything is done.
SITE_ARGUMENT = r"""
# Usage: prepull.sh [SITE]. SITE is the node's site, whose registry mirrors it pulls through, one of: {sites}.
# Without it: {default}; '' pulls straight from the origin registry.
if [ $# -gt 1 ]; then
    echo "usage: $0 [SITE] (one of: {sites})" >&2
    exit 2
fi
site=${{1-{default_word}}}
case "$site" in
    {patterns}) ;;
    *) printf '%s: unknown site %s: the sites are: %s\n' "$0" "$site" {sites_word} >&2; exit 2 ;;
esac
"""


def render_prepull_installer(b: Baseline) -> str:
    """For a node that already runs: the engine, its site's mirrors, the pre-pull unit and its script, enabled and started.

    The site is the script's argument (one of container.prepull.mirrors; default container.prepull.site, else none,
    which pulls straight from the origin registry); each site's files are rendered from the same steps as the kickstart's.
    """
    if b.prepull is None:
        raise ValueError("the spec has no container.prepull")
    sites, default = tuple(b.prepull.mirrors), b.prepull.site or ""
    out = [PRELUDE.format(version=BASELINE_VERSION, target=b.spec.target.value)]
    out.append(SITE_ARGUMENT.format(
        sites=" ".join(sites) or "(none: the spec lists no mirrors)", sites_word=quote(" ".join(sites) or "(none)"),
        default=f"{default} (container.prepull.site)" if default else "straight from the origin registry",
        default_word=quote(default), patterns="|".join(["''", *(quote(site) for site in sites)])))
    # One engine package: the install loop runs once, as meant.
    install = install_packages(b, b.prepull_packages)
    install.insert(1, "# shellcheck disable=SC2043")
    out.append("\nbuilder_step packages\n" + "\n".join(install) + "\n")
    nodes = {site: Baseline(spec_in_site(b.spec, site or None), b.context) for site in ("", *sites)}
    pulls = {site: prepull.step(node) for site, node in nodes.items()}
    shared = len({tuple(lines) for lines in pulls.values()}) == 1  # podman: the mirrors are in the drop-in alone
    branches = []
    for site, node in nodes.items():
        lines = prepull_mirrors.step(node) or ([f"rm -f -- {quote(MIRRORS_DROPIN)}"] if node.prepull.engine == "podman" else [])
        name = f"mirrors of site {site}" if site else "no site: straight from the origin registry"
        lines = [f"builder_step {quote(name)}", *lines, *([] if shared else pulls[site])]
        branches.append(f"{quote(site) if site else chr(39) * 2})\n" + "\n".join(lines) + "\n;;")
    out.append('\ncase "$site" in\n' + "\n".join(branches) + "\nesac\n")
    if shared:
        out.append("\nbuilder_step prepull\n" + "\n".join(pulls[""]) + "\n")
    out.append("\nsystemctl start --no-block builder-prepull.service\n"
               "builder_step 'prepull started: journalctl -u builder-prepull.service shows its progress'\n")
    return "".join(out)
