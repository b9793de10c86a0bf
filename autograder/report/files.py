"""The class-level and per-student files of CONTRACT §2: grades.csv, results.json, feedback.html/.md."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.results import SubmissionResult, atomic_write_text

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


def grades_csv_text(results: list[SubmissionResult]) -> str:
    """CONTRACT §2's grades.csv: student_id, one column per exercise, total, max_total, status."""
    exercises = exercise_columns(results)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student_id", *exercises, "total", "max_total", "status"])
    for r in sorted(results, key=lambda r: r.student_id):
        scores = r.exercise_scores()
        max_total = sum(r.exercise_max.values()) if r.exercise_max else 0.0
        writer.writerow([r.student_id, *(num(scores.get(e, 0.0)) for e in exercises),
                         num(r.score), num(max_total), r.status])
    return buf.getvalue()


def write_grades_csv(results: list[SubmissionResult], *, path: Path) -> None:
    """Write grades.csv atomically; the same results always give the same bytes."""
    atomic_write_text(Path(path), grades_csv_text(results))
