"""nbgrader's side of a grading run: the gradebook (`gradebook.db`) and the `feedback/` folder.

How nbgrader models a grade: an Assignment has Notebooks; a Notebook has GradeCells (name, max_score);
a SubmittedAssignment (one per student) mirrors that tree with one Grade per grade cell, whose score is its
`manual_score` if a human set one, else its `auto_score`. Our mapping:

- one nbgrader Notebook per notebook of `release/<assignment>/` (the one holding the exercise's cell, i.e.
  the cell whose nbgrader `grade_id` is the exercise name; one notebook named after the assignment if none);
- one autograded code GradeCell per exercise, named after it, `max_score` = the exercise's maximum (the same
  name as nbgrader's solution cell for that exercise: nbgrader's "autograded answer" cell);
- `Grade.auto_score` = the exercise's points, `needs_manual_grade` = False. A manual score an instructor sets
  later in formgrader still takes precedence, as in nbgrader.

So `nbgrader export` reports the same totals as grades.csv.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import warnings
from pathlib import Path

from autograder.coursedir import CourseDir
from autograder.results import SubmissionResult, atomic_write_text
from autograder.safetext import clean

from .html import render_html
from .paths import check_assignment_name, safe_folder_name


def gradebook_id(student_id: str) -> str:
    """The id a student has in the gradebook: the id as grades.csv shows it (`safetext.clean`: SQLite, like
    any UTF-8 store, refuses a lone surrogate; ids from the intake are clean already, and stay as they are)."""
    return clean(student_id, 1024)


def find_exercise_cells(course_root: Path, assignment: str, exercises: list[str]) -> dict[str, str]:
    """exercise -> name (stem) of the release notebook holding its cell (nbgrader `grade_id` == exercise),
    for the exercises found."""
    found: dict[str, str] = {}
    for path in sorted(CourseDir(Path(course_root)).release(assignment).glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in exercises:
                found.setdefault(grade_id, path.stem)
    return found


def exercise_notebooks(course_root: Path, assignment: str, exercises: list[str]) -> dict[str, str]:
    """exercise -> its release notebook's name; the assignment's name for exercises not found there."""
    found = find_exercise_cells(course_root, assignment, exercises)
    return {ex: found.get(ex, assignment) for ex in exercises}


def _ensure_grade(gb, submission, notebook_name: str, cell_name: str, assignment: str):
    """The Grade row of one cell; nbgrader only mirrors cells that existed when the submission was added."""
    from nbgrader.api import Grade, MissingEntry, SubmittedNotebook

    try:
        return gb.find_grade(cell_name, notebook_name, assignment, submission.student.id)
    except MissingEntry:
        pass
    nb = next((n for n in submission.notebooks if n.name == notebook_name), None)
    if nb is None:
        nb = SubmittedNotebook(notebook=gb.find_notebook(notebook_name, assignment), assignment=submission)
        gb.db.add(nb)
    grade = Grade(cell_id=gb.find_grade_cell(cell_name, notebook_name, assignment).id, notebook=nb)
    gb.db.add(grade)
    return grade


def alembic_head() -> str:
    """The schema revision nbgrader stamps a new gradebook with: the head of nbgrader's own alembic scripts.

    nbgrader finds it by running `alembic heads` in a subprocess (about 2 s, and only if `alembic` is on PATH,
    which it is not for a venv's scripts called by full path); this reads the same scripts in-process."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"nbgrader's gradebook schema has {len(heads)} heads, expected one: {heads}")
    return heads[0]


@contextlib.contextmanager
def _alembic_in_process():
    """While a gradebook is opened: nbgrader asks `alembic_head()` for a new gradebook's version."""
    import nbgrader.api
    saved = nbgrader.api.get_alembic_version
    nbgrader.api.get_alembic_version = alembic_head
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = saved


class GradebookWriter:
    """Grades into nbgrader's gradebook, one student at a time, in one transaction (committed on close, so a
    run that dies leaves the gradebook as it was; its results.json files are reused by the next run).

    `exercise_max` fixes the grade cells (the assignment's exercises and their maxima)."""

    def __init__(self, *, course_root: Path, assignment: str, exercise_max: dict[str, float]):
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SAWarning
        check_assignment_name(assignment)
        self.assignment, self.exercise_max = assignment, dict(exercise_max)
        self.path = CourseDir(Path(course_root)).gradebook().resolve()
        self.notebook_of = exercise_notebooks(Path(course_root), assignment, list(self.exercise_max))
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own add_submission trips SQLAlchemy's autoflush
        with _alembic_in_process():
            self.gb = Gradebook(f"sqlite:///{self.path}")
        self.gb.update_or_create_assignment(assignment)
        for nb_name in dict.fromkeys(self.notebook_of.values()):
            self.gb.update_or_create_notebook(nb_name, assignment)
        for name, max_score in self.exercise_max.items():
            self.gb.update_or_create_grade_cell(name, self.notebook_of[name], assignment, max_score=max_score,
                                                cell_type="code")
        self.assignment_id = self.gb.find_assignment(assignment).id
        self.layout = self._layout()

    def add(self, r: SubmissionResult) -> None:
        """Record one student's scores (creating the student and their submission if need be).

        Through SQLAlchemy Core on nbgrader's own tables (its column defaults included), mirroring what
        nbgrader's `add_student` / `add_submission` create; the ORM path costs ~15 ms and two commits per
        student, which the grading of a whole class then waits for. A new submission's grades are inserted
        with their scores; a re-graded one's are updated in one statement."""
        from nbgrader.api import Grade, Student, SubmittedAssignment
        from sqlalchemy import bindparam, insert, select, update
        db = self.gb.db
        scores = r.exercise_scores()
        scores = {name: float(scores.get(name, 0.0)) for name in self.exercise_max}
        sid = gradebook_id(r.student_id)
        if db.execute(select(Student.id).where(Student.id == sid)).first() is None:
            db.execute(insert(Student.__table__).values(id=sid))
        submission = db.execute(select(SubmittedAssignment.id).where(
            SubmittedAssignment.assignment_id == self.assignment_id,
            SubmittedAssignment.student_id == sid)).scalar()
        if submission is None:
            self._new_submission(sid, scores)
            return
        existing = self._grade_ids(submission)
        rows = []
        for name in self.exercise_max:
            grade_id = existing.get((self.notebook_of[name], name))
            if grade_id is None:   # a grade cell added after this submission was recorded
                orm = self.gb.find_submission(self.assignment, sid)
                grade = _ensure_grade(self.gb, orm, self.notebook_of[name], name, self.assignment)
                db.flush()
                grade_id = grade.id
            rows.append({"grade_id": grade_id, "score": scores[name]})
        grades = Grade.__table__
        db.execute(update(grades).where(grades.c.id == bindparam("grade_id"))
                   .values(auto_score=bindparam("score"), needs_manual_grade=False), rows)

    def _layout(self) -> list[tuple[str, list[tuple[str, str | None]], list[str], list[str]]]:
        """The assignment's notebooks: (id, [(grade cell id, the exercise whose points it holds, or None)],
        solution cell ids, task cell ids)."""
        assignment = self.gb.find_assignment(self.assignment)
        return [(nb.id, [(c.id, c.name if self.notebook_of.get(c.name) == nb.name else None) for c in nb.grade_cells],
                 [c.id for c in nb.solution_cells], [c.id for c in nb.task_cells]) for nb in assignment.notebooks]

    def _new_submission(self, student_id: str, scores: dict[str, float]) -> str:
        """What nbgrader's `add_submission` creates: the submission, and per notebook of the assignment a
        submitted notebook with a Grade per grade cell, a Comment per solution cell, both per task cell; an
        exercise's Grade holds its points (auto_score) right away."""
        from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook, new_uuid
        from sqlalchemy import insert
        db = self.gb.db
        submission = new_uuid()
        db.execute(insert(SubmittedAssignment.__table__).values(id=submission, assignment_id=self.assignment_id,
                                                                student_id=student_id))
        grades, comments = [], []
        for notebook_id, grade_cells, solution_cells, task_cells in self.layout:
            nb = new_uuid()
            db.execute(insert(SubmittedNotebook.__table__).values(id=nb, assignment_id=submission,
                                                                  notebook_id=notebook_id))
            cells = grade_cells + [(c, None) for c in task_cells]
            grades += [{"id": new_uuid(), "cell_id": c, "notebook_id": nb,
                        "auto_score": None if exercise is None else scores.get(exercise, 0.0),
                        "needs_manual_grade": exercise is None} for c, exercise in cells]  # nbgrader's default: True
            comments += [{"id": new_uuid(), "cell_id": c, "notebook_id": nb} for c in solution_cells + task_cells]
        if grades:
            db.execute(insert(Grade.__table__), grades)
        if comments:
            db.execute(insert(Comment.__table__), comments)
        return submission

    def _grade_ids(self, submission: str) -> dict[tuple[str, str], str]:
        """(notebook, cell) -> Grade id of one submission, in one query."""
        from nbgrader.api import Grade, GradeCell, Notebook, SubmittedNotebook
        from sqlalchemy import select
        rows = self.gb.db.execute(
            select(Grade.id, Notebook.name, GradeCell.name)
            .join(GradeCell, GradeCell.id == Grade.cell_id)
            .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .where(SubmittedNotebook.assignment_id == submission)).all()
        return {(notebook, cell): grade_id for grade_id, notebook, cell in rows}

    def close(self) -> Path:
        try:
            self.gb.db.commit()  # once: the class's grades land together (and one fsync, not one per student)
        finally:
            self.gb.close()
            self._warnings.__exit__(None, None, None)
        return self.path

    def abandon(self) -> None:
        """Close without committing: the gradebook stays as it was before this writer."""
        try:
            self.gb.db.rollback()
        finally:
            self.gb.close()
            self._warnings.__exit__(None, None, None)


def class_exercise_max(results: list[SubmissionResult]) -> dict[str, float]:
    """Every exercise and its maximum, from the results that know the most exercises."""
    exercise_max: dict[str, float] = {}
    for r in sorted(results, key=lambda r: (-len(r.exercise_max), r.student_id)):
        for name, value in r.exercise_max.items():
            exercise_max.setdefault(name, float(value))
    return exercise_max


def write_nbgrader_gradebook(results: list[SubmissionResult], *, course_root: Path, assignment: str) -> Path:
    """Record every result in `<course_root>/gradebook.db` (created if missing); return its path."""
    writer = GradebookWriter(course_root=course_root, assignment=assignment,
                             exercise_max=class_exercise_max(results))
    for r in results:
        writer.add(r)
    return writer.close()


NBGRADER_EXTRAS = ("timestamp.txt", "submission_secret.txt")   # what `nbgrader collect` leaves in a submission
EXTRA_MAX_BYTES = 4096


def write_nbgrader_feedback(result: SubmissionResult, *, course_root: Path, assignment: str) -> Path:
    """Write the feedback page in nbgrader's layout, `feedback/<student>/<assignment>/<notebook>.html`.

    One page per release notebook (each the whole assignment's feedback), so that nbgrader's
    `release_feedback` finds them; nbgrader's `timestamp.txt` / `submission_secret.txt` are copied from the
    submission when `nbgrader collect` left them there (see `copy_submission_file`: a student's file, so
    copied only when it is a small regular file inside the submission folder, reached without following a
    link). Returns the folder.
    """
    check_assignment_name(assignment)
    course = CourseDir(Path(course_root))
    folder = course.feedback(safe_folder_name(result.student_id), assignment)
    names = sorted(p.stem for p in course.release(assignment).glob("*.ipynb")) or [assignment]
    page = render_html(result)
    for name in names:
        atomic_write_text(folder / f"{name}.html", page)
    for student_folder in _submission_folders(result.student_id):
        copied = [copy_submission_file(course.submitted(), [student_folder, assignment, extra], folder / extra)
                  for extra in NBGRADER_EXTRAS]
        if any(copied):
            break
    return folder


def _submission_folders(student_id: str) -> list[str]:
    """Where a student's submission may be under `submitted/`: the id itself when it is one plain path
    component, and its safe folder name."""
    names = []
    if (student_id and "/" not in student_id and "\0" not in student_id and student_id not in (".", "..")
            and clean(student_id, 255) == student_id):
        names.append(student_id)
    if safe_folder_name(student_id) not in names:
        names.append(safe_folder_name(student_id))
    return names


def copy_submission_file(root: Path, parts: list[str], dest: Path, *, max_bytes: int = EXTRA_MAX_BYTES) -> Path | None:
    """Copy `root/<parts...>` to `dest` if it is a regular file of one link and at most `max_bytes`, reached
    from `root` without following a link; written atomically, with the source's permission bits but never
    more than rw-r--r-- (the secret keeps its rw-------). Returns `dest`, or None when there was nothing to
    copy or it was refused."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
        src = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                      dir_fd=fd)
    except (OSError, ValueError):
        os.close(fd)
        return None
    os.close(fd)
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > max_bytes:
            return None
        data = os.read(src, max_bytes + 1)
        if len(data) > max_bytes:
            return None
    finally:
        os.close(src)
    mode = stat.S_IMODE(st.st_mode) & 0o644
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(out, mode)   # whatever the umask
        os.write(out, data)
    finally:
        os.close(out)
    os.replace(tmp, dest)
    return dest
