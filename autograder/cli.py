"""autograder: grade the sgd_mnist homework safely (student code runs in a jail, hidden checks never in it).

Run inside an nbgrader course directory (the folder holding source/ and release/). Every command is a plain
function of the kit; this module only maps options onto them. Exit codes: 0 done; 1 done, but a notebook
scored below full marks (check) or a submission could not be graded (grade); 2 bad usage or a broken kit.
Set AUTOGRADER_DEBUG=1 to see the traceback behind an internal error.
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path

DEFAULT_ASSIGNMENT = "sgd_mnist"
EXIT_OK, EXIT_BELOW_FULL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A user's mistake or a broken kit: reported as one line, exit code 2, no traceback."""


def _course(course_root: Path | None) -> Path:
    from autograder.coursedir import find_course_root
    return Path(course_root).resolve() if course_root else find_course_root()


def _assignment(name: str, *, course_root: Path, need: tuple[str, ...] = ()) -> str:
    """Validate an assignment name, and that the folders `need` names ('source', 'release', 'checks') exist."""
    from autograder.coursedir import CourseDir, checks_dir
    from autograder.report.paths import check_assignment_name
    try:
        check_assignment_name(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    course = CourseDir(course_root)
    where = {"source": course.source(name), "release": course.release(name), "checks": checks_dir(name)}
    for kind in need:
        if not where[kind].is_dir():
            raise UsageError(f"unknown assignment {name!r}: no folder {where[kind]} "
                             f"(run inside the course directory, or pass --course-root)")
    return name


def cmd_release(*, assignment: str, course_root: Path | None) -> int:
    """Regenerate the student notebooks release/ASSIGNMENT from source/ASSIGNMENT.

    Runs nbgrader's generate_assignment: solutions and hidden tests are stripped, so the student notebooks
    always match the instructor's master notebooks. Commit the result."""
    root = _course(course_root)
    name = _assignment(assignment, course_root=root, need=("source",))
    from autograder.release import release
    release(assignment=name, course_root=root)
    return EXIT_OK


def cmd_validate(*, assignment: str, course_root: Path | None) -> int:
    """Instructor's gate: solutions score full marks, stubs zero, release/ in sync.

    Grades the source notebooks (must score full marks) and the release notebooks (must score zero) with
    the hidden checks, and checks that release/ is what `autograder release` would generate.
    Exit 0 only when all three hold, 2 otherwise."""
    root = _course(course_root)
    name = _assignment(assignment, course_root=root, need=("source", "release", "checks"))
    from autograder.validate import validate
    return EXIT_OK if validate(assignment=name, course_root=root) else EXIT_USAGE


def cmd_grade(*, assignment: str, submissions: Path | None, out: Path | None, jobs: int | None, force: bool,
              course_root: Path | None) -> int:
    """Grade every submission of ASSIGNMENT, each in its own jail.

    Reads nbgrader's submitted/<student>/ASSIGNMENT/*.ipynb (or a folder of <student>.ipynb files) and
    writes grades.csv, <out>/<student>/results.json, feedback.html and feedback.md, then nbgrader's
    gradebook.db (so `nbgrader export` agrees) and feedback/<student>/ASSIGNMENT/. A submission that
    cannot be graded (broken notebook, timeout, crash) still gets a row saying why; the exit code is then 1.
    Up-to-date results are reused unless --force."""
    root = _course(course_root)
    from autograder.coursedir import CourseDir
    name = _assignment(assignment, course_root=root, need=("checks",))
    subs = Path(submissions) if submissions else CourseDir(root).submitted()
    if not subs.is_dir():
        raise UsageError(f"no submissions folder {subs} (use --submissions DIR)")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    from autograder.grade import grade_class
    results = grade_class(assignment=name, submissions=subs, out=Path(out) if out else CourseDir(root).default_out(),
                          jobs=jobs, force=force, course_root=root, progress=True)
    _warn_isolation(results)
    bad = [r for r in results if r.status != "graded"]
    print(f"graded {len(results) - len(bad)} of {len(results)} submissions"
          + (f"; not gradable: {', '.join(f'{r.student_id} ({r.status})' for r in bad)}" if bad else ""))
    return EXIT_BELOW_FULL if bad else EXIT_OK


def _warn_isolation(results) -> None:
    weak = sorted({r.isolation for r in results if r.isolation and r.isolation != "namespaces"})
    for level in weak:
        print(f"warning: student code ran with {level}: no private filesystem or network namespace "
              "(run as root on Linux for the full jail)", file=sys.stderr)


def cmd_check(*, notebooks: list[Path], assignment: str) -> int:
    """Check your own notebook(s): points per exercise and a hint for every failed check.

    Runs your notebook in a jail and asks it the hidden checks' questions, exactly as the instructor's
    grading does. Exit 0 only at full marks, 1 otherwise."""
    missing = [str(p) for p in notebooks if not Path(p).is_file()]
    if missing:
        raise UsageError(f"no such notebook: {', '.join(missing)}")
    name = _assignment(assignment, course_root=Path.cwd(), need=("checks",))
    from autograder.check import check_notebooks
    from autograder.report import render_table
    results = check_notebooks(paths=[Path(p) for p in notebooks], assignment=name)
    for r in results:
        print(render_table(r))
    _warn_isolation(results)
    full = all(r.status == "graded" and r.score >= r.max_score > 0 for r in results)
    return EXIT_OK if full else EXIT_BELOW_FULL


def cmd_demo(*, out: Path | None, jobs: int | None) -> int:
    """Grade a built-in sample class and show the grades and the HTML feedback.

    Builds about ten submissions from the release notebook (full marks, classic misconceptions, a hostile
    notebook that attacks the grader, a corrupted file) in nbgrader's layout, grades them like
    `autograder grade`, prints the grades table and the path of the feedback pages."""
    from autograder.demo import run_demo
    return run_demo(out=Path(out) if out else None, jobs=jobs)


def cmd_export_gradescope(*, assignment: str, out: Path, visibility: str, course_root: Path | None) -> int:
    """Build a Gradescope autograder zip for ASSIGNMENT.

    The zip holds setup.sh (installs CPU PyTorch and the kit), run_autograder (grades the uploaded
    notebook(s) in a jail and writes results/results.json) and the kit with its hidden checks. Upload it as
    a programming assignment's autograder: Gradescope then grades each submission in its own container."""
    root = _course(course_root)
    from autograder.export.gradescope import export_gradescope
    path = export_gradescope(assignment=_assignment(assignment, course_root=root, need=("checks",)),
                             out=Path(out), visibility=visibility, course_root=root)
    print(f"wrote {path}")
    return EXIT_OK


def _add_assignment(p: argparse.ArgumentParser, *, optional: bool) -> None:
    if optional:
        p.add_argument("assignment", nargs="?", default=DEFAULT_ASSIGNMENT,
                       help=f"assignment name (default: {DEFAULT_ASSIGNMENT})")
    else:
        p.add_argument("assignment", help="assignment name, e.g. sgd_mnist")


def _add_course_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--course-root", type=Path, default=None, metavar="DIR",
                   help="the nbgrader course directory (default: the nearest folder above holding source/)")


def _jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help="submissions graded in parallel (default: CPUs)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func, **kw) -> argparse.ArgumentParser:
        doc = inspect.cleandoc(func.__doc__)
        p = sub.add_parser(name, help=doc.splitlines()[0], description=doc, formatter_class=fmt, **kw)
        p.set_defaults(func=func)
        return p

    p = command("release", cmd_release)
    _add_assignment(p, optional=True), _add_course_root(p)
    p = command("validate", cmd_validate)
    _add_assignment(p, optional=True), _add_course_root(p)
    p = command("grade", cmd_grade)
    _add_assignment(p, optional=False)
    p.add_argument("--submissions", type=Path, default=None, metavar="DIR", help="folder of submissions (default: submitted/)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="where results go (default: graded/ in the course)")
    _jobs(p)
    p.add_argument("--force", action="store_true", help="re-grade submissions whose results are up to date")
    _add_course_root(p)
    p = command("check", cmd_check)
    p.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK", help="your notebook(s)")
    p.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, help=f"the assignment they belong to (default: {DEFAULT_ASSIGNMENT})")
    p = command("demo", cmd_demo)
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="where to build the sample class (default: a new temp folder)")
    _jobs(p)

    export = sub.add_parser("export", help="export the kit to another platform (gradescope)",
                            description="Export the kit to another grading platform.")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    doc = inspect.cleandoc(cmd_export_gradescope.__doc__)
    p = targets.add_parser("gradescope", help=doc.splitlines()[0], description=doc,
                           formatter_class=fmt)
    p.set_defaults(func=cmd_export_gradescope)
    _add_assignment(p, optional=True)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.zip", help="the zip to write, e.g. autograder.zip")
    p.add_argument("--visibility", default="after_published",
                   choices=("visible", "after_published", "after_due_date", "hidden"),
                   help="when students see each check's hint on Gradescope (the total shows at once; "
                        "default: after_published)")
    _add_course_root(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = vars(parser.parse_args(argv))  # argparse exits 2 itself on bad usage
    func = args.pop("func")
    args.pop("command", None), args.pop("target", None)
    try:
        return func(**args)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"autograder: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "autograder: interrupted\n")
    except Exception as exc:  # a broken kit: one clear line, the traceback on request
        if os.environ.get("AUTOGRADER_DEBUG"):
            raise
        parser.exit(EXIT_USAGE, f"autograder: error: {type(exc).__name__}: {exc}\n"
                                "(set AUTOGRADER_DEBUG=1 to see the traceback)\n")


def console_main() -> None:
    """The `autograder` console script: main(), then a quick exit. Every result file is written and closed
    by then; skipping the interpreter's teardown of torch and friends saves about a second per command."""
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    console_main()
