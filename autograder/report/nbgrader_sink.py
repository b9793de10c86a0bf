"""nbgrader's gradebook and feedback folders, written by a helper process alongside the grading.

Importing nbgrader takes about a second (it imports its server extensions); recording a student then takes
a few milliseconds (see `GradebookWriter.add`). `Sink` runs `python -m autograder.report.nbgrader_sink`, which pays the start-up
while the grader starts (at a lower priority: the grader and its zygote come first) and then records each
result as it arrives (one JSON line each on its stdin), committing the whole class at the end.
"""
from __future__ import annotations

import json
import os
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
    os.nice(5)
    # jsonschema (imported by nbformat, by nbgrader) imports this optional URI-grammar checker if present,
    # which builds a parser at import time (~1 s); nothing here validates URIs
    sys.modules.setdefault("rfc3987_syntax", None)
    from autograder.coursedir import CourseDir
    from autograder.report.gradebook import GradebookWriter, _alembic_in_process, write_nbgrader_feedback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook
        db = CourseDir(Path(course_root)).gradebook().resolve()
        with _alembic_in_process(), Gradebook(f"sqlite:///{db}"):   # create it now, while grading runs
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
    sys.stderr.flush()
    os._exit(0)  # the gradebook is committed and closed: skip tearing down nbgrader's imports (~0.5 s)
