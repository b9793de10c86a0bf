"""The course directory and its assignments ("bundles"): every folder name of the course, defined once.

An nbgrader course directory holds, for each assignment `A` (docs/contract.md §4):

    source/A/      the master notebooks (nbgrader markers) and the helper files released with them
    release/A/     the student version, generated from source/A/ by `autograder release`
    solutions/A/   what students never see: A's reference solutions and hidden checks (a Python package
                   named A: `__init__.py`, the references, `test_*.py` check modules)

plus nbgrader's `submitted/`, `feedback/` and `gradebook.db`. No other module spells "source", "release",
"solutions", ...: they ask a `CourseDir` or a `Bundle`. The engine knows no assignment: it finds them here.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SOURCE = "source"
RELEASE = "release"
SOLUTIONS = "solutions"
SUBMITTED = "submitted"
AUTOGRADED = "autograded"
FEEDBACK = "feedback"
GRADEBOOK = "gradebook.db"
GRADES_CSV = "grades.csv"
DEFAULT_OUT = "graded"
NBGRADER_CONFIG = "nbgrader_config.py"
DEMO_MODULE = "demo.py"              # solutions/A/demo.py: the sample class `autograder demo` grades
METADATA_KEY = "autograder"          # notebook metadata written by `autograder release`: {"assignment": A}

PACKAGE_DIR = Path(__file__).resolve().parent
JUNK = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")


class CourseError(ValueError):
    """A course or assignment that cannot be found, or a name that cannot be one: the message says what to do."""


def check_name(name: str) -> str:
    """Assignment names become folder and package names: a plain Python identifier, not a dunder."""
    if not (isinstance(name, str) and name.isidentifier() and name.isascii() and not name.startswith("_")):
        raise CourseError(f"assignment name {name!r} is not a plain name (letters, digits and _, not "
                          f"starting with a digit or _): it names the folders source/, release/ and "
                          f"solutions/ of the assignment and the Python package of its checks")
    return name


@dataclass(frozen=True)
class CourseDir:
    """An nbgrader course directory."""

    root: Path = Path(".")

    def source(self, assignment: str) -> Path:
        return self.root / SOURCE / assignment

    def release(self, assignment: str) -> Path:
        return self.root / RELEASE / assignment

    def solutions(self, assignment: str) -> Path:
        return self.root / SOLUTIONS / assignment

    def solutions_root(self) -> Path:
        return self.root / SOLUTIONS

    def submitted(self) -> Path:
        return self.root / SUBMITTED

    def feedback(self, student_folder: str, assignment: str) -> Path:
        return self.root / FEEDBACK / student_folder / assignment

    def gradebook(self) -> Path:
        return self.root / GRADEBOOK

    def default_out(self) -> Path:
        return self.root / DEFAULT_OUT

    def nbgrader_config(self) -> Path:
        return self.root / NBGRADER_CONFIG

    def assignments(self) -> list[str]:
        """Every assignment of the course: a folder in source/ or in solutions/ with a plain name."""
        names = set()
        for parent in (self.root / SOURCE, self.root / SOLUTIONS):
            if parent.is_dir():
                names |= {p.name for p in parent.iterdir() if p.is_dir() and _plain(p.name)}
        return sorted(names)

    def bundle(self, assignment: str) -> "Bundle":
        return Bundle(self, check_name(assignment))


def _plain(name: str) -> bool:
    try:
        check_name(name)
        return True
    except CourseError:
        return False


@dataclass(frozen=True)
class Bundle:
    """One assignment of a course: its three folders, its public files, and the key its results depend on."""

    course: CourseDir
    name: str

    @property
    def source(self) -> Path:
        return self.course.source(self.name)

    @property
    def release(self) -> Path:
        return self.course.release(self.name)

    @property
    def solutions(self) -> Path:
        return self.course.solutions(self.name)

    def notebooks(self, folder: Path) -> list[Path]:
        return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))

    def require(self, *folders: str) -> "Bundle":
        """Raise CourseError unless each named folder ('source', 'release', 'solutions') exists."""
        for kind in folders:
            where = getattr(self, kind)
            if not where.is_dir():
                known = ", ".join(self.course.assignments()) or "none"
                what = "assignment" if self.name in self.course.assignments() else "unknown assignment"
                raise CourseError(f"{what} {self.name!r}: no folder {where} (assignments of the course "
                                  f"{self.course.root}: {known})")
        return self

    def public_files(self) -> dict[str, str]:
        """The Python files released with the notebooks (e.g. a data loader), by name: copied into the jail's
        folder, where the notebook imports them as it would in Jupyter. From release/A/ (what students have),
        else source/A/ before a first release. Never more than 1 MiB each."""
        folder = self.release if self.release.is_dir() else self.source
        if not folder.is_dir():
            return {}
        return {p.name: p.read_text(errors="replace") for p in sorted(folder.iterdir())
                if p.is_file() and not p.is_symlink() and p.suffix == ".py" and p.stat().st_size <= 1 << 20}

    def key(self) -> str:
        """Changes whenever anything a grade depends on, beside the notebook, changes: the hidden checks and
        references (every file of solutions/A/), the public files the notebook imports, and the kit's code."""
        digest = hashlib.sha256(f"{kit_key()}\0{self.name}\0".encode())
        for path in _files(self.solutions):
            digest.update(f"{path.relative_to(self.solutions).as_posix()}\0".encode() + path.read_bytes() + b"\0")
        for name, text in self.public_files().items():
            digest.update(f"public/{name}\0{text}\0".encode())
        return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not set(JUNK) & set(p.parts)
                  and p.suffix not in (".pyc", ".tmp"))


@lru_cache(maxsize=1)
def kit_key() -> str:
    """The kit's version and the content of its code: a changed engine never reuses an old result."""
    from autograder import __version__
    digest = hashlib.sha256(f"autograder {__version__}\0".encode())
    for path in _files(PACKAGE_DIR):
        if path.suffix in (".py", ".html", ".ini"):
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- finding a course and an assignment
def is_course_root(folder: Path) -> bool:
    return (folder / SOLUTIONS).is_dir() or (folder / SOURCE).is_dir() or (folder / NBGRADER_CONFIG).is_file()


def find_course_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` (default: the current folder) that is a course directory
    (holds solutions/, source/ or nbgrader_config.py), or None."""
    here = Path(start or Path.cwd()).resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        if is_course_root(folder):
            return folder
    return None


def course_for(*, course_root: Path | None = None, near: list[Path] = ()) -> CourseDir:
    """The course: `course_root` when given, else the one holding the first of `near`, else the one holding
    the current folder."""
    if course_root is not None:
        root = Path(course_root).resolve()
        if not root.is_dir():
            raise CourseError(f"no course directory {root}")
        return CourseDir(root)
    for start in [*near, None]:
        root = find_course_root(start)
        if root is not None:
            return CourseDir(root)
    raise CourseError("no course directory found (a folder holding solutions/ or source/) above "
                      + (f"{Path(near[0]).resolve()} or " if near else "") + f"{Path.cwd()}: "
                      "run inside the course, or pass --course-root DIR")


def notebook_assignment(path: Path) -> str | None:
    """The assignment a notebook says it belongs to (metadata written by `autograder release`), or None."""
    try:
        with open(path, "rb") as f:
            raw = f.read(64 << 20)
        meta = json.loads(raw).get("metadata", {}).get(METADATA_KEY, {})
        name = meta.get("assignment") if isinstance(meta, dict) else None
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return name if isinstance(name, str) and _plain(name) else None


def infer_assignment(course: CourseDir, notebooks: list[Path]) -> tuple[str, str]:
    """(assignment, how it was inferred) for notebooks given without an assignment name: from their metadata
    (release notebooks carry it), else from the folder they sit in (source/A/ or release/A/ of the course)."""
    for nb in notebooks:
        name = notebook_assignment(nb)
        if name:
            return name, f"{Path(nb).name}'s metadata"
    for nb in notebooks:
        folder = Path(nb).resolve().parent
        for kind in (SOURCE, RELEASE):
            if folder.parent == (course.root / kind).resolve():
                return folder.name, f"the folder {kind}/{folder.name}/"
    known = ", ".join(course.assignments()) or "none"
    raise CourseError(f"cannot tell which assignment {', '.join(Path(n).name for n in notebooks)} belongs to "
                      f"(no autograder metadata in the notebook, not inside source/ or release/ of the course "
                      f"{course.root}): pass it with --assignment NAME (assignments: {known})")


def locate(*, notebooks: list[Path] = (), assignment: str | None = None,
           course_root: Path | None = None) -> tuple[Bundle, str]:
    """The bundle that grades `notebooks`, and a sentence saying how it was chosen ('' when named)."""
    course = course_for(course_root=course_root, near=list(notebooks))
    how = ""
    if assignment is None:
        assignment, source = infer_assignment(course, list(notebooks))
        how = f"assignment {assignment!r} (from {source})"
    return course.bundle(assignment).require("solutions"), how
