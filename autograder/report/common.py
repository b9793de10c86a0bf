"""Small helpers shared by the report writers: number formatting and grouping checks by exercise."""
from __future__ import annotations

from autograder.results import CheckResult, SubmissionResult


QUIET_CELL_STATUSES = ("ok", "skipped", "not_needed")  # cells that ran fine or were not run at all


def num(x: float) -> str:
    """Points as people write them, and always the same bytes for the same value: 2, 1.5, 0.3333."""
    x = round(float(x), 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    return str(int(x)) if x == int(x) else f"{x:.4f}".rstrip("0")


def by_exercise(result: SubmissionResult) -> dict[str, tuple[float, float, list[CheckResult]]]:
    """exercise -> (points, max points, its checks), exercises in `exercise_max` order, then any others."""
    scores = result.exercise_scores()
    names = list(result.exercise_max) + [t.exercise for t in result.tests if t.exercise not in result.exercise_max]
    rows: dict[str, tuple[float, float, list[CheckResult]]] = {}
    for name in dict.fromkeys(names):
        tests = [t for t in result.tests if t.exercise == name]
        max_score = result.exercise_max.get(name, sum(t.max_score for t in tests))
        rows[name] = (scores.get(name, 0.0), max_score, tests)
    return rows


def cell_errors(result: SubmissionResult) -> list[dict]:
    """The notebook cells that did not run cleanly (the student's own errors, safe to show them)."""
    return [c for c in result.cells if c.get("status", "ok") not in QUIET_CELL_STATUSES]
