"""A wheel works: builder's data (DIB elements, image definitions, kickstart templates) ships as package data.

The slow tests build the wheel from the files git tracks, install it (not editable) into a fresh venv and run the
installed `builder` from another directory: it must plan exactly what the checkout plans. The venv has no system
site-packages: every dependency comes from pyproject.toml, so a missing dependency or data file cannot hide.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from builder.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = "builder/resources"
DATA = ("elements", "base-images", "kickstarts")
CHECKOUT_BIN = Path(sys.executable).parent  # the checkout's builder: this venv (editable install)


def tracked_data() -> dict[str, int]:
    """Every file git tracks under the three data directories, with git's mode (0o100644 or 0o100755)."""
    out = subprocess.run(["git", "ls-files", "-s", "-z", "--", *(f"{RESOURCES}/{d}" for d in DATA)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    files = {}
    for entry in filter(None, out.split("\0")):
        meta, path = entry.split("\t", 1)
        files[path] = int(meta.split()[0], 8)
    return files


def run_env() -> dict[str, str]:
    """The tests' environment (BUILDER_MIRRORS included), with nothing that would put the checkout on sys.path."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a copy of the tracked files (a build in the checkout would write into it)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted in the work tree is not part of this checkout
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(base / "dist"), str(source)],
                           env=run_env(), capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = (base / "dist").glob("builder-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Path:
    """A fresh venv (no system site-packages) with the wheel installed from the file, its dependencies from the index."""
    place = wheel.parent.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(place)], env=run_env(), check=True, timeout=300)
    install = subprocess.run([str(place / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                             env=run_env(), capture_output=True, text=True, timeout=1200)
    assert install.returncode == 0, install.stdout + install.stderr
    return place


def site_packages(venv: Path) -> Path:
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         env=run_env(), capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


@pytest.mark.slow
def test_the_wheel_holds_every_tracked_data_file_with_its_mode(wheel: Path):
    tracked = tracked_data()
    assert {path.split("/")[2] for path in tracked} == set(DATA)
    with zipfile.ZipFile(wheel) as archive:
        members = {info.filename: info for info in archive.infolist()}
        shipped = {name for name in members if name.startswith(tuple(f"{RESOURCES}/{d}/" for d in DATA))}
        assert shipped == set(tracked), f"missing: {sorted(set(tracked) - shipped)}, not tracked: {sorted(shipped - set(tracked))}"
        for path, mode in tracked.items():
            assert archive.read(path) == (ROOT / path).read_bytes(), path
            assert bool((members[path].external_attr >> 16) & 0o111) == bool(mode & 0o111), f"{path}: x bit"
    assert any(mode & 0o111 for mode in tracked.values()), "the element scripts are executable in git"


@pytest.mark.slow
def test_the_installed_elements_keep_their_modes_and_pass_dib_lint(venv: Path):
    installed = site_packages(venv) / RESOURCES
    for path, mode in tracked_data().items():
        assert bool((installed.parent.parent / path).stat().st_mode & stat.S_IXUSR) == bool(mode & 0o111), f"{path}: x bit"
    # DIB's own linter on the installed copy (executable scripts, set -eu, pipefail, DIB_DEBUG_TRACE, element-deps)
    env = {**run_env(), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "ELEMENTS_DIR": "elements", "LIB_DIR": "elements/.none"}
    lint = subprocess.run([str(venv / "bin" / "dib-lint")], cwd=installed, env=env, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for element in (installed / "elements").iterdir():
        assert f"Checking elements/{element.name}/" in lint.stdout or not any(element.rglob("*.d/*"))


@pytest.mark.slow
def test_the_installed_builder_plans_what_the_checkout_plans(venv: Path, tmp_path: Path):
    """Every example: `baseline` and each kind's --dry-run, from tmp_path, by the wheel's builder and the checkout's.
    The plans differ only in where the two installs are: the elements directory and disk-image-create's directory."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    specs = sorted(f"examples/{p.name}" for p in (tmp_path / "examples").glob("*.yaml"))
    commands = [("baseline", spec) for spec in specs]
    commands += [("build", spec, "--only", kind.name, "--dry-run", "--out", "out") for spec in specs for kind in KINDS]
    installs = {
        "checkout": ([str(CHECKOUT_BIN / "python"), "-m", "builder.cli"],
                     {str(ROOT / RESOURCES / "elements"): "ELEMENTS", f"{CHECKOUT_BIN}/": "BIN/"}),
        "wheel": ([str(venv / "bin" / "builder")],
                  {str(site_packages(venv) / RESOURCES / "elements"): "ELEMENTS", f"{venv / 'bin'}/": "BIN/"}),
    }

    def run(install: str, args: tuple[str, ...]) -> tuple[int, str, str]:
        proc = subprocess.run([*installs[install][0], *args], cwd=tmp_path, env=run_env(), capture_output=True, text=True,
                              timeout=300)
        return proc.returncode, proc.stdout, proc.stderr

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = {install: list(pool.map(lambda args, i=install: run(i, args), commands)) for install in installs}

    def placed(install: str, text: str) -> str:
        for where, mark in installs[install][1].items():
            text = text.replace(where, mark)
        return text

    for args, ours, theirs in zip(commands, results["checkout"], results["wheel"], strict=True):
        assert ours[0] in (0, 2), f"{args}: {ours[2]}"
        assert str(ROOT) not in "".join(theirs[1:]), f"{args}: the installed builder used the checkout"
        assert (ours[0], placed("checkout", ours[1]), placed("checkout", ours[2])) == \
               (theirs[0], placed("wheel", theirs[1]), placed("wheel", theirs[2])), args
    applied = {args[3] for args, result in zip(commands, results["wheel"], strict=True) if args[0] == "build" and result[0] == 0}
    assert applied == {kind.name for kind in KINDS}, "every kind planned for at least one example"
    elements = f"ELEMENTS_PATH={site_packages(venv) / RESOURCES / 'elements'}"
    assert all(elements in result[1] for args, result in zip(commands, results["wheel"], strict=True)
               if args[0] == "build" and args[3] == "qcow2" and result[0] == 0), "the wheel's qcow2 uses its own elements"
    assert all(result[0] == 0 and result[1].startswith("#!") for args, result in zip(commands, results["wheel"], strict=True)
               if args[0] == "baseline")
    assert not (tmp_path / "out").exists(), "a dry run writes nothing"


# Imports builder from the sys.path entry given and prints where its elements are, or the error (exit 3).
# Run with -I -S: no site-packages, so no editable install: the only builder on sys.path is the one given.
LOCATE = ("import sys; sys.path.insert(0, sys.argv[1])\n"
          "from builder import resources\n"
          "from builder.errors import BuilderError\n"
          "assert resources.__file__.startswith(sys.argv[1]), resources.__file__\n"
          "try:\n    print(resources.directory('elements'))\n"
          "except BuilderError as exc:\n    print(exc)\n    sys.exit(3)\n")


def locate(entry: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-S", "-c", LOCATE, str(entry)], cwd=cwd, capture_output=True, text=True)


def test_a_zipped_install_is_refused_with_a_clear_message(tmp_path: Path):
    """DIB and Jinja need real directories; Python 3.11's importlib.resources.as_file extracts no directory tree."""
    archive = tmp_path / "builder.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((ROOT / "builder").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out.write(path, str(path.relative_to(ROOT)))
    zipped = locate(archive, tmp_path)
    assert zipped.returncode == 3, zipped.stdout + zipped.stderr
    assert f"builder's elements/ is inside an archive ({archive}/builder/resources/elements" in zipped.stdout
    assert "install builder unzipped" in zipped.stdout
    unpacked = locate(ROOT, tmp_path)
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    assert Path(unpacked.stdout.strip()) == ROOT / RESOURCES / "elements"


def test_an_install_without_its_data_is_refused_with_a_clear_message(tmp_path: Path):
    shutil.copytree(ROOT / "builder", tmp_path / "site" / "builder", ignore=shutil.ignore_patterns("__pycache__", "elements"))
    missing = locate(tmp_path / "site", tmp_path)
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert f"builder's elements/ is missing from its package ({tmp_path}/site/builder/resources/elements)" in missing.stdout
