"""A distribution family is one module (builder/families/el.py, debian.py): outside those and the target table
(builder/targets.py), a distribution's name appears in builder/ only in messages and docs.

What counts as a distribution's name: a word of DISTRIBUTION_WORDS (identifiers are split at `_`, at a
lower-to-upper case change and at every other non-alphanumeric character, so `DEBIAN_12`, `debianTarget` and
`centos-stream` all have one) or "<digit>-stream" / "centos-stream". Words of the package formats and tools
that only a family uses (dnf, rpm, apt, dpkg, debootstrap) are not in the list: they name a tool, not a
distribution, and the family modules say which tool a family uses.

How a message is told from code, with ast (comments never reach the tree, so they are docs already):
- a docstring (the first statement of a module, class or function, a string) is docs;
- a string with whitespace in it is prose (a message, a hint, a help text, a log line): code names a path, a
  package, a variable or a distribution with one word;
- anything inside the arguments of a call that makes a message (an exception class `...Error`, `Refusal`,
  `Reason`, `Missing`, the progress functions) or a `hint=` / `why=` / `help=` keyword is a message;
- everything else is code: identifiers (names, attributes, functions, classes, arguments, keywords, imported
  names) and one-word strings.
A reference to a family module itself (`from ..families import debian`, then `debian.FAMILY`) is the point of the
design, not a name in code: the names an import of builder.families.<family> binds are allowed.
"""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.requirements import skip_or_fail

from builder.bootstrap.definition import BASE_IMAGES, image_definition
from builder.container import strip
from builder.errors import BuilderError, SpecError
from builder.families import FAMILIES, Family, RepoFormat, facts, rpmdb_paths
from builder.spec import Spec, load_spec, load_spec_text
from builder.targets import TARGETS, Target

PACKAGE = Path(__file__).resolve().parent.parent / "builder"

DISTRIBUTION_WORDS = frozenset({
    "debian", "bookworm", "bullseye", "buster", "trixie", "ubuntu",
    "centos", "rocky", "alma", "almalinux", "rhel", "redhat", "fedora", "el8", "el9", "el10",
})
STREAM = re.compile(r"(centos|\d+)-stream", re.IGNORECASE)

# Where a distribution's name is at home: the family modules and the table of targets.
HOME = ("families/", "targets.py")

MESSAGE_CALLS = re.compile(r".*Error$|Refusal|Reason|Missing|progress|detail|say|log")
MESSAGE_KEYWORDS = frozenset({"hint", "why", "help"})

# Names in code outside the family modules, each allowed with its reason: (path under builder/, a file or a
# directory ending in /; the identifier or string as written) -> why. An entry that matches nothing any more fails
# test_known_names_are_still_there: delete it then.
# The APT_FORMAT entries stay: they name a file format (an apt index reader, dpkg's version order), not a decision
# about a distribution; which family reads which format is the family's (`package_format`, `repo_files.format`).
APT_FORMAT = ("the Debian archive and version formats (InRelease, sources, dpkg versions), which Ubuntu shares: "
              "format readers named after the format, not a choice of distribution")
KNOWN: dict[tuple[str, str], str] = {
    ("baseline/", "debian_offered"): APT_FORMAT,
    ("baseline/", "debian_compare"): APT_FORMAT,
    ("repodata.py", "debian_suite_url"): APT_FORMAT,
    ("repodata.py", "debian_state"): APT_FORMAT,
    ("repodata.py", "debian_offered"): APT_FORMAT,
    ("repodata.py", "debian_compare"): APT_FORMAT,
    ("repodata.py", "DEBIAN_ARCH"): APT_FORMAT,
    ("versions.py", "debian_compare"): APT_FORMAT,
    ("versions.py", "_debian_parts"): APT_FORMAT,
    ("bootstrap/debootstrap.py", "debian_state"): APT_FORMAT,
    ("container/plan.py", "/changelog.Debian.gz"): "dpkg's changelog file name, read from the tree",
    ("bootstrap/", "DEBIAN_FRONTEND"): "debconf's environment variable (its interface's name)",
    ("spec/load.py", "centos-stream-9"): "a stand-in target for a spec whose target is broken (the checks that read "
                                         "the target are skipped)",
}


def words(text: str) -> set[str]:
    split = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", split) if w}


def names_a_distribution(text: str) -> bool:
    return bool(words(text) & DISTRIBUTION_WORDS) or bool(STREAM.search(text))


@dataclass(frozen=True)
class Found:
    path: str       # relative to the package's parent: builder/x.py
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r}"


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _messages(tree: ast.AST) -> set[int]:
    """ids of the nodes that are docs or messages: docstrings, and everything under a message call or keyword."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                inside.add(id(first.value))
        roots: list[ast.AST] = []
        if isinstance(node, ast.Call) and MESSAGE_CALLS.fullmatch(_call_name(node)):
            roots = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.keyword) and node.arg in MESSAGE_KEYWORDS:
            roots = [node.value]
        for root in roots:
            inside.update(id(n) for n in ast.walk(root))
    return inside


def _family_bindings(tree: ast.AST) -> set[str]:
    """The names that imports of builder.families.<family> bind (the family modules themselves)."""
    modules = {f.id.value for f in FAMILIES.values()}
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "families":
            bound |= {alias.asname or alias.name for alias in node.names if alias.name in modules}
    return bound


def distribution_names_in_code(path: Path, relative: str) -> list[Found]:
    tree = ast.parse(path.read_text(), str(path))
    messages, modules = _messages(tree), _family_bindings(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in messages:
            continue
        texts: list[str] = []
        if isinstance(node, ast.Name) and node.id not in modules:
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts = [node.name]
        elif isinstance(node, ast.arg):
            texts = [node.arg]
        elif isinstance(node, ast.keyword) and node.arg:
            texts = [node.arg]
        elif isinstance(node, ast.ImportFrom):
            texts = [alias.asname or alias.name for alias in node.names if (alias.asname or alias.name) not in modules]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and not re.search(r"\s", node.value):
            texts = [node.value]
        found += [Found(relative, node.lineno, text) for text in texts if names_a_distribution(text)]
    return found


def scan(root: Path) -> list[Found]:
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if not relative.startswith(HOME):
            found += distribution_names_in_code(path, f"{root.name}/{relative}")
    return found


def _known(found: Found) -> tuple[str, str] | None:
    relative = found.path.split("/", 1)[1]
    for place, text in KNOWN:
        if text == found.text and (relative == place or (place.endswith("/") and relative.startswith(place))):
            return place, text
    return None


def test_a_distribution_is_named_in_code_only_in_its_family_module_and_the_target_table():
    unknown = [str(f) for f in scan(PACKAGE) if _known(f) is None]
    assert not unknown, ("a distribution named in code outside builder/families/ and builder/targets.py (read it from "
                         "the family object, or say why in KNOWN):\n" + "\n".join(unknown))


def test_known_names_are_still_there():
    used = {_known(f) for f in scan(PACKAGE)}
    stale = [entry for entry in KNOWN if entry not in used]
    assert not stale, f"these names are gone: delete them from KNOWN: {stale}"


@pytest.fixture
def bad_package(tmp_path: Path) -> Path:
    """A package that names distributions in code (a branch, a table, an identifier, an import) and in messages and
    docs (a docstring, a comment, an error, a hint, a log line), and a family module that may name them."""
    root = tmp_path / "builder"
    (root / "families").mkdir(parents=True)
    (root / "families" / "debian.py").write_text('NAME = "debian"\n')
    (root / "kinds.py").write_text(
        '"""Debian and Rocky are refused here."""\n'
        "from .families import debian\n"
        "from .repodata import debian_state\n"
        "# on centos, rocky and alma\n"
        "def refuse(info, rhel_major):\n"
        '    if info.distro == "rhel":\n'
        '        raise BuilderError("RHEL needs a subscription", hint=f"target {info.distro} rocky-9 instead")\n'
        '    progress("bootstrapping debian")\n'
        '    elements = {"centos": "9-stream"}\n'
        "    return debian.FAMILY, Family.DEBIAN, elements\n")
    return root


def test_the_scan_finds_names_in_code_and_not_in_messages_or_docs(bad_package: Path):
    assert {(f.line, f.text) for f in scan(bad_package)} == {
        (3, "debian_state"), (5, "rhel_major"), (6, "rhel"), (9, "centos"), (9, "9-stream"), (10, "DEBIAN")}


# ---------------------------------------------------------------- the family modules' facts, against the data and
# against facts checked elsewhere (docs/DOMAIN-NOTES, the distributions' own files)


def test_every_target_points_at_a_distribution_of_its_family_module():
    for target, info in TARGETS.items():
        assert info.distribution in facts(info.family).distributions, target
        assert target.value.split("-")[0] in {info.distro, info.distro[:4]}, target


# Hand-written (DOMAIN-NOTES, "EL 10" and "The rpm database lands in the caller's home"): EL trees are made by
# dnf --installroot and keep the rpm database in /var/lib/rpm on EL 8 and 9, in /usr/lib/sysimage/rpm on EL 10;
# Debian's by debootstrap, with no rpm database ("").
BOOTSTRAP_PER_RELEASE = {8: ("dnf", "/var/lib/rpm"), 9: ("dnf", "/var/lib/rpm"), 10: ("dnf", "/usr/lib/sysimage/rpm"),
                         12: ("debootstrap", "")}


def _spec(target: Target, directory: Path) -> Spec:
    path = directory / "spec.yaml"
    path.write_text(f"version: 1\nname: web\ntarget: {target}\n"
                    "users: [{name: ops, admin: true, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example']}]\n")
    return load_spec(path)[0]


@pytest.mark.parametrize("target", list(Target))
def test_the_image_definition_takes_its_bootstrapper_and_rpm_database_from_the_family(target: Target, tmp_path: Path):
    """base-images/ names neither (test_base_images_may_not_decide_what_the_family_does): the definition's values are
    the family's for the release, and the container's strip reads its rpm database only where there is one."""
    definition = image_definition(_spec(target, tmp_path))
    assert (definition.bootstrap.tool, definition.bootstrap.dbpath) == BOOTSTRAP_PER_RELEASE[target.info.major]
    assert strip.uses_rpm(definition) == (target.info.family is Family.EL)


@pytest.mark.parametrize(("target", "file", "key"), [(Target.ROCKY_9, "el.yaml", "dbpath"),
                                                     (Target.ALMA_10, "el.yaml", "tool"),
                                                     (Target.DEBIAN_12, "debian-12.yaml", "tool"),
                                                     (Target.DEBIAN_12, "common.yaml", "dbpath")])
def test_base_images_may_not_decide_what_the_family_does(target: Target, file: str, key: str, tmp_path: Path):
    images = tmp_path / "base-images"
    shutil.copytree(BASE_IMAGES, images)
    spec = _spec(target, tmp_path)
    image_definition(spec, images)  # the copy as shipped is a definition
    text = (images / file).read_text()
    line = f"  {key}: {BOOTSTRAP_PER_RELEASE[target.info.major][key == 'dbpath'] or 'x'}\n"  # even the family's value
    (images / file).write_text(text.replace("bootstrap:\n", "bootstrap:\n" + line, 1) if "\nbootstrap:\n" in text
                               else text + "bootstrap:\n" + line)
    with pytest.raises(BuilderError, match=re.escape(f"{images / file}: bootstrap.{key}: ")) as error:
        image_definition(spec, images)
    assert "builder/families/" in (error.value.hint or "")


def test_the_rpm_database_is_where_each_release_keeps_it():
    # EL 8 and 9: /var/lib/rpm; EL 10: /usr/lib/sysimage/rpm (DOMAIN-NOTES, "EL 10"); Debian: none.
    assert [Target(f"rocky-{major}").info.facts.rpmdb_path(major) for major in (8, 9, 10)] == [
        "/var/lib/rpm", "/var/lib/rpm", "/usr/lib/sysimage/rpm"]
    assert facts(Family.DEBIAN).rpmdb_path(12) is None
    # Where a tree of no known release is looked for one (the baseline's offline checks): the newest release's first.
    assert rpmdb_paths() == ("/usr/lib/sysimage/rpm", "/var/lib/rpm")


def test_the_refusals_per_release():
    def refused(target: str) -> bool:
        info = Target(target).info
        return info.facts.bootstrap_refusal(info.distribution, info.major) is not None

    assert [t for t in ("rhel-8", "rhel-9", "rocky-8", "alma-8", "centos-stream-8", "rocky-9", "alma-10", "debian-12")
            if refused(t)] == ["rhel-8", "rhel-9"]
    assert [t.value for t in Target if t.info.facts.dib_refusal(t.info.distribution)] == ["rhel-8", "rhel-9", "rhel-10"]
    assert [t.value for t in Target if t.info.facts.no_kickstart] == ["debian-12"]


def test_dib_variables_per_distribution():
    # DIB's centos element takes "9-stream" (its README: DIB_RELEASE), debian-minimal a suite name.
    assert {t.value: t.info.distribution.dib.environment(t.info.major, t.info.codename)
            for t in (Target.CENTOS_STREAM_9, Target.ALMA_10, Target.DEBIAN_12)} == {
        "centos-stream-9": {"DISTRO_NAME": "centos", "DIB_RELEASE": "9-stream"},
        "alma-10": {"DISTRO_NAME": "almalinux", "DIB_RELEASE": "10"},
        "debian-12": {"DISTRO_NAME": "debian", "DIB_RELEASE": "bookworm"}}


def test_the_repository_files_are_where_the_package_managers_read_them():
    """apt's and dnf's own defaults on this host say where each reads its repository definitions."""
    apt = subprocess.run(["apt-config", "dump"], capture_output=True, text=True, check=True).stdout
    etc = dict(re.findall(r'^Dir::Etc::(sourcelist|sourceparts) "([^"]*)";$', apt, re.MULTILINE))
    files = facts(Family.DEBIAN).repo_files
    assert (files.main_file, files.directory) == (f"/etc/apt/{etc['sourcelist']}", f"/etc/apt/{etc['sourceparts']}")
    assert files.format is RepoFormat.APT and files.suffix == ".sources"
    # The debian-archive-keyring package's keyring (installed on a Debian host as apt's own).
    assert files.default_keyring == "/usr/share/keyrings/debian-archive-keyring.gpg"

    dnf = shutil.which("dnf")
    if dnf is None:
        skip_or_fail("dnf is not installed")
    python = Path(dnf).read_text().splitlines()[0].removeprefix("#!").split()
    defaults = subprocess.run([*python, "-c", "import libdnf.conf as c; m = c.ConfigMain(); "
                               "print(*m.reposdir().getValue(), m.config_file_path().getValue())"],
                              capture_output=True, text=True, check=True).stdout.split()
    files = facts(Family.EL).repo_files
    assert defaults == [files.directory, *files.other_dirs, files.main_file]
    assert files.format is RepoFormat.DNF and files.suffix == ".repo" and files.default_keyring is None


SPEC_FIELDS = ("users: [{name: ops, admin: true, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9w ops@example']}]\n"
               "selinux: enforcing\nnetwork: {interfaces: [{name: eth0, bootproto: dhcp}]}\n"
               "packages: {install: ['@core']}\nkickstart: {disk: {device: vda}}\n"
               "container: {prepull: {image: 'registry.example/base/web:1', engine: docker}}\n"
               "repos:\n  - {name: a, baseurl: 'http://mirror.example/a', gpgkey: 'http://mirror.example/key.asc'}\n"
               "  - {name: b, baseurl: 'http://mirror.example/b', suites: [stable]}\n")


@pytest.mark.parametrize("target, refused", [
    # Debian: no kickstart, SELinux, interface layouts or comps groups; apt reads no key by URL, needs suites.
    ("debian-12", {"kickstart", "selinux", "network.interfaces", "packages.install[0]", "repos[0].gpgkey",
                   "repos[0].suites"}),
    # EL: no docker engine of its own, an EL repository has no suites, and nothing checks a repository without key.
    ("rocky-9", {"container.prepull.engine", "repos[1].suites", "repos[1].gpgkey"}),
])
def test_the_spec_checks_apply_the_family_rules(target: str, refused: set[str]):
    with pytest.raises(SpecError) as error:
        load_spec_text(f"version: 1\nname: web\ntarget: {target}\n" + SPEC_FIELDS, "web.yaml")
    assert {p.path for p in error.value.problems if not p.warning} == refused


def test_the_rpm_database_format_each_release_writes():
    """EL 8's rpm 4.14 writes Berkeley DB only (EL 8.5+ reads sqlite read-only); EL 9's and 10's rpm write sqlite
   ; Debian has no rpm."""
    formats = {t.value: t.info.facts.rpmdb_backend(t.info.major) for t in Target}
    assert {t for t, f in formats.items() if f == "bdb"} == {"rocky-8", "alma-8", "centos-stream-8", "rhel-8"}
    assert {t for t, f in formats.items() if f is None} == {"debian-12"}
    assert set(formats.values()) == {"bdb", "sqlite", None}


def test_no_refusal_says_el8_cannot_be_bootstrapped():
    """The refusal that stays (RHEL) is about subscription content, and no reason names rpm's database format."""
    for family in FAMILIES.values():
        for rule in family.bootstrap_refusals:
            assert "Berkeley" not in rule.reason.why and "sqlite" not in rule.reason.why, rule
    info = Target("rhel-9").info
    assert "subscription" in info.facts.bootstrap_refusal(info.distribution, info.major).why
