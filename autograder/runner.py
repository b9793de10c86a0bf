"""Grading one submission: read its notebooks here, judge them in a child process, return a result.

    grader process (torch, pytest, the checks and solutions imported once; `grade --jobs N` forks N workers
    │               from it, which share all of that and the zygote)
      ├─ zygote (torch imported, no torch op, never the checks): forked before the checks are imported, or
      │    a fresh `python -m autograder.jail.zygote` when this process already holds them (e.g. in tests)
      │    └─ session per judge ─ jail(s): the student's code behind the walls
      └─ judge (forked once, kept while it behaves: runs the checks, asks each submission's jail questions,
                compares; one zygote session, so the jails are its grandchildren through the zygote)

The grader pays `import torch`, the checks' imports and torch's lazy imports once; a submission then costs
a jail (forked from the zygote), the notebook's definitions and the checks themselves. Whatever happens below, the caller gets a
`SubmissionResult` back.
"""
from __future__ import annotations

import importlib.util
import json
import os
import pickle
import select
import signal
import struct
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from autograder import coursedir
from autograder.notebook import InvalidNotebook, Submission, content_hash, read_submission
from autograder.runner_warm import warm_judge, warm_torch
from autograder.results import (CRASHED, GRADED, INTERNAL_ERROR, INVALID_NOTEBOOK, TIMEOUT, CheckResult,
                                SubmissionResult)


@dataclass(frozen=True)
class GradeOptions:
    """Knobs of one grading run. Every default lives here."""
    cell_timeout: float = 30.0           # seconds per notebook cell
    submission_timeout: float = 600.0    # seconds for the whole judge of one submission
    exercises: tuple[str, ...] = ()      # grade only these (all when empty)
    course_root: Path = Path(".")
    select_cells: bool = True            # run only the cells grading needs (see selection.py)
    fast_checks: bool = True             # run the collected checks directly (judge/fastrun.py), not via pytest


def hidden_paths(course_root: Path) -> list[str]:
    """Folders the jail must never see: the course (sources, other submissions, gradebook), the kit itself
    (checks) and the reference solutions, wherever they are installed."""
    paths = [Path(course_root).resolve(), coursedir.PACKAGE_DIR]
    spec = importlib.util.find_spec("solutions")
    if spec and spec.submodule_search_locations:
        paths += [Path(p) for p in spec.submodule_search_locations]
    return [str(p) for p in paths]


def public_files(assignment: str, course_root: Path, notebooks: list[Path] = ()) -> dict[str, str]:
    """Python files released with the assignment (e.g. its data loader), copied into the jail's folder, as
    they sit next to the notebook in Jupyter. From release/ when grading in the course directory, else from
    beside the notebook (a self-learner's copy). Never more than 1 MiB each."""
    folder = coursedir.CourseDir(Path(course_root)).release(assignment)
    if not folder.is_dir() and notebooks:
        folder = Path(notebooks[0]).resolve().parent
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text(errors="replace") for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix == ".py" and p.stat().st_size <= 1 << 20}


# ---------------------------------------------------------------- the judge process
class JudgeProcess:
    """A forked judge that grades one submission after another for the process that started it.

    The judge runs the checks and talks to the jails; it never runs student code, but it does handle what
    jails send back, so it lives in its own process: whatever goes wrong there costs one submission, never the
    worker. Forking a fresh judge per submission would cost ~40 ms each (copying the grader's page tables,
    then copy-on-write faults as the judge warms up again), so one is kept for as long as it behaves and
    replaced after a timeout (it is killed, with its jails) or a crash. Its jails come from one zygote session,
    opened once."""

    def __init__(self, grader: "Grader"):
        self.grader = grader
        self.pid = 0
        self.owner = os.getpid()

    def _start(self) -> None:
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(job_w)
                os.close(out_r)
                os.setsid()
                from autograder.jail.spawn import _close_other_fds, die_with_parent
                die_with_parent()
                # nothing of the worker's stays open here (e.g. the gradebook writer's stdin, which must see EOF)
                _close_other_fds({job_r, out_w, self.grader.zygote.ctl.fileno()})
                self.grader._serve_judge(job_r, out_w)
            finally:
                os._exit(0)
        os.close(job_r)
        os.close(out_w)
        self.pid, self.job_w, self.out_r, self.buf = pid, job_w, out_r, b""

    def stop(self) -> None:
        if self.pid and self.owner == os.getpid():
            _kill_tree(self.pid)
            for fd in (self.job_w, self.out_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pid = 0

    def _send_job(self, job: bytes) -> bool:
        try:
            os.write(self.job_w, struct.pack("<Q", len(job)))
            view = memoryview(job)
            while view:
                view = view[os.write(self.job_w, view):]
            return True
        except OSError:          # it died between two submissions
            self.stop()
            return False

    def grade(self, sub: Submission, *, student_id: str, options: GradeOptions) -> dict:
        """The judge's JSON-able result, or {"__error__": status, "message"}."""
        if self.owner != os.getpid():   # inherited through a fork: that judge belongs to the parent
            self.pid, self.owner = 0, os.getpid()
        job = pickle.dumps((sub, student_id, options))
        if not (self.pid and self._send_job(job)):
            self._start()
            if not self._send_job(job):
                return {"__error__": INTERNAL_ERROR, "message": "the judge process could not be started"}
        notes, deadline = [], time.monotonic() + options.submission_timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                msg = json.loads(line)
                if "note" in msg:
                    notes.append(msg["note"])
                else:
                    result = msg["result"]
                    if "__error__" in result or result.get("recycle"):
                        self.stop()   # a judge that failed, or ran pytest in-process, is not reused
                    return result
            ready, _, _ = select.select([self.out_r], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                self.stop()
                _kill_jails(notes)
                return {"__error__": TIMEOUT, "message": f"grading took longer than {options.submission_timeout:g} s"}
            chunk = os.read(self.out_r, 1 << 20)
            if not chunk:
                self.stop()
                _kill_jails(notes)
                return {"__error__": CRASHED, "message": "the judge process ended unexpectedly"}
            self.buf += chunk


def _kill_tree(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill_jails(notes: list) -> None:
    for note in notes:
        for pid in note.get("jail", [])[:1]:  # PID 1 of the jail's namespace: everything in it dies
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError, ValueError):
                pass


# ---------------------------------------------------------------- the grader
class Grader:
    """A long-lived grading process's state for one assignment: the zygote, the checks, the points."""

    def __init__(self, assignment: str):
        from autograder.jail.spawn import Zygote, holds_secrets
        if holds_secrets():             # jails must never hold the checks or solutions
            self.zygote = Zygote()      # a fresh process, warming up while this one does
        else:
            warm_torch()                # shared with the zygote (copy-on-write); the checks come only after
            self.zygote = Zygote(fork=True)  # warms up the jail's imports on one core ...
        warm_judge()                    # ... while this process warms up the judge's on the other
        self.assignment = assignment
        self.checks = coursedir.checks_dir(assignment)
        self.exercise_max = self._collect()
        self._judge: JudgeProcess | None = None
        from autograder.jail.spawn import freeze_heap
        freeze_heap()   # judges (and `--jobs` workers) are forked from here

    def _collect(self) -> dict[str, float]:
        """Import the checks here (judges inherit them) and read every exercise's points."""
        from autograder.judge.plugin import JudgePlugin, run_pytest
        plugin = JudgePlugin()
        run_pytest(self.checks, plugin=plugin, collect_only=True)
        if not plugin.exercise_max:
            raise RuntimeError(f"no checks could be collected from {self.checks} (missing, or an import error)")
        self.plans = plugin.plans()
        return plugin.exercise_max

    def judge(self, sub: Submission, *, student_id: str, options: GradeOptions) -> dict:
        if self._judge is None:
            self._judge = JudgeProcess(self)
        return self._judge.grade(sub, student_id=student_id, options=options)

    def _serve_judge(self, job_fd: int, out_fd: int) -> None:
        """The judge process's loop: a job (pickled by our own parent) in, JSON lines out."""
        jobs, out = os.fdopen(job_fd, "rb"), os.fdopen(out_fd, "wb")
        session = self.zygote.session()

        def send(obj) -> None:
            out.write(json.dumps(obj).encode() + b"\n")
            out.flush()
        session.on_spawn = lambda init: send({"note": {"jail": [init]}})
        while True:
            head = jobs.read(8)
            if len(head) < 8:
                return
            sub, student_id, options = pickle.loads(jobs.read(struct.unpack("<Q", head)[0]))
            try:
                result = self._judge_one(session, sub, student_id=student_id, options=options)
            except BaseException:  # noqa: BLE001
                result = {"__error__": INTERNAL_ERROR, "message": traceback.format_exc()[-3000:]}
            finally:
                session.kill_spawned()
            send({"result": result})

    def _judge_one(self, session, sub: Submission, *, student_id: str, options: GradeOptions) -> dict:
        from autograder.jail.spawn import JailSpec
        from autograder.judge import fastrun
        from autograder.judge.client import JailClient
        from autograder.judge.plugin import JudgePlugin, run_pytest
        from autograder.judge.source import StudentSource
        from autograder.selection import select_cells

        source = StudentSource(sub.cells)
        cells = (select_cells(sub.cells, source) if options.select_cells
                 else [(i, source.code(i)) for i, _ in sub.cells])  # translated here, once
        spec = JailSpec(cells=cells, files=public_files(self.assignment, options.course_root, sub.paths),
                        hidden=hidden_paths(options.course_root), cell_timeout=options.cell_timeout)
        jail = JailClient(session, spec)
        key = f"{self.assignment}\0{student_id}"
        recycle = False
        try:
            if options.fast_checks and fastrun.supported(self.plans):
                tests, problems = fastrun.run_checks(self.plans, jail=jail, source=source, student_key=key,
                                                     exercises=options.exercises)
            else:
                plugin = JudgePlugin(jail=jail, source=source, student_key=key,
                                     exercises=list(options.exercises) or None)
                run_pytest(self.checks, plugin=plugin)
                tests, problems = plugin.results(), plugin.problems
                recycle = True   # pytest's session state is not meant to be reused
        finally:
            jail.close()
        return {"tests": [vars(t) for t in tests], "cells": jail.cells, "isolation": jail.isolation,
                "problems": problems, "recycle": recycle}


_GRADERS: dict[str, Grader] = {}


def grader_for(assignment: str) -> Grader:
    if assignment not in _GRADERS:
        _GRADERS[assignment] = Grader(assignment)
    return _GRADERS[assignment]


def exercise_max(assignment: str, exercises: tuple[str, ...] = ()) -> dict[str, float]:
    """Points per exercise (only `exercises`, when given), from this process's grader (started if need be)."""
    return {k: v for k, v in grader_for(assignment).exercise_max.items() if not exercises or k in exercises}


def grade_notebooks(*, notebooks: list[Path], student_id: str, assignment: str,
                    options: GradeOptions = GradeOptions()) -> SubmissionResult:
    """Grade one submission (one or more notebooks). Always returns a result, whatever happens.
    The first call in a process starts its `Grader` (from then on, this process holds the checks)."""
    started = time.monotonic()
    grader = grader_for(assignment)
    maxes = exercise_max(assignment, options.exercises)

    def failed(status: str, message: str) -> SubmissionResult:
        return SubmissionResult.from_error(student_id=student_id, assignment=assignment, status=status,
                                           message=message, exercise_max=maxes,
                                           notebook_sha256=content_hash([Path(p) for p in notebooks]),
                                           seconds=time.monotonic() - started)
    if not notebooks:
        return failed(INVALID_NOTEBOOK, "no notebook was submitted")
    try:
        sub = read_submission([Path(p) for p in notebooks])
    except InvalidNotebook as exc:
        return failed(INVALID_NOTEBOOK, str(exc))
    out = grader.judge(sub, student_id=student_id, options=options)
    if "__error__" in out:
        return failed(out["__error__"], out.get("message", "")[-1500:])
    result = SubmissionResult(student_id=student_id, assignment=assignment, status=GRADED,
                              tests=[CheckResult(**t) for t in out["tests"]], exercise_max=maxes,
                              notebook_sha256=sub.sha256, isolation=out["isolation"],
                              seconds=time.monotonic() - started, cells=out["cells"])
    if out.get("problems"):
        result.message = "internal check problems: " + "; ".join(out["problems"])[:2000]
    return result
