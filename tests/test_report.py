"""The report writers: grades.csv, results.json, feedback HTML/Markdown, nbgrader's gradebook and feedback.

Golden file: tests/golden/feedback.md. Refresh it, after checking the change is wanted, with
`AUTOGRADER_UPDATE_GOLDEN=1 pytest tests/test_report.py`; it is never rewritten silently.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.report import (render_html, render_markdown, render_table, safe_folder_name,
                               write_grades_csv, write_nbgrader_feedback, write_nbgrader_gradebook,
                               write_student_files)
from autograder.report.paths import student_dir
from autograder.results import CheckResult, SubmissionResult

GOLDEN = Path(__file__).parent / "golden"
EXERCISE_MAX = {"binary_loss": 3.0, "softmax": 2.0, "matmul": 2.0}
HOSTILE_IDS = ["../x", "../../etc/passwd", "/abs", "$(touch pwned)", "a b", ".", "..", "", "x/../../y",
               "<img src=x onerror=alert(1)>", "null\x00byte", "é-ü", "`id`", "a" * 300]


def make_result(student_id="alice", *, hint="rows sum to 1 along dim 0: you normalised over the batch",
                status="graded") -> SubmissionResult:
    return SubmissionResult(
        student_id=student_id, assignment="sgd_mnist", status=status,
        tests=[CheckResult("test_binary_loss_values[cpu]", "binary_loss", 2.0, 2.0, "passed", ""),
               CheckResult("test_binary_loss_grad[cpu]", "binary_loss", 0.0, 1.0, "failed",
                           "the gradient misses the (1-y)·log(1-p) term"),
               CheckResult("test_softmax_rows[cpu]", "softmax", 0.0, 2.0, "failed", hint),
               CheckResult("test_matmul_values[cpu]", "matmul", 1.0 / 3.0, 1.0, "error", "`matmul` raised ValueError")],
        exercise_max=dict(EXERCISE_MAX), notebook_sha256="ab" * 32, isolation="namespaces", seconds=1.25,
        cells=[{"index": 4, "status": "ok", "error": ""},
               {"index": 7, "status": "error", "error": "NameError: name 'W' is not defined"}])


def test_safe_folder_names_stay_inside_out(tmp_path):
    assert safe_folder_name("alice") == "alice" and safe_folder_name("s-01.b_2") == "s-01.b_2"
    names = {safe_folder_name(s) for s in HOSTILE_IDS}
    assert len(names) == len(HOSTILE_IDS), "different ids must get different folders"
    for sid in HOSTILE_IDS:
        name = safe_folder_name(sid)
        assert name.startswith("_") and "/" not in name and "\x00" not in name and len(name) <= 60
        assert student_dir(tmp_path, sid).parent == tmp_path


def test_student_files_for_hostile_ids_land_inside_out(tmp_path):
    out = tmp_path / "out"
    for sid in HOSTILE_IDS:
        folder = write_student_files(make_result(sid), out=out)
        assert folder.parent == out
        data = json.loads((folder / "results.json").read_text())
        assert data["student_id"] == sid  # the true id travels as data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_results_json_shape(tmp_path):
    folder = write_student_files(make_result(), out=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["feedback.html", "feedback.md", "results.json"]
    data = json.loads((folder / "results.json").read_text())
    assert {"score", "max_score", "status", "tests"} <= data.keys()
    assert data["max_score"] == 7.0 and data["score"] == pytest.approx(2 + 1 / 3, abs=1e-3)
    for t in data["tests"]:
        assert {"name", "exercise", "score", "max_score", "status", "output"} <= t.keys()
        assert t["status"] in ("passed", "failed", "error")
    assert SubmissionResult.read_json(folder / "results.json").score == make_result().score


def test_html_escapes_untrusted_text():
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    page = render_html(make_result(student_id=evil, hint=evil + " & more"))
    assert "<script>" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;" in page and "&amp; more" in page
    assert page.count("<script") == 0 and "http" not in page.split("<body>")[1]  # self-contained, no scripts


def test_html_has_header_tables_and_cell_errors():
    page = render_html(make_result())
    assert "alice" in page and "sgd_mnist" in page and "2.3333" in page and "/ 7" in page
    assert page.count("<table>") == 3
    assert "NameError: name &#x27;W&#x27; is not defined" in page
    assert "the gradient misses" in page


def test_markdown_neutralises_links_and_markup():
    text = render_markdown(make_result(student_id="[x](javascript:alert(1))", hint="<b>bold</b> | ![i](http://e/x)"))
    assert "\\[x\\](javascript" in text and "<b>" not in text and "!\\[i\\](" in text
    assert "[x](" not in text and "[i](" not in text
    lead = next(line for line in text.splitlines() if "bold" in line)       # the exercise's diagnosis, once
    assert lead.startswith("**") and "<b>" not in lead and "\\|" in lead
    row = next(line for line in text.splitlines() if line.startswith("| ") and "failed" in line)
    assert row.count(" | ") == 3 and row.endswith("| the same as above |"), "a pipe in a hint must not add a column"


def test_feedback_md_golden():
    text = render_markdown(make_result())
    golden = GOLDEN / "feedback.md"
    if os.environ.get("AUTOGRADER_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), "no golden file: run with AUTOGRADER_UPDATE_GOLDEN=1 once, and review it"
    assert text == golden.read_text(encoding="utf-8"), "feedback.md changed: review, then AUTOGRADER_UPDATE_GOLDEN=1"


def test_render_table_lists_exercises_and_hints():
    table = render_table(make_result())
    lines = table.splitlines()
    assert lines[0] == "sgd_mnist: 2.3333 / 7 points"
    assert [line.split()[0] for line in lines if line.split() and line.split()[0] in EXERCISE_MAX] == \
        list(EXERCISE_MAX)
    assert "(1-y)" in table and "NameError" in table
    assert "passed" not in table  # passing checks add no noise


def _grades(tmp_path, results):
    path = tmp_path / "grades.csv"
    write_grades_csv(results, path=path)
    return path.read_bytes()


def test_grades_csv_columns_order_and_determinism(tmp_path):
    results = [make_result("carol"), make_result("alice"),
               SubmissionResult.from_error(student_id="bob", assignment="sgd_mnist", status="invalid_notebook",
                                           message="not JSON", exercise_max=EXERCISE_MAX)]
    first = _grades(tmp_path, results)
    assert first == _grades(tmp_path, list(reversed(results)))
    rows = list(csv.reader(io.StringIO(first.decode())))
    assert rows[0] == ["student_id", "binary_loss", "softmax", "matmul", "total", "max_total", "status"]
    assert [r[0] for r in rows[1:]] == ["alice", "bob", "carol"]
    assert rows[1] == ["alice", "2", "0", "0.3333", "2.3333", "7", "graded"]
    assert rows[2] == ["bob", "0", "0", "0", "0", "7", "invalid_notebook"]
    assert b"\r" not in first


def test_grades_csv_quotes_hostile_ids(tmp_path):
    rows = list(csv.reader(io.StringIO(_grades(tmp_path, [make_result('a,"b"\nc')]).decode())))
    assert rows[1][0] == 'a,"b"\nc' and len(rows) == 2


def _nbgrader_export(course: Path) -> dict[str, tuple[float, float]]:
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"], cwd=course,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JUPYTER_CONFIG_DIR": str(course / ".jupyter"),  # nbgrader runs `alembic`
                               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((course / "export.csv").open()))
    return {r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in rows}


def _notebook(path: Path, grade_ids: list[str]) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "outputs": [], "source": "raise NotImplementedError",
              "metadata": {"nbgrader": {"grade_id": g, "solution": True, "grade": False, "locked": False}}}
             for g in grade_ids]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_gradebook_matches_nbgrader_export(tmp_path):
    course = tmp_path / "course"
    _notebook(course / "release" / "sgd_mnist" / "losses.ipynb", ["binary_loss"])
    _notebook(course / "release" / "sgd_mnist" / "model.ipynb", ["softmax", "matmul"])
    results = [make_result("alice"), make_result("bob", status="graded"),
               SubmissionResult.from_error(student_id="carol", assignment="sgd_mnist", status="timeout",
                                           message="ran past 300 s", exercise_max=EXERCISE_MAX)]
    results[1].tests = results[1].tests[:1]  # bob: 2 points
    write_nbgrader_gradebook(results[:1], course_root=course, assignment="sgd_mnist")
    write_nbgrader_gradebook(results, course_root=course, assignment="sgd_mnist")  # re-grading updates
    exported = _nbgrader_export(course)
    assert {sid: round(score, 4) for sid, (score, _) in exported.items()} == \
        {r.student_id: r.score for r in results}
    assert {m for _, m in exported.values()} == {7.0}

    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(n.name for n in gb.find_assignment("sgd_mnist").notebooks) == ["losses", "model"]
        assert gb.find_grade("softmax", "model", "sgd_mnist", "alice").max_score == 2.0


def test_nbgrader_feedback_layout(tmp_path):
    _notebook(tmp_path / "release" / "sgd_mnist" / "losses.ipynb", ["binary_loss"])
    sub = tmp_path / "submitted" / "alice" / "sgd_mnist"
    sub.mkdir(parents=True)
    (sub / "timestamp.txt").write_text("2026-11-23 10:00:00.000000 UTC")
    folder = write_nbgrader_feedback(make_result(), course_root=tmp_path, assignment="sgd_mnist")
    assert folder == tmp_path / "feedback" / "alice" / "sgd_mnist"
    assert sorted(p.name for p in folder.iterdir()) == ["losses.html", "timestamp.txt"]
    hostile = write_nbgrader_feedback(make_result("../../x"), course_root=tmp_path, assignment="sgd_mnist")
    assert hostile.parent.parent == tmp_path / "feedback"
    with pytest.raises(ValueError):
        write_nbgrader_feedback(make_result(), course_root=tmp_path, assignment="../x")


def test_alembic_head_is_what_nbgrader_would_stamp():
    """New gradebooks are stamped in-process with the revision `alembic heads` (nbgrader's way) prints."""
    from nbgrader.api import get_alembic_version

    from autograder.report.gradebook import _alembic_in_process, alembic_head
    env_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    saved = os.environ["PATH"]
    os.environ["PATH"] = env_path
    try:
        expected = get_alembic_version()    # runs `alembic heads` in a subprocess
    finally:
        os.environ["PATH"] = saved
    assert alembic_head() == expected and len(expected) >= 8
    import nbgrader.api
    with _alembic_in_process():
        assert nbgrader.api.get_alembic_version is alembic_head
    assert nbgrader.api.get_alembic_version is get_alembic_version


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's own add_submission trips autoflush
def test_gradebook_writer_mirrors_nbgrader_add_submission(tmp_path):
    """A submission recorded by our writer has the rows nbgrader's own `add_submission` would create (a Grade
    per grade cell, a Comment per solution cell, both per task cell), so formgrader sees no difference."""
    from nbgrader.api import Gradebook

    from autograder.report.gradebook import GradebookWriter, _alembic_in_process
    course = tmp_path / "course"
    _notebook(course / "release" / "sgd_mnist" / "model.ipynb", ["softmax", "matmul"])
    with _alembic_in_process(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("sgd_mnist")
        gb.add_notebook("model", "sgd_mnist")
        gb.add_solution_cell("softmax", "model", "sgd_mnist")
        gb.add_task_cell("explain", "model", "sgd_mnist", max_score=3, cell_type="markdown")
    writer = GradebookWriter(course_root=course, assignment="sgd_mnist", exercise_max={"softmax": 4.0, "matmul": 3.0})
    writer.add(make_result("alice"))
    writer.close()

    def shape(sub):
        nb = sub.notebooks[0]
        return (sorted(g.cell.name for g in nb.grades), sorted(c.cell.name for c in nb.comments))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_student("bob")
        bob = gb.add_submission("sgd_mnist", "bob")
        alice = gb.find_submission("sgd_mnist", "alice")
        assert shape(alice) == shape(bob) == (["explain", "matmul", "softmax"], ["explain", "softmax"])
        assert gb.find_grade("softmax", "model", "sgd_mnist", "alice").auto_score == \
            make_result("alice").exercise_scores()["softmax"]
        # the task cell's grade is left to a human, as nbgrader leaves it; the exercises' are not
        ours, theirs = (gb.find_grade("explain", "model", "sgd_mnist", s) for s in ("alice", "bob"))
        assert (ours.auto_score, ours.needs_manual_grade) == (theirs.auto_score, theirs.needs_manual_grade) == (None, True)
        assert gb.find_grade("matmul", "model", "sgd_mnist", "alice").needs_manual_grade is False
