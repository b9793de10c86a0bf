"""nbgrader's gradebook and feedback folders, written by a helper process alongside the grading.

Importing nbgrader and creating a gradebook take seconds (nbgrader imports its server extensions; a new
gradebook asks alembic for its schema version in a subprocess), and nbgrader's ORM takes tens of
milliseconds per student. `Sink` runs `python -m autograder.report.nbgrader_sink`, which pays the start-up
while the first submissions are graded and then records each result as it arrives (one JSON line each on
its stdin), committing the whole class in one transaction at the end.
"""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

from autograder.results import SubmissionResult


class Sink:
    def __init__(self, *, course_root: Path, assignment: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.report.nbgrader_sink", str(course_root),
                                     assignment], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        self.problem = ""

    def begin(self, exercise_max: dict[str, float]) -> None:
        """The assignment's exercises and maxima: the grade cells. Before any `send`."""
        self._write({"exercise_max": exercise_max})

    def _write(self, obj) -> None:
        if self.problem:
            return
        try:
            self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self.problem = f"the gradebook writer stopped ({exc})"

    def send(self, result: SubmissionResult) -> None:
        self._write(result.to_gradescope())

    def finish(self) -> str:
        """Wait for the writer; '' when all went well, else what went wrong."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return "nbgrader's gradebook took longer than 10 minutes to write"
        err = self.proc.stderr.read().decode(errors="replace").strip().splitlines()
        if self.proc.returncode != 0:
            return (err[-1] if err else f"the gradebook writer exited with status {self.proc.returncode}")
        return self.problem


def main(course_root: str, assignment: str) -> None:
    from autograder.coursedir import CourseDir
    from autograder.report.gradebook import GradebookWriter, _alembic_on_path, write_nbgrader_feedback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook
        db = CourseDir(Path(course_root)).gradebook().resolve()
        with _alembic_on_path(), Gradebook(f"sqlite:///{db}"):   # create it now, while grading runs
            pass
    writer = None
    for line in sys.stdin.buffer:
        obj = json.loads(line)
        if writer is None:
            writer = GradebookWriter(course_root=Path(course_root), assignment=assignment,
                                     exercise_max=obj["exercise_max"])
            continue
        result = SubmissionResult.from_gradescope(obj)
        writer.add(result)
        write_nbgrader_feedback(result, course_root=Path(course_root), assignment=assignment)
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
