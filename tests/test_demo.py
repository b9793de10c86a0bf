"""`autograder demo`: the sample class is built from the kit's notebooks, and graded as its data says."""
from __future__ import annotations

import ast
import csv
import json

import pytest

from autograder.coursedir import CourseDir
from autograder.demo import build_class, load_students, run_demo
from autograder.demo.build import solutions
from tests._grading import BUNDLE

DEMO_ASSIGNMENT = BUNDLE.name
STUDENTS = load_students(BUNDLE)


def test_sample_class_is_varied_enough():
    assert len(STUDENTS) >= 8 and len({s.id for s in STUDENTS}) == len(STUDENTS)
    assert any(s.truncate for s in STUDENTS) and any("os._exit" in c for s in STUDENTS for c in s.cells.values())
    for s in STUDENTS:
        for code in s.cells.values():
            ast.parse(code)
        assert set(s.lost) <= set(s.cells), f"{s.id}: a lost exercise the student did not rewrite"


def test_every_variant_replaces_an_exercise_of_the_notebooks():
    answers = solutions(BUNDLE.source)
    for s in STUDENTS:
        assert set(s.cells) <= set(answers), s.id


def test_build_class_in_nbgrader_layout(tmp_path):
    build_class(BUNDLE, tmp_path)
    course = CourseDir(tmp_path)
    names = sorted(p.name for p in BUNDLE.release.glob("*.ipynb"))
    for s in STUDENTS:
        folder = course.submitted() / s.id / DEMO_ASSIGNMENT
        assert sorted(p.name for p in folder.glob("*.ipynb")) == names
        for path in folder.glob("*.ipynb"):
            if s.truncate:
                with pytest.raises(ValueError):
                    json.loads(path.read_text())
                continue
            nb = json.loads(path.read_text())
            code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
            assert "### BEGIN SOLUTION" not in code
            if s.stubs:
                assert path.read_text() == (BUNDLE.release / path.name).read_text() \
                    or "NotImplementedError" in code
            for variant in s.cells.values():
                assert variant in code
    assert course.release(DEMO_ASSIGNMENT).is_dir() and course.source(DEMO_ASSIGNMENT).is_dir()
    assert (course.solutions(DEMO_ASSIGNMENT) / "reference.py").is_file()   # a whole bundle, graded there


@pytest.mark.slow
def test_demo_grades_the_class_as_expected(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run_demo(bundles=[BUNDLE], out=out, jobs=2) == 0, capsys.readouterr().out[-3000:]
    printed = capsys.readouterr().out
    course = CourseDir(out / DEMO_ASSIGNMENT)
    grades = next(course.default_out().rglob("grades.csv"), None) or next(out.rglob("grades.csv"))
    rows = {r["student_id"]: r for r in csv.DictReader(grades.open())}
    assert set(rows) == {s.id for s in STUDENTS}
    assert rows["ada"]["total"] == rows["ada"]["max_total"] and rows["ada"]["status"] == "graded"
    assert rows["jon"]["status"] == "invalid_notebook"
    assert float(rows["kim"]["total"]) == 0
    for s in STUDENTS:
        assert (course.default_out() / s.id / "feedback.html").is_file()
    assert course.gradebook().is_file()
    assert "feedback.html" in printed and "ada" in printed
    html = (course.default_out() / "ivy" / "feedback.html").read_text()
    assert "def test_" not in html  # the hostile student learns nothing about the checks
    # the demo folder is ours: the next run starts it afresh
    from autograder.demo.build import _prepare
    assert _prepare(out) == out.resolve() and not list(out.iterdir())
    assert not BUNDLE.course.gradebook().exists()   # the kit's own course is never written to
