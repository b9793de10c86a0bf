"""What Gradescope's `run_autograder` runs: grade /autograder/submission, write /autograder/results/results.json.

A results.json is written whatever happens (no notebook, a broken one, an internal error), so the student
always sees a score and a reason. The instructor's view (stdout) gets the terminal table.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from autograder.export.gradescope import COURSE, CONFIG, SCHEMA, SCHEMA_VERSION, gradescope_results
from autograder.results import INTERNAL_ERROR, MISSING, SubmissionResult, atomic_write_text

DEFAULT_STUDENT = "submission"


def student_id(root: Path) -> str:
    """The submitter's Gradescope user id (seeds the checks' inputs per student), else a constant."""
    try:
        users = json.loads((root / "submission_metadata.json").read_text()).get("users") or []
        return str(users[0].get("id") or users[0].get("email") or DEFAULT_STUDENT)
    except (OSError, ValueError, IndexError, AttributeError):
        return DEFAULT_STUDENT


def submitted_notebooks(submission: Path) -> list[Path]:
    return sorted(p for p in submission.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("."))


def grade(root: Path, config: dict) -> SubmissionResult:
    from autograder.config import GradeOptions
    from autograder.coursedir import CourseDir
    from autograder.grader import grade_notebooks

    sid, assignment = student_id(root), config["assignment"]
    notebooks = submitted_notebooks(root / "submission")
    if not notebooks:
        return SubmissionResult.from_error(student_id=sid, assignment=assignment, status=MISSING,
                                           message="no .ipynb file in your submission: upload your notebook(s)",
                                           exercise_max={})
    return grade_notebooks(notebooks=notebooks, student_id=sid,
                           bundle=CourseDir(root / "source" / COURSE).bundle(assignment), options=GradeOptions())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("/autograder"))
    root = parser.parse_args(argv).root
    config = json.loads((root / "source" / CONFIG).read_text())
    if config.get("schema") != SCHEMA or config.get("schema_version") != SCHEMA_VERSION:
        raise SystemExit(f"{CONFIG} is {config.get('schema')!r} v{config.get('schema_version')!r}; this kit reads "
                         f"{SCHEMA!r} v{SCHEMA_VERSION}: export the autograder again")
    try:
        result = grade(root, config)
    except Exception as exc:  # noqa: BLE001 - the student must still get a results.json
        traceback.print_exc()
        result = SubmissionResult.from_error(
            student_id=student_id(root), assignment=config["assignment"], status=INTERNAL_ERROR,
            message=f"the autograder itself failed ({type(exc).__name__}); your instructor can see why",
            exercise_max={})
    from autograder.report import render_table
    print(render_table(result))        # the instructor's view (stdout is hidden from students)
    for problem in result.problems:
        print(f"a hidden check raised an exception:\n{problem}")
    data = gradescope_results(result, visibility=config["visibility"])
    atomic_write_text(root / "results" / "results.json", json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
