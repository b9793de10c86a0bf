"""Grading one submission: read its notebooks here, run the judge in a child process, return a result.

    worker (has imported torch, runs no torch op, never imports checks or solutions)
      └─ judge (forked per submission: starts a jail zygote first, then runs the hidden checks with pytest)
           └─ zygote ─ jail(s): the student's code, behind the walls

Whatever happens below, the worker gets a `SubmissionResult` back.
"""
from __future__ import annotations

import importlib.util
import json
import os
import select
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from autograder import coursedir
from autograder.notebook import InvalidNotebook, Submission, read_submission
from autograder.results import (CRASHED, GRADED, INTERNAL_ERROR, INVALID_NOTEBOOK, TIMEOUT, CheckResult,
                                SubmissionResult)


@dataclass(frozen=True)
class GradeOptions:
    """Knobs of one grading run. Every default lives here."""
    cell_timeout: float = 30.0           # seconds per notebook cell
    submission_timeout: float = 600.0    # seconds for the whole judge of one submission
    exercises: tuple[str, ...] = ()      # grade only these (all when empty)
    course_root: Path = Path(".")
    select_cells: bool = True            # run only the cells grading needs, when that is safe
    jail_extra_hidden: tuple[str, ...] = field(default_factory=tuple)


def hidden_paths(course_root: Path) -> list[str]:
    """Folders the jail must never see: the course (sources, other submissions, gradebook), the kit itself
    (checks) and the reference solutions, wherever they are installed."""
    paths = [Path(course_root).resolve(), coursedir.PACKAGE_DIR]
    spec = importlib.util.find_spec("solutions")
    if spec and spec.submodule_search_locations:
        paths += [Path(p) for p in spec.submodule_search_locations]
    return [str(p) for p in paths]


def public_files(assignment: str, course_root: Path) -> dict[str, str]:
    """Non-notebook files released with the assignment (e.g. its data loader), copied into the jail."""
    folder = coursedir.CourseDir(Path(course_root)).release(assignment)
    files = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix == ".py":
                files[path.name] = path.read_text()
    return files


# ---------------------------------------------------------------- the judge, in its own process
def _judge(sub: Submission, *, assignment: str, student_id: str, options: GradeOptions) -> dict:
    from autograder.jail.spawn import JailSpec, Zygote
    zygote = Zygote()                      # first: fork the jail factory before any torch op here
    import pytest

    from autograder.judge.client import JailClient
    from autograder.judge.plugin import JudgePlugin, pytest_args
    from autograder.judge.source import StudentSource
    from autograder.selection import select_cells

    source = StudentSource(sub.cells)
    cells = select_cells(sub.cells, source) if options.select_cells else sub.cells
    spec = JailSpec(cells=cells, files=public_files(assignment, options.course_root),
                    hidden=hidden_paths(options.course_root) + list(options.jail_extra_hidden),
                    cell_timeout=options.cell_timeout)
    jail = JailClient(zygote, spec)
    plugin = JudgePlugin(jail=jail, source=source, student_key=f"{assignment}\0{student_id}",
                         exercises=list(options.exercises) or None)
    try:
        pytest.main(pytest_args(coursedir.checks_dir(assignment)), plugins=[plugin])
    finally:
        jail.close()
        zygote.close()
    ran = {r["index"]: r for r in jail.cells}
    cells_out = [ran.get(i, {"index": i, "status": "not_needed", "error": "", "output": ""})
                 for i, _ in sub.cells]
    return {"tests": [vars(t) for t in plugin.results()], "exercise_max": plugin.exercise_max,
            "cells": cells_out, "isolation": jail.isolation, "problems": plugin.problems}


def _collect_max(assignment: str) -> dict:
    import pytest

    from autograder.judge.plugin import JudgePlugin, pytest_args
    plugin = JudgePlugin()
    pytest.main(pytest_args(coursedir.checks_dir(assignment), collect_only=True), plugins=[plugin])
    return {"exercise_max": plugin.exercise_max}


def _in_child(fn, *, timeout: float) -> dict:
    """Run `fn()` in a forked child; its JSON result, or {"__error__": status, "message": ...}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        try:
            data = json.dumps(fn()).encode()
        except BaseException:  # noqa: BLE001
            data = json.dumps({"__error__": INTERNAL_ERROR, "message": traceback.format_exc()[-3000:]}).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([f], [], [], max(left, 0))
            if not ready:
                _kill_tree(pid)
                return {"__error__": TIMEOUT, "message": f"grading took longer than {timeout:g} s"}
            chunk = os.read(f.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return {"__error__": CRASHED, "message": f"the judge process ended unexpectedly (status {status})"}


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


_MAX_CACHE: dict[str, dict] = {}


def exercise_max(assignment: str) -> dict[str, float]:
    """Points per exercise, from collecting the checks (in a child: this process never imports them)."""
    if assignment not in _MAX_CACHE:
        out = _in_child(lambda: _collect_max(assignment), timeout=120)
        if "__error__" in out or not out.get("exercise_max"):
            raise RuntimeError(f"the checks of {assignment!r} cannot be collected (no check found, or an "
                               f"import error in {coursedir.checks_dir(assignment)}):\n{out.get('message', '')}")
        _MAX_CACHE[assignment] = out["exercise_max"]
    return dict(_MAX_CACHE[assignment])


def grade_notebooks(*, notebooks: list[Path], student_id: str, assignment: str,
                    options: GradeOptions = GradeOptions()) -> SubmissionResult:
    """Grade one submission (one or more notebooks). Always returns a result, whatever happens."""
    started = time.monotonic()
    maxes = exercise_max(assignment)
    try:
        sub = read_submission([Path(p) for p in notebooks])
    except InvalidNotebook as exc:
        return SubmissionResult.from_error(student_id=student_id, assignment=assignment, status=INVALID_NOTEBOOK,
                                           message=str(exc), exercise_max=maxes,
                                           seconds=time.monotonic() - started)
    if not notebooks:
        return SubmissionResult.from_error(student_id=student_id, assignment=assignment, status=INVALID_NOTEBOOK,
                                           message="no notebook was submitted", exercise_max=maxes)
    out = _in_child(lambda: _judge(sub, assignment=assignment, student_id=student_id, options=options),
                    timeout=options.submission_timeout)
    if "__error__" in out:
        return SubmissionResult.from_error(student_id=student_id, assignment=assignment, status=out["__error__"],
                                           message=out.get("message", "")[-1500:], exercise_max=maxes,
                                           notebook_sha256=sub.sha256, seconds=time.monotonic() - started)
    result = SubmissionResult(student_id=student_id, assignment=assignment, status=GRADED,
                              tests=[CheckResult(**t) for t in out["tests"]],
                              exercise_max={**maxes, **out["exercise_max"]} if not options.exercises
                              else out["exercise_max"],
                              notebook_sha256=sub.sha256, isolation=out["isolation"],
                              seconds=time.monotonic() - started, cells=out["cells"])
    if out.get("problems"):
        result.message = "internal check problems: " + "; ".join(out["problems"])[:2000]
    return result
