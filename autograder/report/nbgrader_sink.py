"""nbgrader's gradebook and feedback folders, written by a helper process alongside the grading.

Importing nbgrader takes about a second (it imports its server extensions); recording a student then takes
a few milliseconds (see `GradebookWriter.add`). `Sink` runs `python -m autograder.report.nbgrader_sink`, which pays the start-up
while the grader starts (at a lower priority: the grader and its zygote come first) and then records each
result as it arrives (one JSON line each on its stdin), committing the whole class at the end.

Its failure is loud: every problem (a student's gradebook row or feedback folder that could not be written,
a crash of the writer) is one `problem: ...` line on its stderr and a non-zero exit, and `Sink.finish()`
returns them (the caller makes the run fail). One student's feedback that cannot be written costs that
student's feedback only; a gradebook row that cannot be recorded leaves the gradebook as it was (nothing
is committed), while every other student's feedback is still written. Text from a submission cannot make
either fail: the writers clean every text (`safetext.clean`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
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
        """Wait for the writer; '' when all went well, else what went wrong (every problem, one per line)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.stdin = None   # closed: communicate() only reads
        try:
            _, err = self.proc.communicate(timeout=600)   # reads stderr while waiting: it cannot fill up
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return "nbgrader's gradebook writer took longer than 10 minutes and was stopped; gradebook.db not updated"
        lines = err.decode("utf-8", "replace").strip().splitlines()
        problems = [line[len(PROBLEM):] for line in lines if line.startswith(PROBLEM)]
        if self.proc.returncode != 0:
            if not problems:
                problems = [f"the gradebook writer exited with status {self.proc.returncode}"
                            + (": " + " | ".join(lines[-5:]) if lines else "")]
            return "\n".join(([self.problem] if self.problem else []) + problems)
        return "\n".join(([self.problem] if self.problem else []) + problems)


PROBLEM = "problem: "


def _say(problem: str) -> None:
    print(PROBLEM + " ".join(problem.split()), file=sys.stderr, flush=True)


def main(course_root: str, assignment: str) -> int:
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
    failed = 0
    gradebook_broken = False
    for line in sys.stdin.buffer:
        obj = json.loads(line)
        if writer is None:
            writer = GradebookWriter(course_root=Path(course_root), assignment=assignment,
                                     exercise_max=obj["exercise_max"])
            continue
        result = SubmissionResult.from_gradescope(obj)
        who = repr(result.student_id)[:80]
        if not gradebook_broken:
            try:
                writer.add(result)
            except Exception as exc:  # noqa: BLE001 - say it, keep writing the others' feedback
                gradebook_broken = True
                _say(f"gradebook.db left unchanged: recording {who} failed: {_gist(exc)}")
        try:
            write_nbgrader_feedback(result, course_root=Path(course_root), assignment=assignment)
        except Exception as exc:  # noqa: BLE001
            failed += 1
            _say(f"feedback/ of {who} not written: {_gist(exc)}")
    if writer is not None:
        if gradebook_broken:
            writer.abandon()
        else:
            writer.close()
    return 1 if failed or gradebook_broken else 0


def _gist(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1:]
    at = f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{at}"


if __name__ == "__main__":
    try:
        code = main(sys.argv[1], sys.argv[2])
    except BaseException as exc:  # noqa: BLE001 - the writer itself failed: say why, fail
        _say(f"the gradebook writer failed, gradebook.db not updated: {_gist(exc)}")
        code = 1
    sys.stderr.flush()
    os._exit(code)  # the gradebook is committed and closed: skip tearing down nbgrader's imports (~0.5 s)
