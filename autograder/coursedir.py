"""Every folder name of the course directory, defined once (nbgrader's layout).

No other module spells "source", "release", "submitted", ... : they ask a `CourseDir`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SOURCE = "source"
RELEASE = "release"
SUBMITTED = "submitted"
AUTOGRADED = "autograded"
FEEDBACK = "feedback"
GRADEBOOK = "gradebook.db"
GRADES_CSV = "grades.csv"
DEFAULT_OUT = "graded"

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKS_ROOT = PACKAGE_DIR / "checks"
DEMO_ROOT = PACKAGE_DIR / "demo"


@dataclass(frozen=True)
class CourseDir:
    """An nbgrader course directory; `root` defaults to the current directory."""

    root: Path = Path(".")

    def source(self, assignment: str) -> Path:
        return self.root / SOURCE / assignment

    def release(self, assignment: str) -> Path:
        return self.root / RELEASE / assignment

    def submitted(self) -> Path:
        return self.root / SUBMITTED

    def feedback(self, student_id: str, assignment: str) -> Path:
        return self.root / FEEDBACK / student_id / assignment

    def gradebook(self) -> Path:
        return self.root / GRADEBOOK

    def default_out(self) -> Path:
        return self.root / DEFAULT_OUT


def checks_dir(assignment: str) -> Path:
    """The hidden checks of one assignment: a folder of pytest modules."""
    return CHECKS_ROOT / assignment


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` holding a `source/` folder, else `start` itself."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SOURCE).is_dir():
            return folder
    return here
