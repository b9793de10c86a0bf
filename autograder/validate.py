"""The instructor's gate (`autograder validate`): is the kit fit to hand out?

1. release/ is in sync with source/ (what `autograder release` would write);
2. every exercise the hidden checks grade has its cell in the release (an nbgrader `grade_id` equal to its name);
3. the source notebooks, solutions in place, score full marks;
4. the release notebooks, stubs in place, score zero (a check that passes on a stub grades nothing);
5. no check broke on the way (a check's own exception is printed with its traceback).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autograder.coursedir import Bundle
from autograder.results import SubmissionResult


def _sync_problems(bundle: Bundle) -> list[str]:
    from autograder.release import check_release_in_sync
    try:
        problems = check_release_in_sync(assignment=bundle.name, course_root=bundle.course.root)
    except Exception as exc:  # noqa: BLE001 - any failure here is a finding, reported in one line
        return [f"{type(exc).__name__}: {exc}"]
    if problems is None or problems is True:
        return []
    if problems is False:
        return ["release/ differs from what `autograder release` generates"]
    return [str(p) for p in problems]


def _not_full(r: SubmissionResult) -> list[str]:
    if not r.graded:
        return [f"could not be graded: {r.status}: {r.message}"]
    out = [f"{t.exercise}: {t.name} {t.status} ({t.score}/{t.max_score}): {t.output}"
           for t in r.tests if t.score < t.max_score]
    if r.max_score <= 0:
        out.append("no points to score: are the hidden checks there?")
    return out


def _not_zero(r: SubmissionResult) -> list[str]:
    if not r.graded:
        return [f"could not be graded: {r.status}: {r.message}"]
    return [f"{t.exercise}: {t.name} gives {t.score} points to the stub" for t in r.tests if t.score > 0]


def validate(*, bundle: Bundle, report: Callable[[str], None] = print) -> bool:
    """Run the gates, `report` one line per finding; True when the assignment is fit to hand out."""
    from autograder.grader import grade_notebooks
    from autograder.report.gradebook import find_exercise_cells

    source, release = bundle.notebooks(bundle.source), bundle.notebooks(bundle.release)
    gates: dict[str, list[str]] = {"release in sync with source": _sync_problems(bundle)}
    if not source or not release:
        gates["notebooks present"] = [f"no notebooks in {bundle.source if not source else bundle.release}"]
    else:
        solved = grade_notebooks(notebooks=source, student_id="source-solutions", bundle=bundle)
        stubs = grade_notebooks(notebooks=release, student_id="release-stubs", bundle=bundle)
        placed = find_exercise_cells(bundle.course.root, bundle.name, list(solved.exercise_max))
        gates["every exercise has its cell in release/"] = [
            f"{ex}: no release cell with nbgrader grade_id {ex!r}" for ex in solved.exercise_max if ex not in placed]
        gates[f"source solutions score full marks ({solved.score:g}/{solved.max_score:g})"] = _not_full(solved)
        gates[f"release stubs score zero ({stubs.score:g}/{stubs.max_score:g})"] = _not_zero(stubs)
        gates["every check runs (no exception in a check or a reference)"] = sorted(
            set(solved.problems) | set(stubs.problems))
    for gate, problems in gates.items():
        report(f"{'ok  ' if not problems else 'FAIL'}  {gate}")
        for p in problems:
            for line in str(p).rstrip().splitlines():
                report(f"        {line}")
    ok = not any(gates.values())
    report(f"{bundle.name}: {'ready to hand out' if ok else 'NOT ready: fix the FAIL lines above'}")
    return ok
