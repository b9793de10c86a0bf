"""Grading a class with `autograder grade`: every submission gets a row, broken ones do not disturb the
others, runs are reproducible and resumable, and nbgrader's gradebook agrees."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.config import GradeOptions
from autograder.grade import grade_class
from tests._grading import BUNDLE
from tests.nbtools import REPO, RELEASE_NB, SOURCE_NB, variant

EXERCISES = ("softmax", "log_softmax", "binary_loss")
OPTS = GradeOptions(exercises=EXERCISES, cell_timeout=5.0)
NASTY_ID = "$(touch pwned) O'Brien; rm -rf ~"


def make_class(root: Path) -> Path:
    subs = root / "submitted"
    for sid, build in {
        "alice": lambda p: shutil.copy(SOURCE_NB, p),
        "bob": lambda p: variant(p, replace={"softmax": "def softmax(x):\n    return x.exp() / x.exp().sum(0)\n"}),
        "carol": lambda p: shutil.copy(RELEASE_NB, p),
        "dave": lambda p: p.write_text('{"cells": [{"cell_type": "code", "sour'),
        "erin": lambda p: p.write_text(""),
        NASTY_ID: lambda p: shutil.copy(SOURCE_NB, p),
    }.items():
        folder = subs / sid / "sgd_mnist"
        folder.mkdir(parents=True)
        build(folder / "sgd_mnist.ipynb")
    (subs / "frank" / "sgd_mnist").mkdir(parents=True)          # submitted nothing
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    subs = make_class(root)
    results = grade_class(bundle=BUNDLE, submissions=subs, out=root / "out", jobs=2, options=OPTS).results
    return root, subs, results


def test_every_submission_gets_a_row(graded):
    root, subs, results = graded
    by_id = {r.student_id: r for r in results}
    assert set(by_id) == {"alice", "bob", "carol", "dave", "erin", "frank", NASTY_ID}
    assert by_id["alice"].status == "graded" and by_id["alice"].score == by_id["alice"].max_score
    assert by_id[NASTY_ID].status == "graded" and by_id[NASTY_ID].score == by_id[NASTY_ID].max_score
    assert by_id["bob"].status == "graded" and by_id["bob"].exercise_scores()["softmax"] < 10
    assert by_id["carol"].status == "graded" and by_id["carol"].score == 0
    assert by_id["dave"].status == "invalid_notebook" and "truncated" in by_id["dave"].message
    assert by_id["erin"].status == "invalid_notebook" and "empty" in by_id["erin"].message
    assert by_id["frank"].status == "missing"
    rows = list(csv.DictReader((root / "out" / "grades.csv").open()))
    assert [r["student_id"] for r in rows] == sorted(by_id)
    assert list(rows[0]) == ["student_id", *sorted(EXERCISES, key=list(by_id["alice"].exercise_max).index),
                             "total", "max_total", "status"]
    assert not (root / "pwned").exists() and not Path("pwned").exists()
    for r in results:
        folders = [p for p in (root / "out").iterdir() if p.is_dir()]
        assert any(json.loads((f / "results.json").read_text())["student_id"] == r.student_id for f in folders)


def test_broken_neighbours_change_nothing(graded, tmp_path):
    """alice and bob graded alone get exactly the results they got in the broken class."""
    root, subs, results = graded
    alone = tmp_path / "alone"
    for sid in ("alice", "bob"):
        shutil.copytree(subs / sid, alone / sid)
    again = grade_class(bundle=BUNDLE, submissions=alone, out=tmp_path / "out", jobs=1, options=OPTS).results
    before = {r.student_id: r for r in results}
    for r in again:
        assert [vars(t) for t in r.tests] == [vars(t) for t in before[r.student_id].tests]


def test_grading_twice_gives_identical_grades(graded, tmp_path):
    root, subs, _ = graded
    grade_class(bundle=BUNDLE, submissions=subs, out=tmp_path / "second", jobs=1, force=True, options=OPTS).results
    assert (tmp_path / "second" / "grades.csv").read_bytes() == (root / "out" / "grades.csv").read_bytes()


def test_rerun_reuses_unchanged_results_and_regrades_changed(graded, tmp_path):
    root, subs, _ = graded
    out = tmp_path / "out"
    shutil.copytree(root / "out", out)
    shutil.copytree(subs, tmp_path / "subs")
    variant(tmp_path / "subs" / "carol" / "sgd_mnist" / "sgd_mnist.ipynb")      # carol resubmits the solution
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    results = grade_class(bundle=BUNDLE, submissions=tmp_path / "subs", out=out, jobs=1, options=OPTS).results
    changed = [p.parent.name for p, t in before.items() if p.stat().st_mtime_ns != t]
    assert changed == ["carol"]
    assert {r.student_id: r for r in results}["carol"].score == 30


def test_editing_a_check_regrades_without_force(tmp_path):
    """A result is reused only under the bundle's key: editing a hidden check (or a reference) of a copy of the
    bundle makes the next run grade every submission again, with no --force."""
    from autograder.coursedir import CourseDir
    course = CourseDir(tmp_path / "course")
    bundle = course.bundle("sgd_mnist")
    for folder in (BUNDLE.source, BUNDLE.release, BUNDLE.solutions):
        shutil.copytree(folder, course.root / folder.relative_to(REPO), ignore=shutil.ignore_patterns("__pycache__"))
    subs = tmp_path / "subs"
    for sid in ("ann", "ben"):
        (subs / sid).mkdir(parents=True)
        shutil.copy(SOURCE_NB, subs / sid / "sgd_mnist.ipynb")
    opts = GradeOptions(exercises=("softmax",))
    first = grade_class(bundle=bundle, submissions=subs, out=tmp_path / "out", jobs=1, options=opts).results
    assert [r.score for r in first] == [10.0, 10.0]
    check = bundle.solutions / "test_softmax.py"
    check.write_text(check.read_text().replace('"values": 4, "gradient": 2', '"values": 5, "gradient": 1'))
    again = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", "sgd_mnist", "--submissions",
                            str(subs), "--out", str(tmp_path / "out"), "--jobs", "1", "--course-root",
                            str(course.root)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "reusing" not in again.stderr
    assert again.stderr.count("'ann': graded") == 1 and again.stderr.count("'ben': graded") == 1
    values = json.loads((tmp_path / "out" / "ann" / "results.json").read_text())["tests"]
    assert [t["max_score"] for t in values if t["name"] == "values [cpu]" and t["exercise"] == "softmax"] == [5.0]
    # a run with --out writes nothing else of the course: no gradebook, no feedback/
    assert not course.gradebook().exists() and not (course.root / "feedback").exists()


def test_killed_run_resumes_without_losing_anything(tmp_path):
    subs = tmp_path / "subs"
    for i in range(6):
        (subs / f"s{i}" / "sgd_mnist").mkdir(parents=True)
        shutil.copy(SOURCE_NB if i % 2 else RELEASE_NB, subs / f"s{i}" / "sgd_mnist" / "sgd_mnist.ipynb")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "autograder.cli", "grade", "sgd_mnist", "--submissions", str(subs),
           "--out", str(out), "--jobs", "1", "--course-root", str(REPO)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 180
    while len(list(out.glob("*/results.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.parent.name for p in out.glob("*/results.json")}
    assert 2 <= len(first) < 6
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"reusing {len(first)}" in done.stderr
    regraded = {line.split("'")[1] for line in done.stderr.splitlines() if line.startswith("[")} - first
    assert regraded == {f"s{i}" for i in range(6)} - first
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == 6 and all(r["status"] == "graded" for r in rows)
