"""A self-learner's check: the instructor's grading, on one's own notebook(s)."""
from __future__ import annotations

import os
from pathlib import Path

from autograder.results import SubmissionResult
from autograder.runner import GradeOptions


def check_notebooks(*, paths: list[Path], assignment: str, student_id: str = "self",
                    options: GradeOptions | None = None, use_server: bool | None = None) -> list[SubmissionResult]:
    """Grade the given notebooks as one submission (the notebooks of one assignment).

    By default through the warm check server (see server.py); `use_server=False`, or the environment
    variable AUTOGRADER_NO_SERVER=1, grades in this process."""
    options = options or GradeOptions()
    paths = [Path(p) for p in paths]
    if use_server is None:
        use_server = os.environ.get("AUTOGRADER_NO_SERVER", "") in ("", "0")
    if use_server and options == GradeOptions(course_root=options.course_root, exercises=options.exercises):
        from autograder.server import grade_via_server
        result = grade_via_server(notebooks=paths, student_id=student_id, assignment=assignment,
                                  course_root=options.course_root, exercises=options.exercises)
        if result is not None:
            return [result]
    from autograder.runner import grade_notebooks
    return [grade_notebooks(notebooks=paths, student_id=student_id, assignment=assignment, options=options)]
