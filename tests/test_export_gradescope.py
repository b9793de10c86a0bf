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

from autograder.coursedir import CourseDir, CourseError
from autograder.export.gradescope import export_gradescope, gradescope_results
from autograder.results import CheckResult, SubmissionResult
from tests._grading import BUNDLE, COURSE


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory) -> Path:
    return export_gradescope(bundle=BUNDLE, out=tmp_path_factory.mktemp("zip") / "autograder.zip")


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
    # the engine holds no assignment: the bundle's hidden material is only under course/solutions/sgd_mnist/
    assert not [n for n in names if n.startswith("kit/") and ("solutions" in n.split("/") or "test_" in n)]
    assert "course/solutions/sgd_mnist/test_softmax.py" in names and "course/solutions/sgd_mnist/reference.py" in names
    assert "course/release/sgd_mnist/mnist_data.py" in names
    assert not [n for n in names if n.startswith("course/") and n.split("/")[1] not in ("release", "solutions")]
    assert not [n for n in names if n.startswith("course/") and n.split("/")[2] != "sgd_mnist"]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # one installed copy of the engine: run_autograder runs what setup.sh installed, never the zip's kit/
    run = zipfile.ZipFile(zip_path).read("run_autograder").decode()
    assert "PYTHONPATH" not in run and "pip install" in setup and "./kit" in setup


def test_zip_is_reproducible(zip_path, tmp_path):
    again = export_gradescope(bundle=BUNDLE, out=tmp_path / "again.zip")
    assert again.read_bytes() == zip_path.read_bytes()


def test_unknown_visibility_or_assignment_is_refused(tmp_path):
    with pytest.raises(ValueError):
        export_gradescope(bundle=BUNDLE, out=tmp_path / "x.zip", visibility="now")
    with pytest.raises(CourseError):
        export_gradescope(bundle=COURSE.bundle("no_such"), out=tmp_path / "x.zip")
    assert not list(tmp_path.iterdir())


def test_gradescope_results_from_a_result():
    result = SubmissionResult(
        student_id="s1", assignment="sgd_mnist", exercise_max={"softmax": 2.0, "matmul": 1.0},
        tests=[CheckResult("values [cpu]", "softmax", 1.0, 1.0, "passed"),
               CheckResult("large logits [cpu]", "softmax", 0.0, 1.0, "error", "`softmax` raised ValueError: x")],
        problems=["test_softmax.py::test_large_logits[cpu]: Traceback ... def test_large_logits(jail, gen, device)"])
    data = gradescope_results(result, visibility="after_published")
    check_gradescope_shape(data)
    assert data["score"] == 1.0 and [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]
    assert [t["name"] for t in data["tests"]] == ["softmax: values [cpu]", "softmax: large logits [cpu]",
                                                  "matmul: not graded"]
    assert data["tests"][2]["max_score"] == 1.0
    assert "def test_" not in json.dumps(data)       # a broken check's traceback is the instructor's only
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
    from autograder.demo import load_students
    from autograder.demo.build import solutions, student_notebooks

    release = {p.name: _json.loads(p.read_text()) for p in BUNDLE.notebooks(BUNDLE.release)}
    student = next(s for s in load_students(BUNDLE) if s.id == student_id)
    return student_notebooks(student, release, solutions(BUNDLE.source))


@pytest.mark.slow
@pytest.mark.parametrize("student_id", ["ada", "ben", "ivy"])  # correct, a misconception, hostile
def test_run_autograder_matches_grade(zip_path, tmp_path, student_id):
    from autograder.grader import grade_notebooks

    root = unpack(zip_path, tmp_path / "autograder")
    for name, text in _demo_notebook(student_id).items():
        (root / "submission" / name).write_text(text)
    data = run_autograder(root)
    check_gradescope_shape(data)
    expected = grade_notebooks(notebooks=sorted((root / "submission").glob("*.ipynb")), student_id="submission",
                               bundle=BUNDLE)
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
    assert "softmax: values [cpu]" in got and not [n for n in got if n.count("softmax:") > 1]


HUNT = """import os, sys

def softmax(x):
    # a student hunting for the hidden material wherever the zip's layout and Python's path could hold a copy:
    # a bundle's checks (a folder with reference.py and test_softmax.py), a solutions/ folder, the zip's config
    found = []
    for root in ["/autograder", "/", os.getcwd(), *sys.path]:
        for folder, dirs, files in os.walk(root or "."):
            if root == "/" and folder.startswith(("/proc", "/sys", "/dev", "/usr", "/lib", "/etc", "/bin", "/sbin")):
                dirs[:] = []                     # the system (Python's installations are walked from sys.path)
                continue
            if {"reference.py", "test_softmax.py"} <= set(files) or "gradescope.json" in files \\
                    or os.path.basename(folder) == "solutions":
                found.append(folder)
    raise RuntimeError("FOUND " + repr(sorted(set(found))[:20]))
"""


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the jail's private filesystem needs Linux namespaces (root)")
def test_no_copy_of_the_hidden_material_is_visible_from_a_jail(zip_path, tmp_path):
    """Laid out as Gradescope does (the zip in /autograder/source, the engine installed once), a submission's
    jail finds neither the course's solutions/ nor any other copy of the checks, references or config."""
    from tests.nbtools import variant
    root = unpack(zip_path, tmp_path / "autograder")
    variant(root / "submission" / "sgd_mnist.ipynb", replace={"softmax": HUNT})
    data = run_autograder(root)
    hunted = [t["output"] for t in data["tests"] if t["name"].startswith("softmax: values")]
    assert hunted and "FOUND []" in hunted[0], hunted
