"""`autograder export gradescope`: the zip's layout, and run_autograder in a stand-in for /autograder.

The zip is unpacked into a temporary folder standing in for Gradescope's /autograder (AUTOGRADER_ROOT) and
its own `run_autograder` is run with this interpreter (AUTOGRADER_PYTHON) on a submission.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.coursedir import PACKAGE_DIR
from autograder.export.gradescope import export_gradescope, gradescope_results
from autograder.results import CheckResult, SubmissionResult

KIT_ROOT = PACKAGE_DIR.parent


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory) -> Path:
    return export_gradescope(assignment="sgd_mnist", out=tmp_path_factory.mktemp("zip") / "autograder.zip",
                             course_root=KIT_ROOT)


def unpack(zip_path: Path, root: Path) -> Path:
    """Lay the zip out as Gradescope does: /autograder/source, /autograder/run_autograder, submission/, results/."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            target.chmod((info.external_attr >> 16) & 0o777)
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def check_gradescope_shape(data: dict) -> None:
    assert isinstance(data["score"], (int, float)) and isinstance(data["tests"], list)
    for t in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= t.keys()
        assert t["status"] in ("passed", "failed")
        assert t["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-6


def test_zip_layout_and_versions(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) for i in zf.infolist()}
        config = json.loads(zf.read("gradescope.json"))
        setup = zf.read("setup.sh").decode()
    assert names[:3] == ["setup.sh", "run_autograder", "gradescope.json"]
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert config["schema"] == "autograder-gradescope-export" and config["schema_version"] == 1
    assert config["assignment"] == "sgd_mnist" and config["visibility"] == "after_published"
    assert f"torch=={config['torch']}" in setup and "download.pytorch.org/whl/cpu" in setup
    assert "kit/pyproject.toml" in names and "kit/autograder/export/gradescope_run.py" in names
    assert any(n.startswith("kit/autograder/checks/sgd_mnist/") for n in names)
    assert any(n.startswith("kit/solutions/") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("course/") and ("checks" in n or "source" in n)]


def test_zip_is_reproducible(zip_path, tmp_path):
    again = export_gradescope(assignment="sgd_mnist", out=tmp_path / "again.zip", course_root=KIT_ROOT)
    assert again.read_bytes() == zip_path.read_bytes()


def test_unknown_visibility_or_assignment_is_refused(tmp_path):
    with pytest.raises(ValueError):
        export_gradescope(assignment="sgd_mnist", out=tmp_path / "x.zip", course_root=KIT_ROOT, visibility="now")
    with pytest.raises(FileNotFoundError):
        export_gradescope(assignment="no_such", out=tmp_path / "x.zip", course_root=KIT_ROOT)
    assert not list(tmp_path.iterdir())


def test_gradescope_results_from_a_result():
    result = SubmissionResult(
        student_id="s1", assignment="sgd_mnist", exercise_max={"softmax": 2.0, "matmul": 1.0},
        tests=[CheckResult("test_rows[cpu]", "softmax", 1.0, 1.0, "passed"),
               CheckResult("test_stable[cpu]", "softmax", 0.0, 1.0, "error", "`softmax` raised ValueError: x")])
    data = gradescope_results(result, visibility="after_published")
    check_gradescope_shape(data)
    assert data["score"] == 1.0 and [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]
    assert data["tests"][2]["name"].startswith("matmul") and data["tests"][2]["max_score"] == 1.0
    assert sum(t["max_score"] for t in data["tests"]) == result.max_score
    assert data["extra_data"]["schema"] == "autograder-results"


def test_run_autograder_without_a_notebook_still_writes_results(zip_path, tmp_path):
    root = unpack(zip_path, tmp_path / "autograder")
    (root / "submission" / "answers.txt").write_text("I forgot the notebook")
    data = run_autograder(root)
    check_gradescope_shape(data)
    assert data["score"] == 0 and "no .ipynb" in data["output"]


# ------------------------------------------------------------- these need the grading engine
def _demo_notebook(student_id: str) -> str:
    import json as _json
    from autograder.coursedir import CourseDir
    from autograder.demo.build import solutions, student_notebooks
    from autograder.demo.variants import STUDENTS

    kit = CourseDir(KIT_ROOT)
    release = {p.name: _json.loads(p.read_text()) for p in sorted(kit.release("sgd_mnist").glob("*.ipynb"))}
    student = next(s for s in STUDENTS if s.id == student_id)
    return student_notebooks(student, release, solutions(kit.source("sgd_mnist")))


@pytest.mark.slow
@pytest.mark.parametrize("student_id", ["ada", "ben", "ivy"])  # correct, a misconception, hostile
def test_run_autograder_matches_grade(zip_path, tmp_path, student_id):
    from autograder.runner import GradeOptions, grade_notebooks

    root = unpack(zip_path, tmp_path / "autograder")
    for name, text in _demo_notebook(student_id).items():
        (root / "submission" / name).write_text(text)
    data = run_autograder(root)
    check_gradescope_shape(data)
    expected = grade_notebooks(notebooks=sorted((root / "submission").glob("*.ipynb")), student_id="submission",
                               assignment="sgd_mnist", options=GradeOptions(course_root=KIT_ROOT))
    got = {t["name"]: (t["score"], t["output"]) for t in data["tests"]}
    want = {f"{t.exercise}: {t.name}": (t.score, t.output) for t in expected.tests}
    assert data["score"] == pytest.approx(expected.score, abs=1e-6), \
        {k: (got.get(k), want.get(k)) for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)}
    assert data["extra_data"]["status"] == expected.status
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(expected.max_score)
    if student_id == "ada":
        assert data["score"] == pytest.approx(expected.max_score) and expected.max_score > 0
    else:
        assert data["score"] < expected.max_score
    hints = json.dumps([t["output"] for t in data["tests"]])
    assert "def test_" not in hints and "solutions" not in hints  # no check code reaches the student
