"""The instructor's gate (`autograder validate`): is the kit fit to hand out?

1. release/ is in sync with source/ (what `autograder release` would write);
2. every exercise the hidden checks grade has its cell in the release (an nbgrader `grade_id` equal to its name);
3. the source notebooks, solutions in place, score full marks;
4. the release notebooks, stubs in place, score zero (a check that passes on a stub grades nothing).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autograder.coursedir import CourseDir
from autograder.results import GRADED, SubmissionResult


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def _sync_problems(assignment: str, course_root: Path) -> list[str]:
    from autograder.release import check_release_in_sync
    try:
        problems = check_release_in_sync(assignment=assignment, course_root=course_root)
    except Exception as exc:  # noqa: BLE001 - any failure here is a finding, reported in one line
        return [f"{type(exc).__name__}: {exc}"]
    if problems is None or problems is True:
        return []
    if problems is False:
        return ["release/ differs from what `autograder release` generates"]
    return [str(p) for p in problems]


def _not_full(r: SubmissionResult) -> list[str]:
    if r.status != GRADED:
        return [f"could not be graded: {r.status}: {r.message}"]
    out = [f"{t.exercise}: {t.name} {t.status} ({t.score}/{t.max_score}): {t.output}"
           for t in r.tests if t.score < t.max_score]
    if r.max_score <= 0:
        out.append("no points to score: are the hidden checks there?")
    return out


def _not_zero(r: SubmissionResult) -> list[str]:
    if r.status != GRADED:
        return [f"could not be graded: {r.status}: {r.message}"]
    return [f"{t.exercise}: {t.name} gives {t.score} points to the stub" for t in r.tests if t.score > 0]


def validate(*, assignment: str, course_root: Path, report: Callable[[str], None] = print) -> bool:
    """Run the four gates, `report` one line per finding; True when the kit is fit to hand out."""
    from autograder.report.gradebook import find_exercise_cells
    from autograder.runner import GradeOptions, grade_notebooks

    course = CourseDir(Path(course_root))
    source, release = _notebooks(course.source(assignment)), _notebooks(course.release(assignment))
    gates: dict[str, list[str]] = {"release in sync with source": _sync_problems(assignment, Path(course_root))}
    if not source or not release:
        gates["notebooks present"] = [f"no notebooks in {course.source(assignment) if not source else course.release(assignment)}"]
    else:
        options = GradeOptions(course_root=Path(course_root))
        solved = grade_notebooks(notebooks=source, student_id="source-solutions", assignment=assignment,
                                 options=options)
        stubs = grade_notebooks(notebooks=release, student_id="release-stubs", assignment=assignment,
                                options=options)
        placed = find_exercise_cells(Path(course_root), assignment, list(solved.exercise_max))
        gates["every exercise has its cell in release/"] = [
            f"{ex}: no release cell with nbgrader grade_id {ex!r}" for ex in solved.exercise_max if ex not in placed]
        gates[f"source solutions score full marks ({solved.score}/{solved.max_score})"] = _not_full(solved)
        gates[f"release stubs score zero ({stubs.score}/{stubs.max_score})"] = _not_zero(stubs)
    for gate, problems in gates.items():
        report(f"{'ok  ' if not problems else 'FAIL'}  {gate}")
        for p in problems:
            report(f"        {p}")
    ok = not any(gates.values())
    report(f"{assignment}: {'ready to hand out' if ok else 'NOT ready: fix the FAIL lines above'}")
    return ok
