"""The one results type: what grading says about a submission, whatever happened to it.

`SubmissionResult.to_gradescope()` is docs/contract.md §2's results.json; `SubmissionResult.from_error()` builds the
row of a submission that could not be graded, so that every submission always gets a result.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCHEMA = "autograder-results"
SCHEMA_VERSION = 2

# Submission statuses (grades.csv `status` column).
GRADED = "graded"
INVALID_NOTEBOOK = "invalid_notebook"
TIMEOUT = "timeout"
CRASHED = "crashed"
MISSING = "missing"
INTERNAL_ERROR = "internal_error"
CHECK_ERROR = "check_error"      # graded, but some check could not run: the instructor's problem (see `problems`)
STATUSES = (GRADED, CHECK_ERROR, INVALID_NOTEBOOK, TIMEOUT, CRASHED, MISSING, INTERNAL_ERROR)

# Check statuses (Gradescope's vocabulary plus ours).
PASSED, FAILED, ERROR = "passed", "failed", "error"

# What a check says when it is not the reason its points are lost (judge/run.py writes them; reports read them).
CHECK_COULD_NOT_RUN = "this check could not run; your instructor has been told"
NOT_EARNED = "not counted yet: this point is earned once the exercise's values are right (see above)"
RULE_NOT_COUNTED = "not counted: the exercise's rule is broken (see above)"
SAME_AS_ABOVE = "the same as above"


class VersionMismatch(ValueError):
    """A results file written by another version of the kit."""


@dataclass
class CheckResult:
    """One hidden check's outcome. `output` is student-facing: a hint, never check code or expected values."""

    name: str
    exercise: str
    score: float
    max_score: float
    status: str  # passed | failed | error
    output: str = ""


@dataclass
class SubmissionResult:
    student_id: str
    assignment: str
    status: str = GRADED
    message: str = ""  # why not graded, or notes such as the isolation level used
    tests: list[CheckResult] = field(default_factory=list)
    exercise_max: dict[str, float] = field(default_factory=dict)  # every exercise, even when none ran
    notebook_sha256: str = ""
    key: str = ""  # the bundle's key (checks, references, public files, kit): a result is reused only under it
    isolation: str = ""
    seconds: float = 0.0
    cells: list[dict] = field(default_factory=list)  # per executed cell: index, status, error (student's own)
    problems: list[str] = field(default_factory=list)  # the instructor's: tracebacks of checks that broke

    # ---- derived views -------------------------------------------------------------------------
    def exercise_scores(self) -> dict[str, float]:
        scores = {name: 0.0 for name in self.exercise_max}
        for t in self.tests:
            scores[t.exercise] = scores.get(t.exercise, 0.0) + t.score
        return {k: round(v, 4) for k, v in scores.items()}

    @property
    def graded(self) -> bool:
        """Whether the checks ran (all of them, or all but a few broken ones: CHECK_ERROR)."""
        return self.status in (GRADED, CHECK_ERROR)

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(self.exercise_max.values()), 4)

    # ---- constructors --------------------------------------------------------------------------
    @classmethod
    def from_error(cls, *, student_id: str, assignment: str, status: str, message: str,
                   exercise_max: dict[str, float], **extra) -> "SubmissionResult":
        """A zero-score result for a submission that could not be graded, saying why."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return cls(student_id=student_id, assignment=assignment, status=status, message=message,
                   exercise_max=dict(exercise_max), **extra)

    # ---- serialisation -------------------------------------------------------------------------
    def to_gradescope(self) -> dict:
        """docs/contract.md §2: Gradescope's results.json shape, plus our versioned extras."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "output": self.message,
            "tests": [
                {"name": t.name, "exercise": t.exercise, "score": t.score, "max_score": t.max_score,
                 "status": t.status, "output": t.output}
                for t in self.tests
            ],
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "student_id": self.student_id,
            "assignment": self.assignment,
            "exercise_max": self.exercise_max,
            "notebook_sha256": self.notebook_sha256,
            "key": self.key,
            "isolation": self.isolation,
            "seconds": round(self.seconds, 3),
            "cells": self.cells,
            "problems": self.problems,
        }

    @classmethod
    def from_gradescope(cls, data: dict) -> "SubmissionResult":
        if data.get("schema") != SCHEMA or data.get("schema_version") != SCHEMA_VERSION:
            raise VersionMismatch(
                f"results written by schema {data.get('schema')!r} v{data.get('schema_version')!r}; "
                f"this kit reads {SCHEMA!r} v{SCHEMA_VERSION}: re-grade with --force")
        tests = [CheckResult(**t) for t in data["tests"]]
        return cls(student_id=data["student_id"], assignment=data["assignment"], status=data["status"],
                   message=data.get("output", ""), tests=tests, exercise_max=data["exercise_max"],
                   notebook_sha256=data.get("notebook_sha256", ""), key=data.get("key", ""),
                   isolation=data.get("isolation", ""), seconds=data.get("seconds", 0.0),
                   cells=data.get("cells", []), problems=data.get("problems", []))

    def write_json(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_gradescope(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def read_json(cls, path: Path) -> "SubmissionResult":
        return cls.from_gradescope(json.loads(Path(path).read_text()))


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so an interrupted run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


__all__ = ["CheckResult", "SubmissionResult", "atomic_write_text", "asdict"]
