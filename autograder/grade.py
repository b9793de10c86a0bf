"""Grading a whole class: find the submissions, grade each in its own jail (in parallel), write the files.

The grader (and with it the zygote every jail is forked from) starts before anything of the class is read.
Every submission gets a result row whatever happens to it: an exception while handling it becomes its row, and
a grading worker that dies re-queues the submissions it had not finished (each suspect is retried alone, so
one poisonous submission costs only itself).

Resumable: each student's results.json is written (atomically) as soon as that student is graded; a later run
reuses a result only while its notebooks (SHA-256) and the bundle's key (checks, references, public files, the
kit's code) are unchanged, unless `force`.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from autograder.config import GradeOptions
from autograder.coursedir import GRADES_CSV, Bundle
from autograder.notebook import content_hash, find_submissions
from autograder.results import CRASHED, INTERNAL_ERROR, MISSING, SubmissionResult, VersionMismatch

_WORKER = None   # the grader a forked worker inherits (set before the pool forks)
_ROOT = None     # the submissions folder being graded


@dataclass
class ClassRun:
    """What `grade_class` did: every result (by student id order) and what went wrong beside them."""
    results: list[SubmissionResult]
    gradebook_problem: str = ""     # nbgrader's gradebook/feedback could not be written: why


def _previous(out: Path, student_id: str, notebooks: list[Path], key: str, root: Path) -> SubmissionResult | None:
    from autograder.report.paths import student_dir
    path = student_dir(out, student_id) / "results.json"
    if not path.is_file():
        return None
    try:
        old = SubmissionResult.read_json(path)
    except (VersionMismatch, ValueError, KeyError, TypeError, OSError):
        return None
    if (old.student_id != student_id or old.status == INTERNAL_ERROR or old.key != key
            or old.notebook_sha256 != content_hash(notebooks, root=root)):
        return None
    return old


def _grade_one(student_id: str, notebooks: list[Path], options: GradeOptions) -> SubmissionResult:
    """One submission's result; any exception while handling it becomes its row."""
    from autograder.grader import grade_notebooks
    grader, root = _WORKER, _ROOT
    try:
        if not notebooks:
            return SubmissionResult.from_error(student_id=student_id, assignment=grader.bundle.name, status=MISSING,
                                               message="no notebook found in this submission",
                                               exercise_max=grader.exercises(options.exercises), key=grader.key,
                                               notebook_sha256=content_hash([]))
        return grade_notebooks(notebooks=notebooks, student_id=student_id, bundle=grader.bundle,
                               options=options, grader=grader, root=root)
    except Exception:  # noqa: BLE001 - the kit's fault on this submission: its own row, the class goes on
        return SubmissionResult.from_error(student_id=student_id, assignment=grader.bundle.name,
                                           status=INTERNAL_ERROR, exercise_max=grader.exercises(options.exercises),
                                           message="the kit failed on this submission: "
                                                   + traceback.format_exc()[-1500:], key=grader.key)


def grade_class(*, bundle: Bundle, submissions: Path, out: Path, jobs: int | None = None, force: bool = False,
                gradebook: bool = False, progress: bool = False,
                options: GradeOptions | None = None) -> ClassRun:
    """Grade every submission under `submissions` with `bundle`'s checks, write docs/contract.md §2's files under
    `out` and, with `gradebook`, nbgrader's gradebook.db and feedback/ of the bundle's course."""
    global _WORKER, _ROOT
    from autograder import report
    from autograder.grader import grader_for
    options = options or GradeOptions()
    out = Path(out)
    sink = None   # nbgrader's gradebook writer: it imports nbgrader while the grader starts up
    if gradebook:
        from autograder.report.nbgrader_sink import Sink
        sink = Sink(course_root=bundle.course.root, assignment=bundle.name)
    _WORKER = grader = grader_for(bundle, isolation=options.isolation)   # first: before the class is read
    _ROOT = Path(submissions).resolve()
    students = find_submissions(_ROOT, bundle.name)
    jobs = max(1, jobs or os.cpu_count() or 1)
    results: dict[str, SubmissionResult] = {}
    todo = []
    for sid, notebooks in students.items():
        old = None if force else _previous(out, sid, notebooks, grader.key, _ROOT)
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

    if sink is not None:
        sink.begin(grader.exercises(options.exercises))
        for old in results.values():
            sink.send(old)
    if jobs == 1 or len(todo) <= 1:
        for sid, notebooks in todo:
            done(_grade_one(sid, notebooks, options))
    else:
        _grade_parallel(todo, options, jobs, done)
    ordered = [results[sid] for sid in sorted(results)]
    report.write_grades_csv(ordered, path=out / GRADES_CSV)
    problem = sink.finish() if sink is not None else ""
    say.finish(out)
    return ClassRun(results=ordered, gradebook_problem=problem)


def _grade_parallel(todo, options, jobs, done) -> None:
    """`jobs` workers forked from this process (they share its grader); at most `jobs` submissions in flight,
    so that when a worker dies the suspects are known: each is retried alone, and only a submission that kills
    its worker again gets a `crashed` row."""
    queue, suspects = list(todo), []
    while queue or suspects:
        if suspects:   # alone, one at a time: whatever dies now is that submission's doing
            sid, notebooks = suspects.pop(0)
            if not _run_pool([(sid, notebooks)], options, 1, done):
                done(SubmissionResult.from_error(
                    student_id=sid, assignment=_WORKER.bundle.name, status=CRASHED, key=_WORKER.key,
                    exercise_max=_WORKER.exercises(options.exercises),
                    message="grading this submission killed its grading process twice (too much memory?)"))
            continue
        unfinished = _run_pool(queue, options, jobs, done, return_unfinished=True)
        if unfinished is True:
            queue = []
        else:
            in_flight, queue = unfinished
            suspects += in_flight


def _run_pool(todo, options, jobs, done, *, return_unfinished: bool = False):
    """Grade `todo` in a pool of `jobs` workers. True when all were graded; else False, or (with
    `return_unfinished`) (the submissions in flight when a worker died, those not started yet)."""
    pending = list(todo)
    running: dict = {}
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            while pending or running:
                while pending and len(running) < jobs:
                    sid, notebooks = pending.pop(0)
                    running[pool.submit(_grade_one, sid, notebooks, options)] = (sid, notebooks)
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    item = running.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        running[fut] = item
                        raise
                    done(result)
    except BrokenProcessPool:
        return (list(running.values()), pending) if return_unfinished else False
    return True


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
