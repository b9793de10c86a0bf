"""A self-learner's check: the instructor's grading, on one's own notebook(s)."""
from __future__ import annotations

from pathlib import Path

from autograder.results import SubmissionResult
from autograder.runner import GradeOptions, grade_notebooks


def check_notebooks(*, paths: list[Path], assignment: str, student_id: str = "self",
                    options: GradeOptions | None = None) -> list[SubmissionResult]:
    """Grade the given notebooks as one submission (the notebooks of one assignment)."""
    return [grade_notebooks(notebooks=[Path(p) for p in paths], student_id=student_id, assignment=assignment,
                            options=options or GradeOptions())]
