"""Build the sample class in nbgrader's layout from the kit's own notebooks, grade it, print the grades.

Student notebooks are the release notebooks with exercise cells (nbgrader `grade_id` == exercise name)
replaced: by the source notebook's solution (markers dropped) or by the student's variant from `variants.py`.
"""
from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

from autograder.coursedir import PACKAGE_DIR, CourseDir, find_course_root
from autograder.results import GRADED, SubmissionResult

from .variants import STUDENTS, Student

DEMO_ASSIGNMENT = "sgd_mnist"
MARKER = ".autograder-demo"  # a folder holding this file is ours to rebuild
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


class DemoError(RuntimeError):
    """The demo cannot be built (no notebooks found, a variant names an exercise the notebooks lack, ...)."""


def kit_course() -> CourseDir:
    """The course holding the kit's own source/ and release/: the repository, else the current course."""
    for root in (PACKAGE_DIR.parent, find_course_root()):
        course = CourseDir(root)
        if any(course.release(DEMO_ASSIGNMENT).glob("*.ipynb")) and any(course.source(DEMO_ASSIGNMENT).glob("*.ipynb")):
            return course
    raise DemoError(f"no {DEMO_ASSIGNMENT} source and release notebooks found next to the kit "
                    f"({PACKAGE_DIR.parent}) or in the current course directory (run `autograder release`?)")


def _src(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solutions(source_dir: Path) -> dict[str, str]:
    """grade_id -> the cell's code with nbgrader's solution markers dropped (cells holding solutions only)."""
    found: dict[str, str] = {}
    for path in sorted(source_dir.glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            code = _src(cell)
            if cell["cell_type"] == "code" and _grade_id(cell) and SOLUTION_MARKERS[0] in code:
                found[_grade_id(cell)] = "\n".join(
                    line for line in code.splitlines() if line.strip() not in SOLUTION_MARKERS) + "\n"
    return found


def student_notebooks(student: Student, release: dict[str, dict], answers: dict[str, str]) -> dict[str, str]:
    """notebook file name -> the student's notebook text."""
    unknown = set(student.cells) - set(answers)
    if unknown:
        raise DemoError(f"demo student {student.id} rewrites {sorted(unknown)}, which have no solution cell")
    placed: set[str] = set()
    out: dict[str, str] = {}
    for name, nb in release.items():
        nb = copy.deepcopy(nb)
        for cell in nb["cells"]:
            gid = _grade_id(cell)
            if not student.stubs and cell["cell_type"] == "code" and gid in answers:
                cell["source"] = student.cells.get(gid, answers[gid])
                placed.add(gid)
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        out[name] = text[: len(text) // 2] if student.truncate else text
    if not student.stubs and set(student.cells) - placed:
        raise DemoError(f"the release notebooks have no cell for {sorted(set(student.cells) - placed)}")
    return out


def build_class(course_root: Path, *, kit: CourseDir | None = None) -> list[Student]:
    """Write `submitted/<student>/sgd_mnist/*.ipynb` and copies of source/ and release/ under `course_root`."""
    kit = kit or kit_course()
    release_dir = kit.release(DEMO_ASSIGNMENT)
    release = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(release_dir.glob("*.ipynb"))}
    answers = solutions(kit.source(DEMO_ASSIGNMENT))
    course = CourseDir(Path(course_root))
    # a whole nbgrader course, so grading also fills its gradebook.db and feedback/ (the jail never sees it)
    shutil.copytree(kit.source(DEMO_ASSIGNMENT), course.source(DEMO_ASSIGNMENT), dirs_exist_ok=True)
    shutil.copytree(release_dir, course.release(DEMO_ASSIGNMENT), dirs_exist_ok=True)
    for student in STUDENTS:
        folder = course.submitted() / student.id / DEMO_ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in student_notebooks(student, release, answers).items():
            (folder / name).write_text(text, encoding="utf-8")
    return STUDENTS


def _prepare(out: Path | None) -> Path:
    if out is None:
        return Path(tempfile.mkdtemp(prefix="autograder-demo-"))
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise DemoError(f"{out} is not empty and not a demo folder: choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def grades_table(results: list[SubmissionResult]) -> str:
    about = {s.id: s.about for s in STUDENTS}
    lines = [f"{'student':<8} {'points':>12}  {'status':<17} submission", "-" * 100]
    for r in sorted(results, key=lambda r: r.student_id):
        lines.append(f"{r.student_id:<8} {r.score:>6g} / {r.max_score:<3g}  {r.status:<17} {about.get(r.student_id, '')}")
    return "\n".join(lines)


def run_demo(*, out: Path | None = None, jobs: int | None = None) -> int:
    """Build the sample class in `out` (default: a new temp folder), grade it, print grades and feedback paths.

    Returns 0 when the reference student got full marks and every other student was graded as expected
    by `variants.py`, else 1.
    """
    course_root = _prepare(out)
    from autograder.grade import grade_class

    (course_root / MARKER).write_text("built by `autograder demo`; deleted and rebuilt by the next run\n")
    course = CourseDir(course_root)
    students = build_class(course_root)
    print(f"built {len(students)} submissions in {course.submitted()}; grading...", flush=True)
    results = grade_class(assignment=DEMO_ASSIGNMENT, submissions=course.submitted(), out=course.default_out(),
                          jobs=jobs, force=True, course_root=course_root, progress=True)
    print()
    print(grades_table(results))
    surprises = unexpected(results)
    from autograder.report.paths import safe_folder_name
    print(f"\ngrades.csv and each student's results.json, feedback.html and feedback.md: {course.default_out()}")
    example = next((r for r in sorted(results, key=lambda r: r.student_id) if r.status == GRADED
                    and r.score < r.max_score), None)
    if example:
        page = course.default_out() / safe_folder_name(example.student_id) / "feedback.html"
        print(f"open a student's feedback in a browser: file://{page}")
    print(f"nbgrader's gradebook: {course.gradebook()}  (try: cd {course_root} && nbgrader export)")
    for line in surprises:
        print(f"UNEXPECTED: {line}")
    return 1 if surprises else 0


def unexpected(results: list[SubmissionResult]) -> list[str]:
    """How the grades differ from what `variants.py` says each student deserves (empty when as expected)."""
    by_id = {r.student_id: r for r in results}
    problems = []
    for s in STUDENTS:
        r = by_id.get(s.id)
        if r is None:
            problems.append(f"{s.id}: no result")
        elif s.truncate:
            if r.status == GRADED:
                problems.append(f"{s.id}: a corrupted notebook was graded")
        elif s.stubs and r.score > 0:
            problems.append(f"{s.id}: the untouched stubs scored {r.score}")
        elif s.id == STUDENTS[0].id and not (r.status == GRADED and r.score >= r.max_score > 0):
            problems.append(f"{s.id}: the reference solutions scored {r.score}/{r.max_score} ({r.status})")
        else:
            scores = r.exercise_scores()
            missed = [ex for ex in s.lost if scores.get(ex, 0.0) >= r.exercise_max.get(ex, 0.0)]
            if missed:
                problems.append(f"{s.id}: full marks on {missed} despite the mistake")
    return problems
