"""Small helpers shared by the report writers: number formatting and grouping checks by exercise."""
from __future__ import annotations

from autograder.results import (ERROR, FAILED, NOT_EARNED, RULE_NOT_COUNTED, SAME_AS_ABOVE, CheckResult,
                                SubmissionResult)

RULE_CHECK = "rule: "       # the name of an exercise's rule check begins so (checking/rules.py)


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


def cell_name(cell: dict) -> str:
    """A notebook cell as the student finds it in Jupyter ("cell 12", counting every cell from 1)."""
    label = cell.get("label")
    if isinstance(label, str) and label:
        return label
    index = cell.get("index")
    return f"code cell {index + 1}" if isinstance(index, int) else "a cell"


def diagnosis(tests: list[CheckResult]) -> str:
    """What an exercise's summary leads with, once: the broken rule, else the first value check's hint, else
    the first hint of a check that failed (or could not run)."""
    failed = [t for t in tests if t.status in (FAILED, ERROR) and t.output and t.output not in (NOT_EARNED,
                                                                                              RULE_NOT_COUNTED)]
    rule = [t for t in failed if t.name.startswith(RULE_CHECK)]
    return (rule or failed or [CheckResult("", "", 0, 0, "", "")])[0].output


def hint_below(t: CheckResult, said: str) -> str:
    """A failed check's hint under the exercise's diagnosis: a word when it is the diagnosis again."""
    if t.status not in (FAILED, ERROR):
        return ""
    return SAME_AS_ABOVE if said and t.output == said else t.output
