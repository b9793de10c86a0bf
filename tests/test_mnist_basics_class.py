"""A class of `mnist_basics` submissions graded like any other bundle: the lesson's sample class (the demo's)
scores as its data says, each student's mistakes cost only the exercises they touched, and the grades are
byte-for-byte the same across runs and `--jobs`."""
from __future__ import annotations

import csv

import pytest

from autograder.config import GradeOptions
from autograder.coursedir import CourseDir
from autograder.demo import build_class, load_students
from autograder.grade import grade_class
from autograder.report.paths import student_dir
from tests.nbtools import REPO

pytestmark = pytest.mark.slow

BUNDLE = CourseDir(REPO).bundle("mnist_basics")
STUDENTS = {s.id: s for s in load_students(BUNDLE)}
EXERCISES = ("mean_image", "mnist_distance", "is_3", "init_params", "linear1", "sigmoid", "mnist_loss",
             "calc_grad", "train_epoch", "batch_accuracy", "BasicOptim")   # CONTRACT §1b


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist_basics_class")
    build_class(BUNDLE, root)
    return CourseDir(root)


@pytest.fixture(scope="module")
def first(course, tmp_path_factory):
    out = tmp_path_factory.mktemp("jobs2")
    grade_class(bundle=course.bundle("mnist_basics"), submissions=course.submitted(), out=out, jobs=2,
                options=GradeOptions())
    return out


def _rows(out):
    return {r["student_id"]: r for r in csv.DictReader((out / "grades.csv").open())}


def test_the_sample_class_scores_as_its_data_says(first):
    rows = _rows(first)
    assert set(rows) == set(STUDENTS)
    for sid, s in STUDENTS.items():
        row = rows[sid]
        if s.truncate:
            assert row["status"] == "invalid_notebook"
            continue
        assert row["status"] == "graded", row
        if s.stubs:
            assert float(row["total"]) == 0, row
            continue
        for e in EXERCISES:
            if e in s.lost:
                assert float(row[e]) < 10, (sid, e, row)
            else:
                assert float(row[e]) == 10, (sid, e, row)    # a mistake elsewhere costs nothing here


def test_grades_are_identical_across_runs_and_jobs(course, first, tmp_path):
    grade_class(bundle=course.bundle("mnist_basics"), submissions=course.submitted(), out=tmp_path, jobs=1,
                options=GradeOptions())
    assert (tmp_path / "grades.csv").read_bytes() == (first / "grades.csv").read_bytes()
    for sid in STUDENTS:
        if not STUDENTS[sid].truncate:
            before, after = student_dir(first, sid) / "feedback.md", student_dir(tmp_path, sid) / "feedback.md"
            assert after.read_text() == before.read_text(), sid
