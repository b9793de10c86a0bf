"""nbgrader's gradebook and feedback folders, written by a helper process that warms up while grading runs.

Importing nbgrader and creating a gradebook take seconds (nbgrader imports its server extensions; a new
gradebook asks alembic for its schema version in a subprocess). `start()` launches
`python -m autograder.report.nbgrader_sink` at the beginning of `autograder grade`; it pays those costs
while the submissions are graded, then receives the results on stdin and writes them in one transaction.
"""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

from autograder.results import SubmissionResult


def start(*, course_root: Path, assignment: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder.report.nbgrader_sink", str(course_root), assignment],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, results: list[SubmissionResult]) -> str:
    """Hand the results over and wait; '' when all went well, else what went wrong."""
    payload = json.dumps([r.to_gradescope() for r in results]).encode()
    try:
        _, err = proc.communicate(payload, timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        return "nbgrader's gradebook took longer than 10 minutes to write"
    return "" if proc.returncode == 0 else err.decode(errors="replace").strip().splitlines()[-1:][0]


def main(course_root: str, assignment: str) -> None:
    from autograder.report.gradebook import (_alembic_on_path, write_nbgrader_feedback,
                                             write_nbgrader_gradebook)
    from autograder.coursedir import CourseDir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook
        db = CourseDir(Path(course_root)).gradebook().resolve()
        with _alembic_on_path(), Gradebook(f"sqlite:///{db}"):   # creates it now, while grading runs
            pass
    results = [SubmissionResult.from_gradescope(r) for r in json.loads(sys.stdin.buffer.read() or b"[]")]
    write_nbgrader_gradebook(results, course_root=Path(course_root), assignment=assignment)
    for r in results:
        write_nbgrader_feedback(r, course_root=Path(course_root), assignment=assignment)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
