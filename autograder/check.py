"""A self-learner's check: the instructor's grading, on one's own notebook(s).

The same engine, checks, points and hints as `autograder grade`. By default through the warm check server
(server.py): the caller (a terminal, or a student's Jupyter kernel) only sends the work and reads the result,
and never imports the judge, the checks or the references. `in_process=True` grades in the calling process.
"""
from __future__ import annotations

from pathlib import Path

from autograder.config import GradeOptions
from autograder.coursedir import Bundle, locate
from autograder.results import SubmissionResult


def check_notebooks(*, paths: list[Path], assignment: str | None = None, course_root: Path | None = None,
                    exercises: tuple[str, ...] = (), in_process: bool = False, student_id: str = "self",
                    options: GradeOptions | None = None) -> list[SubmissionResult]:
    """Grade the given notebooks as one submission of their assignment (named, or inferred from the notebooks:
    see `coursedir.locate`), only `exercises` when given. Raises coursedir.CourseError when the course or the
    assignment cannot be found."""
    bundle, _how = locate(notebooks=list(paths), assignment=assignment, course_root=course_root)
    return [check_bundle(bundle, paths=paths, exercises=exercises, in_process=in_process, student_id=student_id,
                         options=options)]


def check_bundle(bundle: Bundle, *, paths: list[Path], exercises: tuple[str, ...] = (), in_process: bool = False,
                 student_id: str = "self", options: GradeOptions | None = None) -> SubmissionResult:
    paths = [Path(p).resolve() for p in paths]
    options = options or GradeOptions()
    if exercises:
        from dataclasses import replace
        options = replace(options, exercises=tuple(exercises))
    if in_process:
        from autograder.grader import grade_notebooks
        return grade_notebooks(notebooks=paths, student_id=student_id, bundle=bundle, options=options)
    from autograder.server import grade_elsewhere
    return grade_elsewhere(bundle=bundle, notebooks=paths, student_id=student_id, options=options)
