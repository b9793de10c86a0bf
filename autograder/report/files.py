"""The class-level and per-student files of docs/contract.md §2: grades.csv, results.json, feedback.html/.md.

grades.csv is opened in spreadsheets: no cell may start a formula (OWASP's CSV-injection advice: a cell that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`), ids and exercise names alike.
The numbers written are never negative (`common.num` of points), so they are never changed by that rule.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.results import SubmissionResult, atomic_write_text
from autograder.safetext import clean

from .common import num
from .html import render_html
from .paths import student_dir
from .text import render_markdown

RESULTS_JSON = "results.json"
FEEDBACK_HTML = "feedback.html"
FEEDBACK_MD = "feedback.md"


def write_student_files(result: SubmissionResult, *, out: Path) -> Path:
    """Write `<out>/<student folder>/{results.json, feedback.html, feedback.md}`; return the folder.

    The folder name is `paths.safe_folder_name(result.student_id)`: the id itself when it is a plain name.
    """
    folder = student_dir(Path(out), result.student_id)
    result.write_json(folder / RESULTS_JSON)
    atomic_write_text(folder / FEEDBACK_HTML, render_html(result))
    atomic_write_text(folder / FEEDBACK_MD, render_markdown(result))
    return folder


def exercise_columns(results: list[SubmissionResult]) -> list[str]:
    """Every exercise, in `exercise_max` order (the first result that knows it decides), deterministic."""
    names: dict[str, None] = {}
    for r in sorted(results, key=lambda r: (-len(r.exercise_max), r.student_id)):
        names.update(dict.fromkeys(r.exercise_max))
        names.update(dict.fromkeys(t.exercise for t in r.tests))
    return list(names)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ID_LIMIT = 1024   # characters of an id or name in a cell (file names are at most 255 bytes)


def csv_cell(value: object) -> str:
    """One grades.csv cell: safe text (`safetext.clean`) that no spreadsheet reads as a formula."""
    text = clean(value, ID_LIMIT)
    return "'" + text if text.startswith(FORMULA_START) else text


def grades_csv_text(results: list[SubmissionResult]) -> str:
    """docs/contract.md §2's grades.csv: student_id, one column per exercise, total, max_total, status."""
    exercises = exercise_columns(results)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in ("student_id", *exercises, "total", "max_total", "status")])
    for r in sorted(results, key=lambda r: r.student_id):
        scores = r.exercise_scores()
        max_total = sum(r.exercise_max.values()) if r.exercise_max else 0.0
        writer.writerow([csv_cell(c) for c in (r.student_id, *(num(scores.get(e, 0.0)) for e in exercises),
                                               num(r.score), num(max_total), r.status)])
    return buf.getvalue()


def write_grades_csv(results: list[SubmissionResult], *, path: Path) -> None:
    """Write grades.csv atomically; the same results always give the same bytes."""
    atomic_write_text(Path(path), grades_csv_text(results))
