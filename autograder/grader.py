"""Grading one submission of a bundle: read its notebooks here, judge them in a child process, return a result.

    grader process (reads the class and writes the results; `grade --jobs N` forks N workers from it)
      └─ zygote: a fresh `python -m autograder.jail.zygote` started first, with a clean environment, before
           │  anything of the class is read; torch and the jail's runtime only, no torch op
           ├─ judges' template (forked right after the zygote's `import torch`; then imports pytest and the
           │    │  bundle's checks and references, once)
           │    └─ judge (one per worker, kept while it behaves: runs the checks, asks each submission's jail
           │              questions, compares)
           └─ session per judge ─ jail(s): the student's code behind the walls

`import torch` is paid once per run, in the zygote, and judges and jails share its memory; the checks' imports
are paid once, in the template. A submission then costs a jail (forked from the zygote), the notebook's
definitions and the checks themselves. Whatever happens below, the caller gets a `SubmissionResult` back.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from autograder.config import GradeOptions
from autograder.coursedir import PACKAGE_DIR, Bundle, CourseDir
from autograder.notebook import InvalidNotebook, Submission, content_hash, read_submission
from autograder.results import CHECK_ERROR, GRADED, INVALID_NOTEBOOK, CheckResult, SubmissionResult


class Grader:
    """A grading process's handle on one bundle: the zygote, the judges' template, the checks' points."""

    def __init__(self, bundle: Bundle, *, isolation: str = "namespaces", zygote=None):
        from autograder.jail.spawn import Zygote, freeze_heap
        from autograder.judge.process import JudgeTemplate, TemplateError
        self.bundle, self.isolation = bundle, isolation
        self.zygote = zygote or Zygote()   # first: it imports torch while this process reads the bundle
        self.key = bundle.key()
        self.hidden = hidden_paths(bundle)
        config = {"root": str(Path(bundle.course.root).resolve()), "name": bundle.name, "hidden": self.hidden,
                  "key": self.key}
        try:
            self.template = JudgeTemplate(self.zygote, config)
        except TemplateError as exc:
            if exc.collection:
                raise CheckCollectionError(str(exc)) from None
            raise RuntimeError(f"the judges' template of {bundle.name!r} failed:\n{exc}") from None
        self.exercise_max = dict(self.template.exercise_max)
        self._judge = None
        freeze_heap()   # `--jobs` workers are forked from here

    def judge(self, sub: Submission, *, student_id: str, options: GradeOptions) -> dict:
        from autograder.judge.process import JudgeProcess
        if self._judge is None:
            self._judge = JudgeProcess(zygote=self.zygote, template=self.template, isolation=self.isolation)
        return self._judge.grade((sub, student_id, options), timeout=options.submission_timeout)

    def exercises(self, only: tuple[str, ...] = ()) -> dict[str, float]:
        """Points per exercise (only `only`, when given)."""
        return {k: v for k, v in self.exercise_max.items() if not only or k in only}


class JudgeState:
    """What a judge needs of a bundle: its collected checks (imported here), their points, the jail's walls.
    Built in the judges' template (`autograder.judge.process.serve_template`), which judges are forked from."""

    def __init__(self, bundle: Bundle, *, hidden: list[str] | None = None):
        from autograder.warm import warm_judge
        warm_judge()
        self.bundle = bundle
        self.public_files = bundle.public_files()
        self.hidden = sorted(set(hidden_paths(bundle)) | set(hidden or ()))   # the grader's Python path, and ours
        self.plans, self.exercise_max = self._collect()
        # what the jail watches in the calls of each exercise with a rule (its forbidden operations)
        self.watch = {rule[0]: rule[1].watch() for p in self.plans
                      if (rule := getattr(p.function, "__rule__", None)) is not None and rule[1].watch()}

    @classmethod
    def from_config(cls, config: dict) -> "JudgeState":
        os.chdir(config["root"])   # checks find course files from the course root, wherever `grade` was run
        return cls(CourseDir(Path(config["root"])).bundle(config["name"]), hidden=config["hidden"])

    def _collect(self):
        """Import the checks here (judges inherit them) and read every exercise's points."""
        from autograder.judge.collect import JudgePlugin, forget_package, run_pytest
        checks = self.bundle.solutions
        forget_package(checks.parent, self.bundle.name)
        plugin = JudgePlugin()
        run_pytest(checks, plugin=plugin, collect_only=True)
        if plugin.collect_errors or not plugin.exercise_max:
            detail = "\n".join(plugin.collect_errors) or "no check carries an exercise and points marker"
            raise CheckCollectionError(f"the hidden checks of {self.bundle.name!r} ({checks}) could not be "
                                       f"collected:\n{detail}")
        return plugin.plans(), plugin.exercise_max

    def judge_one(self, session, sub: Submission, student_id: str, options: GradeOptions) -> dict:
        """In the judge process: one submission's jail, the checks against it, the settled results."""
        from autograder.jail.spawn import JailSpec
        from autograder.judge.client import JailClient
        from autograder.judge.run import run_checks
        from autograder.judge.source import StudentSource

        source = StudentSource(sub.cells, labels=sub.labels(), exercise_cells=sub.grade_ids)
        cells = (source.needed_cells(tuple(self.exercise_max)) if options.select_cells
                 else [(i, source.code(i)) for i, _ in sub.cells])
        spec = JailSpec(cells=cells, files=self.public_files, hidden=self.hidden, cell_timeout=options.cell_timeout,
                        watch_names=list(self.exercise_max))
        jail = JailClient(session, spec, watch=self.watch)
        use_pytest = not options.fast_checks
        try:
            tests, problems = run_checks(self.plans, jail=jail, source=source,
                                         student_key=f"{self.bundle.name}\0{student_id}",
                                         checks_dir=self.bundle.solutions, exercises=options.exercises,
                                         use_pytest=use_pytest)
        finally:
            jail.close()
        recycle = use_pytest or not all(p.direct for p in self.plans)   # pytest's session state is not reusable
        labels = sub.labels()
        # the jail names cells by their index ("<cell 7>"); the student finds them by their place in Jupyter
        named = lambda text: _CELL_FILE.sub(lambda m: labels.get(int(m[1]), m[0]), text)  # noqa: E731
        cells_seen = [dict(c, label=labels.get(c.get("index"), ""), error=named(c.get("error", "")))
                      for c in jail.cells]
        return {"tests": [vars(t) for t in tests], "cells": cells_seen, "isolation": jail.isolation,
                "problems": problems, "recycle": recycle}


_CELL_FILE = re.compile(r"<cell (\d+)>")


class CheckCollectionError(RuntimeError):
    """A bundle whose hidden checks do not import or carry no markers: the instructor's problem."""


def hidden_paths(bundle: Bundle) -> list[str]:
    """Folders a jail must never see: the course (sources, references, checks, other submissions, the
    gradebook), the kit, and any other copy of the bundle's hidden material on Python's path (an installed
    copy of the checks, a `solutions` folder)."""
    paths = {Path(bundle.course.root).resolve(), PACKAGE_DIR}
    for entry in sys.path:
        for name in ("solutions", bundle.name):
            candidate = Path(entry or ".") / name
            if candidate.is_dir():
                paths.add(candidate.resolve())
    return sorted(str(p) for p in paths)


_GRADERS: dict[tuple[str, str], Grader] = {}


def grader_for(bundle: Bundle, *, isolation: str = "namespaces", zygote=None) -> Grader:
    """This process's grader for `bundle` (started on first use; from then on, this process holds its checks).
    A bundle whose checks changed since gets a new one."""
    key = (str(Path(bundle.course.root).resolve()), bundle.name)
    grader = _GRADERS.get(key)
    if grader is None or grader.isolation != isolation or grader.key != bundle.key():
        _GRADERS[key] = grader = Grader(bundle, isolation=isolation, zygote=zygote)
    return grader


def grade_notebooks(*, notebooks: list[Path], student_id: str, bundle: Bundle,
                    options: GradeOptions = GradeOptions(), grader: Grader | None = None,
                    root: Path | None = None) -> SubmissionResult:
    """Grade one submission (one or more notebooks). Always returns a result, whatever happens. `root`: the
    folder the submission was found in (nothing is read through a link from there down, nor outside it)."""
    started = time.monotonic()
    grader = grader or grader_for(bundle, isolation=options.isolation)
    maxes = grader.exercises(options.exercises)
    notebooks = [Path(p) for p in notebooks]

    def failed(status: str, message: str) -> SubmissionResult:
        return SubmissionResult.from_error(student_id=student_id, assignment=bundle.name, status=status,
                                           message=message, exercise_max=maxes, key=grader.key,
                                           notebook_sha256=content_hash(notebooks, root=root),
                                           seconds=time.monotonic() - started)
    if not notebooks:
        return failed(INVALID_NOTEBOOK, "no notebook was submitted")
    try:
        sub = read_submission(notebooks, root=root)
    except InvalidNotebook as exc:
        return failed(INVALID_NOTEBOOK, str(exc))
    out = grader.judge(sub, student_id=student_id, options=options)
    if "__error__" in out:
        return failed(out["__error__"], out.get("message", "")[-1500:])
    problems = list(out.get("problems", []))
    return SubmissionResult(student_id=student_id, assignment=bundle.name,
                            status=CHECK_ERROR if problems else GRADED,
                            tests=[CheckResult(**t) for t in out["tests"]], exercise_max=maxes,
                            notebook_sha256=sub.sha256, key=grader.key, isolation=out["isolation"],
                            seconds=time.monotonic() - started, cells=out["cells"], problems=problems,
                            message="some checks could not run: the instructor has been told" if problems else "")
