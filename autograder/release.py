"""Release stage: regenerate `release/<assignment>/` from `source/<assignment>/` with nbgrader.

nbgrader's own `generate_assignment` does the real work (solution regions become stubs, cells are locked,
checksums computed, extra files copied). It runs in a child process so that its traitlets singletons and
logging never leak into the caller. Afterwards a few small, pure normalisations remove what depends on the
machine rather than on `source/` (kernel version metadata, JSON layout, file modes), so that regenerating
gives byte-for-byte the committed files and `check_release_in_sync` can prove it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.coursedir import JUNK, METADATA_KEY, RELEASE, SOURCE, CourseDir

FILE_MODE = 0o644
DIR_MODE = 0o755
# Notebook metadata that records the machine that last saved the notebook, not the assignment.
MACHINE_METADATA = ("widgets", "toc", "varInspector")
LANGUAGE_INFO_KEEP = ("name",)
NBGRADER_TIMEOUT_S = 300


class ReleaseError(RuntimeError):
    """nbgrader could not generate the release; the message carries the end of its log."""


def release(*, assignment: str, course_root: Path = Path(".")) -> list[Path]:
    """Regenerate `release/<assignment>/` from `source/<assignment>/`; return the files written, sorted.

    nbgrader runs in a scratch copy of the course (source folder and nbgrader_config.py), so a failure
    leaves the current release untouched; files deleted from source/ disappear from release/ too.
    """
    course = CourseDir(Path(course_root).resolve())
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        fresh = generate_release(assignment=assignment, course=course, scratch=Path(tmp))
        out_dir = course.release(assignment)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(fresh, out_dir)
    return normalize_release(folder=out_dir, assignment=assignment)


def check_release_in_sync(*, assignment: str, course_root: Path = Path(".")) -> list[str]:
    """Differences between the committed `release/<assignment>/` and a fresh release; [] when in sync."""
    course = CourseDir(Path(course_root).resolve())
    with tempfile.TemporaryDirectory(prefix="release-check-") as tmp:
        fresh = generate_release(assignment=assignment, course=course, scratch=Path(tmp))
        return compare_folders(expected=fresh, actual=course.release(assignment), label=f"{RELEASE}/{assignment}")


def generate_release(*, assignment: str, course: CourseDir, scratch: Path) -> Path:
    """Run nbgrader on a copy of `course`'s source folder inside `scratch`; return the normalised release."""
    if not course.source(assignment).is_dir():
        raise ReleaseError(f"no such assignment: {course.source(assignment)} does not exist")
    work = CourseDir(scratch)
    shutil.copytree(course.source(assignment), work.source(assignment), ignore=shutil.ignore_patterns(*JUNK))
    if course.nbgrader_config().is_file():
        shutil.copy2(course.nbgrader_config(), work.nbgrader_config())
    _run_nbgrader(assignment=assignment, root=work.root)
    normalize_release(folder=work.release(assignment), assignment=assignment)
    return work.release(assignment)


def compare_folders(*, expected: Path, actual: Path, label: str) -> list[str]:
    """File-by-file byte comparison of two release folders, in words an instructor can act on."""
    want, have = _files(expected), _files(actual)
    problems = [f"{label}/{name}: missing (source/ generates it)" for name in sorted(want - have)]
    problems += [f"{label}/{name}: not generated from source/ (stale or hand-made)" for name in sorted(have - want)]
    for name in sorted(want & have):
        if (expected / name).read_bytes() != (actual / name).read_bytes():
            problems.append(f"{label}/{name}: differs from what source/ generates")
    if problems:
        problems.append("run `autograder release` and commit the result")
    return problems


def _files(folder: Path) -> set[str]:
    """Relative POSIX paths of the files under `folder` (none when it does not exist), junk excluded."""
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and not set(JUNK).intersection(p.relative_to(folder).parts)}


# -- the nbgrader call -------------------------------------------------------------------------------------


def nbgrader_command(*, assignment: str, root: Path) -> list[str]:
    """`nbgrader generate_assignment` with the course layout of `autograder.coursedir`, no gradebook."""
    return [sys.executable, "-m", "nbgrader", "generate_assignment", assignment,
            "--force", "--no-db",
            f"--CourseDirectory.root={root}",
            f"--CourseDirectory.source_directory={SOURCE}",
            f"--CourseDirectory.release_directory={RELEASE}",
            f"--GenerateAssignment.permissions={FILE_MODE:o}"]


def _run_nbgrader(*, assignment: str, root: Path) -> None:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(nbgrader_command(assignment=assignment, root=root), cwd=root, env=env,
                          capture_output=True, text=True, timeout=NBGRADER_TIMEOUT_S)
    if done.returncode != 0:
        log = (done.stdout + done.stderr).strip().splitlines()[-25:]
        raise ReleaseError(f"nbgrader generate_assignment {assignment} failed (exit {done.returncode}):\n"
                           + "\n".join(log))


# -- normalisation: small pure transforms ------------------------------------------------------------------


def normalize_release(*, folder: Path, assignment: str) -> list[Path]:
    """Make a generated release folder deterministic in place, each notebook stamped with its assignment;
    return its files, sorted."""
    for junk in [p for p in folder.rglob("*") if p.name in JUNK]:
        shutil.rmtree(junk, ignore_errors=True)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        if path.suffix == ".ipynb":
            nb = stamp_assignment(json.loads(path.read_text(encoding="utf-8")), assignment)
            path.write_text(canonical_notebook_json(nb), encoding="utf-8")
        path.chmod(FILE_MODE)
    for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        sub.chmod(DIR_MODE)
    return files


def stamp_assignment(nb: dict, assignment: str) -> dict:
    """A copy of `nb` whose metadata names its assignment, so that `autograder check` and `%autograde` know
    which hidden checks grade a student's copy wherever it is saved."""
    nb = json.loads(json.dumps(nb))
    nb.setdefault("metadata", {})[METADATA_KEY] = {"assignment": assignment}
    return nb


def strip_machine_metadata(nb: dict) -> dict:
    """A copy of `nb` without metadata that describes the saving machine (kernel version, widget state)."""
    nb = json.loads(json.dumps(nb))
    meta = nb.setdefault("metadata", {})
    for key in MACHINE_METADATA:
        meta.pop(key, None)
    if "language_info" in meta:
        meta["language_info"] = {k: v for k, v in meta["language_info"].items() if k in LANGUAGE_INFO_KEEP}
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)  # timing stamps some front-ends add
    return nb


def canonical_notebook_json(nb: dict) -> str:
    """nbformat's own on-disk layout (indent 1, sorted keys, UTF-8, final newline), minus machine metadata."""
    return json.dumps(strip_machine_metadata(nb), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
