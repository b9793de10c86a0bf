"""A new instructor's path, as they would take it: the kit installed (not editable) into a fresh virtual
environment, `autograder quickstart` in a folder outside the repository, then release, validate, grade a small
class and check, all green, without touching the kit's files."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _tracked_state() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv whose only copy of the kit is a regular (wheel) install; its dependencies are the project
    venv's, reached through a plain path in a .pth (the project's editable finder is not activated there)."""
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = root / "build"
    shutil.copytree(REPO, build, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "node_modules",
                                                              "*.egg-info", "build", "dist", "graded", "submitted"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "--target", str(site), str(build)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv / "bin" / "python"


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AUTOGRADER_"))}
    env["AUTOGRADER_NO_SERVER"] = "1"      # nothing lingers after the test
    return subprocess.run([str(python), "-m", "autograder.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env=env)


def test_quickstart_course_releases_validates_grades_and_checks(installed, tmp_path):
    before = _tracked_state()
    where = subprocess.run([str(installed), "-c", "import autograder; print(autograder.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path).stdout
    assert str(installed.parents[1]) in where and str(REPO) not in where, where   # the installed copy

    course = tmp_path / "my course"
    made = _run(installed, "quickstart", str(course), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (course / "nbgrader_config.py").is_file() and (course / "solutions" / "example" / "reference.py").is_file()

    released = _run(installed, "release", cwd=course)
    assert released.returncode == 0, released.stderr
    stub = course / "release" / "example" / "example.ipynb"
    assert "NotImplementedError" in stub.read_text() and "BEGIN SOLUTION" not in stub.read_text()

    validated = _run(installed, "validate", cwd=course)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "example: ready to hand out" in validated.stdout and "FAIL" not in validated.stdout

    # a class: the example's own solutions (source notebook) and its stubs, in nbgrader's layout
    for sid, nb in (("sol", course / "source" / "example" / "example.ipynb"), ("stub", stub)):
        (course / "submitted" / sid / "example").mkdir(parents=True)
        shutil.copy(nb, course / "submitted" / sid / "example" / "example.ipynb")
    graded = _run(installed, "grade", "example", "--jobs", "2", cwd=course)
    assert graded.returncode == 0, graded.stderr[-3000:]
    rows = {r["student_id"]: r for r in csv.DictReader((course / "graded" / "grades.csv").open())}
    assert (rows["sol"]["total"], rows["sol"]["max_total"], rows["sol"]["status"]) == ("20", "20", "graded")
    assert (rows["stub"]["total"], rows["stub"]["status"]) == ("0", "graded")
    assert (course / "gradebook.db").is_file() and (course / "feedback" / "sol" / "example" / "example.html").is_file()

    # a self-learner's check, from another folder: the assignment comes from the notebook's metadata
    mine = tmp_path / "mine.ipynb"
    shutil.copy(stub, mine)
    checked = _run(installed, "check", str(mine), "--course-root", str(course), cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr[-3000:]
    assert "checking against assignment 'example' (from mine.ipynb's metadata)" in checked.stderr
    assert "example: 0 / 20 points" in checked.stdout and "not implemented yet" in checked.stdout
    full = _run(installed, "check", str(course / "source" / "example" / "example.ipynb"), cwd=tmp_path / "my course")
    assert full.returncode == 0 and "example: 20 / 20 points" in full.stdout, full.stdout + full.stderr

    assert "sgd_mnist" not in made.stdout + released.stdout + validated.stdout + graded.stdout + graded.stderr \
        + checked.stdout + checked.stderr
    assert _tracked_state() == before            # the kit's own files were not touched
