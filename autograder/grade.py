"""Grading a whole class: find the submissions, grade each in its own jail (in parallel), write the files.

Resumable: each student's results.json is written (atomically) as soon as that student is graded; a later
run reuses every result whose notebooks have not changed since (same SHA-256), unless `force`.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

from autograder import coursedir
from autograder.notebook import content_hash
from autograder.results import INTERNAL_ERROR, MISSING, SubmissionResult, VersionMismatch
from autograder.runner import GradeOptions, exercise_max, grade_notebooks, grader_for



def discover(submissions: Path, assignment: str) -> dict[str, list[Path]]:
    """student id -> notebooks. nbgrader's `<dir>/<student>/<assignment>/*.ipynb`; also `<dir>/<student>/*.ipynb`
    and a flat folder of `<student>.ipynb`. A student folder holding no notebook maps to []."""
    found: dict[str, list[Path]] = {}
    for entry in sorted(Path(submissions).iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            found[entry.stem] = [entry]
        elif entry.is_dir():
            inner = entry / assignment
            folder = inner if inner.is_dir() else entry
            found[entry.name] = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    return found


def _previous(out: Path, student_id: str, notebooks: list[Path]) -> SubmissionResult | None:
    from autograder.report.paths import student_dir
    path = student_dir(out, student_id) / "results.json"
    if not path.is_file():
        return None
    try:
        old = SubmissionResult.read_json(path)
    except (VersionMismatch, ValueError, KeyError, TypeError, OSError):
        return None
    if old.student_id != student_id or old.status == INTERNAL_ERROR or old.notebook_sha256 != content_hash(notebooks):
        return None
    return old


def _grade_one(student_id: str, notebooks: list[Path], assignment: str, options: GradeOptions) -> SubmissionResult:
    if not notebooks:
        return SubmissionResult.from_error(student_id=student_id, assignment=assignment, status=MISSING,
                                           message="no notebook found in this submission",
                                           exercise_max=exercise_max(assignment, options.exercises),
                                           notebook_sha256=content_hash([]))
    return grade_notebooks(notebooks=notebooks, student_id=student_id, assignment=assignment, options=options)


def grade_class(*, assignment: str, submissions: Path, out: Path, jobs: int | None = None, force: bool = False,
                course_root: Path = Path("."), progress: bool = False,
                options: GradeOptions | None = None) -> list[SubmissionResult]:
    """Grade every submission under `submissions`, write CONTRACT §2's files under `out`, return the results."""
    from autograder import report
    options = replace(options or GradeOptions(), course_root=Path(course_root))
    out = Path(out)
    students = discover(Path(submissions), assignment)
    jobs = max(1, jobs or os.cpu_count() or 1)
    results: dict[str, SubmissionResult] = {}
    todo = []
    for sid, notebooks in students.items():
        old = None if force else _previous(out, sid, notebooks)
        if old is not None:
            results[sid] = old
        else:
            todo.append((sid, notebooks))
    say = _Progress(len(students), len(results), enabled=progress)

    def done(result: SubmissionResult) -> None:
        report.write_student_files(result, out=out)
        results[result.student_id] = result
        if sink is not None:
            sink.send(result)
        say.one(result)

    sink = None  # nbgrader's gradebook writer: it imports nbgrader while the grader starts up
    if coursedir.CourseDir(Path(course_root)).source(assignment).is_dir():  # inside an nbgrader course
        from autograder.report.nbgrader_sink import Sink
        sink = Sink(course_root=Path(course_root), assignment=assignment)
    if todo:
        grader_for(assignment)  # here, once: forked workers inherit it (imports, checks, the zygote)
    if sink is not None:
        sink.begin(exercise_max(assignment, options.exercises))
        for old in results.values():
            sink.send(old)
    if jobs == 1 or len(todo) <= 1:
        for sid, notebooks in todo:
            done(_grade_one(sid, notebooks, assignment, options))
    else:
        _grade_parallel(todo, assignment, options, jobs, done)
    ordered = [results[sid] for sid in sorted(results)]
    report.write_grades_csv(ordered, path=out / coursedir.GRADES_CSV)
    if sink is not None:
        problem = sink.finish()
        if problem:  # the grades are written already; say what failed
            print(f"warning: nbgrader gradebook/feedback not updated: {problem}", file=sys.stderr)
    say.finish(out)
    return ordered


def _grade_parallel(todo, assignment, options, jobs, done) -> None:
    pending = {sid: nbs for sid, nbs in todo}
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            futures = {pool.submit(_grade_one, sid, nbs, assignment, options): sid for sid, nbs in todo}
            for fut in as_completed(futures):
                sid = futures[fut]
                done(fut.result())
                pending.pop(sid, None)
    except BrokenProcessPool as exc:
        for sid in sorted(pending):
            done(SubmissionResult.from_error(student_id=sid, assignment=assignment, status=INTERNAL_ERROR,
                                             message=f"a grading worker died: {exc}",
                                             exercise_max=exercise_max(assignment, options.exercises)))


class _Progress:
    def __init__(self, total: int, reused: int, *, enabled: bool):
        self.total, self.count, self.enabled, self.start = total, reused, enabled, time.monotonic()
        if enabled and reused:
            print(f"reusing {reused} up-to-date result(s) (--force re-grades them)", file=sys.stderr)

    def one(self, r: SubmissionResult) -> None:
        self.count += 1
        if self.enabled:
            print(f"[{self.count}/{self.total}] {r.student_id!r}: {r.status} {r.score:g}/{r.max_score:g} "
                  f"({r.seconds:.2f} s, at {time.monotonic() - self.start:.2f} s)", file=sys.stderr, flush=True)

    def finish(self, out: Path) -> None:
        if self.enabled:
            print(f"done in {time.monotonic() - self.start:.1f} s; results in {out}", file=sys.stderr)
