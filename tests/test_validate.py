"""`autograder validate`: the instructor's gate."""
from __future__ import annotations

import pytest

from autograder import validate as validate_mod
from autograder.results import CheckResult, SubmissionResult
from tests._grading import BUNDLE


def fake_grader(solution_score: float, stub_score: float, problems=()):
    def grade_notebooks(*, notebooks, student_id, bundle, options=None):
        score = solution_score if student_id == "source-solutions" else stub_score
        return SubmissionResult(student_id=student_id, assignment=bundle.name, exercise_max={"softmax": 2.0},
                                problems=list(problems),
                                tests=[CheckResult("test_rows[cpu]", "softmax", score, 2.0,
                                                   "passed" if score == 2.0 else "failed", "hint")])
    return grade_notebooks


@pytest.mark.parametrize("solution, stub, sync, problems, ok", [
    (2.0, 0.0, [], [], True),
    (1.0, 0.0, [], [], False),            # a solution loses points: a check or a solution is wrong
    (2.0, 0.5, [], [], False),            # a stub earns points: a check grades nothing
    (2.0, 0.0, ["release/x differs"], [], False),
    (2.0, 0.0, [], ["test_softmax.py::test_rows: NameError: name 'refernce' is not defined"], False),
])
def test_gate_logic(monkeypatch, solution, stub, sync, problems, ok):
    import autograder.grader
    import autograder.release
    monkeypatch.setattr(autograder.grader, "grade_notebooks", fake_grader(solution, stub, problems))
    monkeypatch.setattr(autograder.release, "check_release_in_sync", lambda **kw: sync)
    lines: list[str] = []
    assert validate_mod.validate(bundle=BUNDLE, report=lines.append) is ok
    assert ("FAIL" in "\n".join(lines)) is (not ok)
    for problem in problems:   # the instructor reads the broken check's traceback
        assert any(problem in line for line in lines)


@pytest.mark.slow
def test_the_kit_itself_passes_its_gate():
    lines: list[str] = []
    assert validate_mod.validate(bundle=BUNDLE, report=lines.append), "\n".join(lines)
