"""Build each bundle's sample class in nbgrader's layout from its own notebooks, grade it, print the grades.

Student notebooks are the release notebooks with exercise cells (nbgrader `grade_id` == exercise name)
replaced: by the source notebook's solution (markers dropped) or by the student's own code from the bundle's
`solutions/A/demo.py`. Each class is graded in a fresh course folder holding a copy of the bundle (so the
gradebook and feedback/ are filled as in a real course, and the kit's own course is never written to).
"""
from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from autograder.coursedir import DEMO_MODULE, Bundle, CourseDir
from autograder.results import SubmissionResult

MARKER = ".autograder-demo"  # a folder holding this file is ours to rebuild
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


class DemoError(RuntimeError):
    """A demo cannot be built (no demo.py, a student rewrites an exercise the notebooks lack, ...)."""


def load_students(bundle: Bundle) -> list:
    """The bundle's sample class: `STUDENTS` of solutions/A/demo.py (imported under a private name)."""
    path = bundle.solutions / DEMO_MODULE
    if not path.is_file():
        raise DemoError(f"{bundle.name} has no sample class ({path})")
    spec = importlib.util.spec_from_file_location(f"_autograder_demo_{bundle.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.STUDENTS)


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


def student_notebooks(student, release: dict[str, dict], answers: dict[str, str]) -> dict[str, str]:
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


def build_class(bundle: Bundle, course_root: Path) -> tuple[Bundle, list]:
    """A course at `course_root` holding a copy of `bundle` and its sample class in nbgrader's layout
    (`submitted/<student>/<assignment>/*.ipynb`); returns the copy and the students."""
    students = load_students(bundle)
    release = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in bundle.notebooks(bundle.release)}
    answers = solutions(bundle.source)
    course = CourseDir(Path(course_root))
    copy_ = course.bundle(bundle.name)
    for src, dst in ((bundle.source, copy_.source), (bundle.release, copy_.release), (bundle.solutions, copy_.solutions)):
        shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    if bundle.course.nbgrader_config().is_file():
        shutil.copy2(bundle.course.nbgrader_config(), course.nbgrader_config())
    for student in students:
        folder = course.submitted() / student.id / bundle.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in student_notebooks(student, release, answers).items():
            (folder / name).write_text(text, encoding="utf-8")
    return copy_, students


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


def grades_table(results: list[SubmissionResult], students: list) -> str:
    about = {s.id: s.about for s in students}
    lines = [f"{'student':<8} {'points':>12}  {'status':<17} submission", "-" * 100]
    for r in sorted(results, key=lambda r: r.student_id):
        lines.append(f"{r.student_id:<8} {r.score:>6g} / {r.max_score:<3g}  {r.status:<17} {about.get(r.student_id, '')}")
    return "\n".join(lines)


def run_demo(*, bundles: list[Bundle], out: Path | None = None, jobs: int | None = None) -> int:
    """Build and grade each bundle's sample class under `out` (default: a new temp folder), print the grades and
    where the feedback is. Returns 0 when every class was graded as its demo.py says, else 1."""
    from autograder.grade import grade_class
    from autograder.report.paths import safe_folder_name

    root = _prepare(out)
    (root / MARKER).write_text("built by `autograder demo`; deleted and rebuilt by the next run\n")
    surprises: list[str] = []
    for bundle in bundles:
        copy_, students = build_class(bundle, root / bundle.name)
        course = copy_.course
        print(f"\n== {bundle.name}: built {len(students)} submissions in {course.submitted()}; grading...",
              flush=True)
        results = grade_class(bundle=copy_, submissions=course.submitted(), out=course.default_out(), jobs=jobs,
                              force=True, gradebook=True, progress=True).results
        print()
        print(grades_table(results, students))
        print(f"\ngrades.csv and each student's results.json, feedback.html and feedback.md: {course.default_out()}")
        example = next((r for r in sorted(results, key=lambda r: r.student_id) if r.graded
                        and r.score < r.max_score), None)
        if example:
            page = course.default_out() / safe_folder_name(example.student_id) / "feedback.html"
            print(f"open a student's feedback in a browser: file://{page}")
        print(f"nbgrader's gradebook: {course.gradebook()}  (try: cd {course.root} && nbgrader export)")
        surprises += [f"{bundle.name}: {line}" for line in unexpected(results, students)]
    for line in surprises:
        print(f"UNEXPECTED: {line}")
    return 1 if surprises else 0


def unexpected(results: list[SubmissionResult], students: list) -> list[str]:
    """How the grades differ from what demo.py says each student deserves (empty when as expected)."""
    by_id = {r.student_id: r for r in results}
    problems = []
    for s in students:
        r = by_id.get(s.id)
        if r is None:
            problems.append(f"{s.id}: no result")
        elif s.truncate:
            if r.graded:
                problems.append(f"{s.id}: a corrupted notebook was graded")
        elif s.stubs and r.score > 0:
            problems.append(f"{s.id}: the untouched stubs scored {r.score}")
        elif s.full and not (r.status == "graded" and r.score >= r.max_score > 0):
            problems.append(f"{s.id}: the reference solutions scored {r.score}/{r.max_score} ({r.status})")
        else:
            scores = r.exercise_scores()
            missed = [ex for ex in s.lost if scores.get(ex, 0.0) >= r.exercise_max.get(ex, 0.0)]
            if missed:
                problems.append(f"{s.id}: full marks on {missed} despite the mistake")
        if r is not None and r.problems:
            problems.append(f"{s.id}: a check broke: {r.problems[0][-300:]}")
    return problems
