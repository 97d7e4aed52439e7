"""`builder build` over the artifact kinds table: options, dry runs, the manifest, and the command line around them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builder import __version__
from builder.cli import main
from builder.kinds import KINDS, Kind, resolve
from builder.manifest import Manifest, ManifestError, record_for

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CS9 = EXAMPLES / "compute-node-cs9.yaml"          # kickstart and prepull by default
DEBIAN = EXAMPLES / "debian12-node.yaml"          # container and qcow2, only with --only


def builder(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def files_in(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def recorded(directory: Path) -> set[str]:
    return {r.path for r in Manifest.load(directory).artifacts.values()}


def changed_spec(tmp_path: Path, source: Path = CS9) -> Path:
    text = source.read_text()
    assert "timezone: Asia/Shanghai" in text
    spec = tmp_path / source.name
    spec.write_text(text.replace("timezone: Asia/Shanghai", "timezone: Asia/Tokyo"))
    return spec


# ---------------------------------------------------------------- the table


def test_every_kind_is_one_entry_whose_plan_and_build_exist():
    assert [k.name for k in KINDS] == list(Kind)
    for kind in KINDS:
        assert callable(resolve(kind.plan_with)) and callable(resolve(kind.build_with)), kind.name


# ---------------------------------------------------------------- dry runs write nothing


@pytest.mark.parametrize("spec, args, says", [
    (CS9, [], ["kickstart: would write", "ks.cfg", "prepull: would write", "prepull.sh", "manifest.json: would record"]),
    (CS9, ["--only", "iso", "--boot-iso", "boot.iso"], ["iso: would write", "oemdrv.iso", "boot-ks.iso from boot.iso"]),
    (DEBIAN, ["--only", "qcow2"], ["command: ", "disk-image-create"]),
    (DEBIAN, ["--only", "container"], ["container: would run debootstrap"]),
], ids=["default", "iso", "qcow2", "container"])
def test_a_dry_run_prints_the_plan_on_stdout_and_writes_nothing(tmp_path, spec, args, says):
    out = tmp_path / "out"
    result = builder("build", spec, "--out", out, "--dry-run", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for text in says:
        assert text in result.stdout, text
    assert "wrote" not in result.stdout
    assert list(tmp_path.iterdir()) == [], "a dry run wrote something"


def test_a_dry_run_names_what_a_spec_change_would_remove(tmp_path):
    out = tmp_path / "out"
    assert builder("build", CS9, "--out", out).returncode == 0
    before = {p: p.read_bytes() for p in (out / "compute-node-cs9").iterdir()}
    result = builder("build", changed_spec(tmp_path), "--out", out, "--only", "kickstart", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would remove prepull.sh" in result.stdout
    assert {p: p.read_bytes() for p in (out / "compute-node-cs9").iterdir()} == before


# ---------------------------------------------------------------- options of a kind that is not built


@pytest.mark.parametrize("args, message", [
    (["--element", "extra"], "--element is for the qcow2 artifact"),
    (["--elements-path", "elements"], "--elements-path is for the qcow2 artifact"),
    (["--boot-iso", "boot.iso"], "--boot-iso is for the iso artifact"),
    (["--only", "iso", "--element", "extra"], "--element is for the qcow2 artifact, and --only leaves it out"),
    (["--only", "kickstart", "--elements-path", "x", "--dry-run"], "--elements-path is for the qcow2 artifact"),
])
def test_an_option_of_a_kind_not_being_built_is_refused(tmp_path, args, message):
    result = builder("build", CS9, "--out", tmp_path / "out", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "hint: add --only" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_kind_option_is_on_the_command_line_with_its_kind_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for kind in KINDS:
        assert f"{kind.name}: {' '.join(kind.makes.split())}" in text
        for option in kind.options:
            # An option several kinds read is one argument, its help naming them all ("container, qcow2: ...").
            readers = [k.name for k in KINDS if option in k.options]
            assert f"{option.flag}" in text and f"{', '.join(readers)}: {' '.join(option.help.split())}" in text


def test_an_option_of_two_kinds_is_refused_only_when_neither_is_built(tmp_path):
    out = tmp_path / "out"
    refused = builder("build", DEBIAN, "--out", out, "--offline")
    assert refused.returncode == 2 and "--offline is for the container and qcow2 artifacts" in refused.stderr, refused.stderr
    assert not out.exists()
    planned = builder("build", DEBIAN, "--out", out, "--only", "container", "--offline", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "reuse it as it is: --offline" in planned.stdout


# ---------------------------------------------------------------- the manifest describes every file, none stale


def test_the_manifest_describes_every_file_of_the_directory(tmp_path):
    out = tmp_path / "out"
    assert builder("build", CS9, "--out", out).returncode == 0
    directory = out / "compute-node-cs9"
    assert files_in(directory) == recorded(directory) | {"manifest.json"} == {"ks.cfg", "prepull.sh", "manifest.json"}


def test_a_kind_built_alone_keeps_the_other_artifacts_of_the_same_spec(tmp_path):
    out = tmp_path / "out"
    assert builder("build", CS9, "--out", out).returncode == 0
    result = builder("build", CS9, "--out", out, "--only", "kickstart")
    assert result.returncode == 0, result.stderr
    directory = out / "compute-node-cs9"
    assert set(Manifest.load(directory).artifacts) == {"kickstart", "prepull"}
    assert files_in(directory) == recorded(directory) | {"manifest.json"}


def test_a_spec_change_removes_the_artifacts_of_the_old_spec_that_were_not_rebuilt(tmp_path):
    out = tmp_path / "out"
    assert builder("build", CS9, "--out", out).returncode == 0
    directory = out / "compute-node-cs9"
    old_hash = Manifest.load(directory).header["spec_sha256"]
    result = builder("build", changed_spec(tmp_path), "--out", out, "--only", "kickstart")
    assert result.returncode == 0, result.stderr
    manifest = Manifest.load(directory)
    assert manifest.header["spec_sha256"] != old_hash
    assert set(manifest.artifacts) == {"kickstart"}
    assert files_in(directory) == {"ks.cfg", "manifest.json"}, "prepull.sh of the old spec was left"
    assert "Asia/Tokyo" in (directory / "ks.cfg").read_text()
    assert f"removed {directory / 'prepull.sh'}" in result.stderr
    manifest.artifact("kickstart")  # and its record matches the file


# ---------------------------------------------------------------- the manifest type


def test_a_record_is_rechecked_when_read(tmp_path):
    image = tmp_path / "disk.qcow2"
    image.write_bytes(b"an image")
    Manifest(tmp_path, {"name": "n"}).with_records([record_for("qcow2", tmp_path, image)]).write()
    assert Manifest.load(tmp_path).artifact("qcow2") == image
    image.write_bytes(b"another image")
    with pytest.raises(ManifestError, match="changed since it was built"):
        Manifest.load(tmp_path).artifact("qcow2")
    image.unlink()
    with pytest.raises(ManifestError, match="missing"):
        Manifest.load(tmp_path).artifact("qcow2")
    with pytest.raises(ManifestError, match="no container recorded"):
        Manifest.load(tmp_path).artifact("container")


def test_a_publication_is_recorded_beside_its_artifact(tmp_path):
    (tmp_path / "a.iso").write_bytes(b"iso")
    Manifest(tmp_path, {"name": "n"}).with_records([record_for("iso", tmp_path, tmp_path / "a.iso")]).write()
    Manifest.load(tmp_path).with_publication("iso", "somewhere", {"id": "1"}).write()
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["artifacts"]["iso"]["published"] == {"somewhere": {"id": "1"}}
    assert Manifest.load(tmp_path).record("iso").published == {"somewhere": {"id": "1"}}
    assert not list(tmp_path.glob(".*.tmp")), "not written atomically"


@pytest.mark.parametrize("text", ["", "{", "[]", '{"artifacts": {"x": {"kind": "x"}}}'])
def test_a_manifest_that_is_not_ours_is_a_clear_error(tmp_path, text):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ManifestError, match="not a manifest builder wrote"):
        Manifest.load(tmp_path)


def test_no_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        Manifest.load(tmp_path)


# ---------------------------------------------------------------- the command line around the build


def test_version():
    result = builder("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"builder {__version__}"


def test_debug_does_not_turn_a_spec_error_into_a_traceback(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\nname: Bad_Name\ntarget: rocky-9\n")
    result = builder("--debug", "build", spec, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and f"{spec}:2: name" in result.stderr


def test_debug_shows_the_traceback_of_a_failure_and_keeps_its_exit_code(tmp_path):
    (tmp_path / "compute-node-cs9").write_text("a file where the build's directory goes\n")
    result = builder("--debug", "build", CS9, "--out", tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "File exists" in result.stderr
    quiet = builder("build", CS9, "--out", tmp_path)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr


@pytest.mark.parametrize("command", ["validate", "build", "verify", "publish", "serve", "baseline"])
def test_help_says_what_spec_is(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "SPEC a spec: a YAML file" in text


def test_build_help_says_what_out_is_and_what_is_made_without_only(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--out DIR the output root: each spec's artifacts are in DIR/<name>/" in text
    defaults = [k.name for k in KINDS if k.default]
    assert defaults == [Kind.KICKSTART, Kind.PREPULL]
    assert "without --only it makes, for each spec that has them, kickstart: ks.cfg" in text
    assert "and iso, container, qcow2 only when asked with --only" in text


def test_help_does_not_load_the_image_libraries():
    code = ("import sys\nfrom builder.cli import main\ntry:\n    main(['build', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pykickstart', 'docker', 'openstack', 'pydantic') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_publishing_what_was_not_built_says_so(tmp_path):
    result = builder("publish", DEBIAN, "--to", "registry", "--registry", "127.0.0.1:9/base/node", "--out", tmp_path)
    assert result.returncode == 1
    assert "no container recorded" in result.stderr and "--only container" in result.stderr
    assert list(tmp_path.iterdir()) == []
