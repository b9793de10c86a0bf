"""`autograder validate`: the instructor's gate."""
from __future__ import annotations

import pytest

from autograder import validate as validate_mod
from autograder.coursedir import PACKAGE_DIR
from autograder.results import CheckResult, SubmissionResult

KIT_ROOT = PACKAGE_DIR.parent


def fake_grader(solution_score: float, stub_score: float):
    def grade_notebooks(*, notebooks, student_id, assignment, options=None):
        score = solution_score if student_id == "source-solutions" else stub_score
        return SubmissionResult(student_id=student_id, assignment=assignment, exercise_max={"softmax": 2.0},
                                tests=[CheckResult("test_rows[cpu]", "softmax", score, 2.0,
                                                   "passed" if score == 2.0 else "failed", "hint")])
    return grade_notebooks


@pytest.mark.parametrize("solution, stub, sync, ok", [
    (2.0, 0.0, [], True),
    (1.0, 0.0, [], False),            # a solution loses points: a check or a solution is wrong
    (2.0, 0.5, [], False),            # a stub earns points: a check grades nothing
    (2.0, 0.0, ["release/x differs"], False),
])
def test_gate_logic(monkeypatch, solution, stub, sync, ok):
    import autograder.release
    import autograder.runner
    monkeypatch.setattr(autograder.runner, "grade_notebooks", fake_grader(solution, stub))
    monkeypatch.setattr(autograder.release, "check_release_in_sync", lambda **kw: sync)
    lines: list[str] = []
    assert validate_mod.validate(assignment="sgd_mnist", course_root=KIT_ROOT, report=lines.append) is ok
    assert ("FAIL" in "\n".join(lines)) is (not ok)


@pytest.mark.slow
def test_the_kit_itself_passes_its_gate():
    lines: list[str] = []
    assert validate_mod.validate(assignment="sgd_mnist", course_root=KIT_ROOT, report=lines.append), "\n".join(lines)
