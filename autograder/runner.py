"""Grading one submission: read its notebooks here, judge them in a child process, return a result.

    grader process (torch, pytest, the checks and solutions imported once; `grade --jobs N` forks N workers
    │               from it, which share all of that and the zygote)
      ├─ zygote (torch imported, no torch op, never the checks): forked before the checks are imported, or
      │    a fresh `python -m autograder.jail.zygote` when this process already holds them (e.g. in tests)
      │    └─ session per judge ─ jail(s): the student's code behind the walls
      └─ judge (forked per submission: runs the checks with pytest, asks its jail questions, compares)

The grader pays `import torch`, the checks' imports and torch's lazy imports once; a submission then costs
two forks, the notebook's definitions and the checks themselves. Whatever happens below, the caller gets a
`SubmissionResult` back.
"""
from __future__ import annotations

import importlib.util
import json
import os
import select
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from autograder import coursedir
from autograder.notebook import InvalidNotebook, Submission, content_hash, read_submission
from autograder.runner_warm import warm_imports
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


# ---------------------------------------------------------------- child processes with a deadline
def in_child(fn, *, timeout: float, on_timeout=None) -> dict:
    """Run `fn(report)` in a forked child; return its JSON-able result, or {"__error__": status, "message"}.
    `report(obj)` lets the child tell the parent things as they happen (e.g. jail pids to kill on timeout)."""
    r, w = os.pipe()
    side_r, side_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(side_r)
        os.setsid()
        side = os.fdopen(side_w, "w", buffering=1)
        try:
            data = json.dumps(fn(lambda obj: side.write(json.dumps(obj) + "\n"))).encode()
        except BaseException:  # noqa: BLE001
            data = json.dumps({"__error__": INTERNAL_ERROR, "message": traceback.format_exc()[-3000:]}).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    os.close(side_w)
    chunks, notes, deadline = [], [], time.monotonic() + timeout
    side_buf = b""
    with os.fdopen(r, "rb") as f, os.fdopen(side_r, "rb") as side:
        open_fds = {f.fileno(), side.fileno()}
        while f.fileno() in open_fds:
            left = deadline - time.monotonic()
            ready, _, _ = select.select(list(open_fds), [], [], max(left, 0))
            if not ready:
                notes += _lines(side_buf)
                _kill_tree(pid)
                if on_timeout:
                    on_timeout(notes)
                return {"__error__": TIMEOUT, "message": f"grading took longer than {timeout:g} s"}
            for fd in ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == f.fileno():
                    chunks.append(chunk)
                else:
                    side_buf += chunk
    _, status = os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return {"__error__": CRASHED, "message": f"the judge process ended unexpectedly (status {status})"}


def _lines(buf: bytes) -> list:
    out = []
    for line in buf.decode(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


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
        fork = not holds_secrets()      # jails must never hold the checks or solutions
        if not fork:
            self.zygote = Zygote()      # a fresh process, warming up while this one does
        warm_imports()
        if fork:
            self.zygote = Zygote(fork=True)  # inherits the warm imports; the checks are imported only after
        self.assignment = assignment
        self.checks = coursedir.checks_dir(assignment)
        self.exercise_max = self._collect()

    def _collect(self) -> dict[str, float]:
        """Import the checks here (judges inherit them) and read every exercise's points."""
        import pytest

        from autograder.judge.plugin import JudgePlugin, pytest_args
        plugin = JudgePlugin()
        pytest.main(pytest_args(self.checks, collect_only=True), plugins=[plugin])
        if not plugin.exercise_max:
            raise RuntimeError(f"no checks could be collected from {self.checks} (missing, or an import error)")
        self.plans = plugin.plans()
        return plugin.exercise_max

    def judge(self, sub: Submission, *, student_id: str, options: GradeOptions) -> dict:
        def run(report):
            return self._judge_in_child(sub, student_id=student_id, options=options, report=report)
        return in_child(run, timeout=options.submission_timeout, on_timeout=_kill_jails)

    def _judge_in_child(self, sub: Submission, *, student_id: str, options: GradeOptions, report) -> dict:
        import pytest

        from autograder.jail.spawn import JailSpec
        from autograder.judge import fastrun
        from autograder.judge.client import JailClient
        from autograder.judge.plugin import JudgePlugin, pytest_args
        from autograder.judge.source import StudentSource
        from autograder.selection import select_cells

        session = self.zygote.session()
        session.on_spawn = lambda init, middle: report({"jail": [init, middle]})
        source = StudentSource(sub.cells)
        cells = (select_cells(sub.cells, source) if options.select_cells
                 else [(i, source.code(i)) for i, _ in sub.cells])  # translated here, once
        spec = JailSpec(cells=cells, files=public_files(self.assignment, options.course_root, sub.paths),
                        hidden=hidden_paths(options.course_root), cell_timeout=options.cell_timeout)
        jail = JailClient(session, spec)
        key = f"{self.assignment}\0{student_id}"
        try:
            if options.fast_checks and fastrun.supported(self.plans):
                tests, problems = fastrun.run_checks(self.plans, jail=jail, source=source, student_key=key,
                                                     exercises=options.exercises)
            else:
                plugin = JudgePlugin(jail=jail, source=source, student_key=key,
                                     exercises=list(options.exercises) or None)
                pytest.main(pytest_args(self.checks), plugins=[plugin])
                tests, problems = plugin.results(), plugin.problems
        finally:
            jail.close()
            session.close()
        return {"tests": [vars(t) for t in tests], "cells": jail.cells, "isolation": jail.isolation,
                "problems": problems}


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
