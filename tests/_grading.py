"""Helpers for the tests that grade notebooks through the real engine (`autograder.grader.grade_notebooks`)."""
from __future__ import annotations

from pathlib import Path

from autograder.config import GradeOptions
from autograder.coursedir import CourseDir
from autograder.grader import grade_notebooks

REPO = Path(__file__).resolve().parents[1]
COURSE = CourseDir(REPO)
ASSIGNMENT = "sgd_mnist"
BUNDLE = COURSE.bundle(ASSIGNMENT)


def grade(notebook: Path, student_id: str, *, bundle=BUNDLE, options: GradeOptions = GradeOptions()):
    """Grade one notebook as `student_id` (the id seeds the checks' inputs)."""
    result = grade_notebooks(notebooks=[notebook], student_id=student_id, bundle=bundle, options=options)
    assert result.status == "graded", f"{notebook.name} was not graded: {result.status} {result.message} {result.problems}"
    return result


def hints(result, exercise: str) -> list[str]:
    return [t.output for t in result.tests if t.exercise == exercise and t.status != "passed"]


def short_of_full(result) -> dict[str, tuple[float, float]]:
    """{exercise: (score, max)} for every exercise below full marks."""
    scores = result.exercise_scores()
    return {e: (scores.get(e, 0.0), m) for e, m in result.exercise_max.items() if scores.get(e, 0.0) < m - 1e-9}
