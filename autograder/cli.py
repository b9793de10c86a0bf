"""autograder: grade notebook homework safely (student code runs in a jail, the hidden checks never in it).

Works on an nbgrader course directory: source/A/ (master notebooks), release/A/ (the student version),
solutions/A/ (the references and hidden checks of assignment A). Every command is a plain function of the
kit; this module only maps options (and the environment) onto them. Exit codes: 0 done; 1 done, but a
notebook scored below full marks (check) or a submission could not be graded or a check broke (grade);
2 bad usage or a broken kit.

Environment: AUTOGRADER_COURSE (default --course-root), AUTOGRADER_ISOLATION=rlimits (the fallback jail, no
namespaces), AUTOGRADER_NO_SERVER=1 (check in this process, no warm server), AUTOGRADER_DEBUG=1 (the traceback
behind an internal error).
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
from dataclasses import replace
from pathlib import Path

EXIT_OK, EXIT_BELOW_FULL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A user's mistake or a broken kit: reported as one line, exit code 2, no traceback."""


def _options():
    """GradeOptions from the environment: the one place the engine's switches are read."""
    from autograder.config import GradeOptions
    isolation = os.environ.get("AUTOGRADER_ISOLATION", "") or "namespaces"
    try:
        return GradeOptions(isolation=isolation)
    except ValueError as exc:
        raise UsageError(f"AUTOGRADER_ISOLATION: {exc}") from None


def _course(course_root: Path | None):
    from autograder.coursedir import CourseError, course_for
    try:
        return course_for(course_root=course_root or os.environ.get("AUTOGRADER_COURSE") or None)
    except CourseError as exc:
        raise UsageError(str(exc)) from None


def _bundles(names: list[str], *, course_root: Path | None, need: tuple[str, ...], every: str):
    """The named bundles (each with the folders `need`), or with no name every assignment having `every`."""
    from autograder.coursedir import CourseError
    course = _course(course_root)
    if not names:
        names = [a for a in course.assignments() if getattr(course, every)(a).is_dir()]
        if not names:
            raise UsageError(f"the course {course.root} has no assignment with a {every}/ folder")
    try:
        return [course.bundle(n).require(*need) for n in names]
    except CourseError as exc:
        raise UsageError(str(exc)) from None


def cmd_release(*, assignments: list[str], course_root: Path | None) -> int:
    """Regenerate the student notebooks release/A from source/A (every assignment, or those named).

    Runs nbgrader's generate_assignment: solutions and hidden tests are stripped, so the student notebooks
    always match the instructor's master notebooks; each is stamped with its assignment's name. Commit them."""
    from autograder.release import release
    for bundle in _bundles(assignments, course_root=course_root, need=("source",), every="source"):
        files = release(assignment=bundle.name, course_root=bundle.course.root)
        print(f"released {bundle.name}: {len(files)} file(s) in {bundle.release}")
    return EXIT_OK


def cmd_validate(*, assignments: list[str], course_root: Path | None) -> int:
    """Instructor's gate: solutions score full marks, stubs zero, release/ in sync, no check broken.

    Grades the source notebooks (must score full marks) and the release notebooks (must score zero) with
    the hidden checks of each assignment (every assignment, or those named), and checks that release/ is what
    `autograder release` would generate. A check that raises prints its traceback. Exit 0 only when all hold."""
    from autograder.validate import validate
    ok = True
    for bundle in _bundles(assignments, course_root=course_root, need=("source", "release", "solutions"),
                           every="solutions"):
        ok = validate(bundle=bundle) and ok
    return EXIT_OK if ok else EXIT_USAGE


def cmd_grade(*, assignment: str, submissions: Path | None, out: Path | None, gradebook: bool | None,
              jobs: int | None, force: bool, course_root: Path | None) -> int:
    """Grade every submission of ASSIGNMENT, each in its own jail.

    Reads nbgrader's submitted/<student>/ASSIGNMENT/*.ipynb (or a folder of <student>.ipynb files) and writes
    grades.csv, <out>/<student>/results.json, feedback.html and feedback.md; by default (no --out) also
    nbgrader's gradebook.db (so `nbgrader export` agrees) and feedback/<student>/ASSIGNMENT/. A submission that
    cannot be graded still gets a row saying why; the exit code is then 1, as it is when a check broke (its
    traceback goes to stderr). Up-to-date results (same notebooks, checks, references and kit) are reused
    unless --force."""
    (bundle,) = _bundles([assignment], course_root=course_root, need=("solutions",), every="solutions")
    subs = Path(submissions) if submissions else bundle.course.submitted()
    if not subs.is_dir():
        raise UsageError(f"no submissions folder {subs} (use --submissions DIR)")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    from autograder.grade import grade_class
    run = grade_class(bundle=bundle, submissions=subs, out=Path(out) if out else bundle.course.default_out(),
                      jobs=jobs, force=force, gradebook=(out is None) if gradebook is None else gradebook,
                      progress=True, options=_options())
    results = run.results
    _warn_isolation(results)
    broken = _report_problems(results)
    bad = [r for r in results if not r.graded]
    print(f"graded {len(results) - len(bad)} of {len(results)} submissions"
          + (f"; not gradable: {', '.join(f'{r.student_id!r} ({r.status})' for r in bad)}" if bad else ""))
    if run.gradebook_problem:
        print(f"autograder: error: nbgrader's gradebook.db and feedback/ were not written: {run.gradebook_problem}",
              file=sys.stderr)
        return EXIT_USAGE
    return EXIT_BELOW_FULL if bad or broken else EXIT_OK


def _warn_isolation(results) -> None:
    """Say on stderr what the jails lacked: the results' `isolation` is "namespaces" when the walls were whole."""
    for level in sorted({r.isolation for r in results if r.isolation and r.isolation != "namespaces"}):
        if level.startswith("rlimits"):
            print(f"warning: student code ran with {level}: no private filesystem or network namespace "
                  "(run as root on Linux for the full jail)", file=sys.stderr)
        else:
            print(f"warning: student code ran in {level}", file=sys.stderr)


def _report_problems(results) -> bool:
    """The instructor's side of a broken check: each distinct traceback once, on stderr. True if any."""
    seen: dict[str, list[str]] = {}
    for r in results:
        for p in r.problems:
            seen.setdefault(p, []).append(r.student_id)
    for problem, students in seen.items():
        print(f"autograder: a hidden check raised an exception (instructor's fix needed; {len(students)} "
              f"submission(s): the students read 'this check could not run'):\n{problem.rstrip()}\n",
              file=sys.stderr)
    return bool(seen)


def cmd_check(*, notebooks: list[Path], assignment: str | None, exercises: list[str], course_root: Path | None) -> int:
    """Check your own notebook(s): points per exercise and a hint for every failed check.

    Runs your notebook in a jail and asks it the hidden checks' questions, exactly as the instructor's
    grading does. The assignment is read from the notebook (or give --assignment), the course is the one
    holding the notebook or the current folder (or give --course-root). Exit 0 only at full marks, 1 otherwise."""
    from autograder.check import check_bundle
    from autograder.coursedir import CourseError, locate
    from autograder.report import render_table
    missing = [str(p) for p in notebooks if not Path(p).is_file()]
    if missing:
        raise UsageError(f"no such notebook: {', '.join(missing)}")
    try:
        bundle, how = locate(notebooks=[Path(p) for p in notebooks], assignment=assignment,
                             course_root=course_root or os.environ.get("AUTOGRADER_COURSE") or None)
    except CourseError as exc:
        raise UsageError(str(exc)) from None
    if how:
        print(f"checking against {how}", file=sys.stderr)
    unknown = set(exercises) - set(_exercise_names(bundle))
    if unknown:
        raise UsageError(f"no exercise {', '.join(sorted(unknown))} in {bundle.name}")
    in_process = os.environ.get("AUTOGRADER_NO_SERVER", "") not in ("", "0")
    result = check_bundle(bundle, paths=[Path(p) for p in notebooks], exercises=tuple(exercises),
                          in_process=in_process, options=_options())
    print(render_table(result))
    _warn_isolation([result])
    if result.problems:   # a check of the course is broken: never its code here (this is the student's side)
        print(f"note: {len(result.problems)} hidden check(s) could not run; the course's instructor can see why "
              f"with `autograder validate {bundle.name}`", file=sys.stderr)
    full = result.status == "graded" and result.score >= result.max_score > 0
    return EXIT_OK if full else EXIT_BELOW_FULL


def _exercise_names(bundle) -> list[str]:
    """The exercises a bundle's notebooks declare (nbgrader grade_ids of solution cells), read cheaply."""
    import json
    names = []
    for nb in bundle.notebooks(bundle.release) + bundle.notebooks(bundle.source):
        try:
            cells = json.loads(nb.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        names += [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    return [n for n in names if n]


def cmd_demo(*, assignments: list[str], out: Path | None, jobs: int | None, course_root: Path | None) -> int:
    """Grade the sample class of each assignment (every one with a solutions/A/demo.py, or those named).

    Builds each sample class from the release notebooks (full marks, classic misconceptions, a hostile
    notebook that attacks the grader, a corrupted file) in nbgrader's layout in a fresh course folder, grades
    it like `autograder grade`, prints the grades table and the path of the feedback pages."""
    from autograder.coursedir import DEMO_MODULE
    from autograder.demo import run_demo
    course = _course(course_root)
    names = assignments or [a for a in course.assignments() if (course.solutions(a) / DEMO_MODULE).is_file()]
    if not names:
        raise UsageError(f"no assignment of {course.root} has a sample class (solutions/A/{DEMO_MODULE})")
    bundles = _bundles(names, course_root=course.root, need=("source", "release", "solutions"), every="solutions")
    return run_demo(bundles=bundles, out=Path(out) if out else None, jobs=jobs)


def cmd_quickstart(*, directory: Path, force: bool) -> int:
    """Create a new course directory DIR with an example assignment, ready to release, validate and grade.

    DIR gets nbgrader_config.py, source/example/ (a master notebook with two exercises), solutions/example/
    (their references and hidden checks, with a misconception hint) and a README saying what to do next."""
    from autograder.quickstart import QuickstartError, quickstart
    try:
        made = quickstart(directory=Path(directory), force=force)
    except QuickstartError as exc:
        raise UsageError(str(exc)) from None
    print(f"created the course {made}")
    print(f"next:  cd {made} && autograder release && autograder validate")
    return EXIT_OK


def cmd_export_gradescope(*, assignment: str, out: Path, visibility: str, course_root: Path | None) -> int:
    """Build a Gradescope autograder zip for ASSIGNMENT.

    The zip holds setup.sh (installs CPU PyTorch and the kit, once), run_autograder (grades the uploaded
    notebook(s) in a jail and writes results/results.json), the kit's engine and the course's release/A and
    solutions/A only. Upload it as a programming assignment's autograder: Gradescope then grades each submission
    in its own container."""
    (bundle,) = _bundles([assignment], course_root=course_root, need=("solutions",), every="solutions")
    from autograder.export.gradescope import export_gradescope
    path = export_gradescope(bundle=bundle, out=Path(out), visibility=visibility)
    print(f"wrote {path}")
    return EXIT_OK


def _add_course_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--course-root", type=Path, default=None, metavar="DIR",
                   help="the course directory (default: $AUTOGRADER_COURSE, else the nearest folder above "
                        "holding solutions/ or source/)")


def _jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help="submissions graded in parallel (default: CPUs)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func, parent=sub, **kw) -> argparse.ArgumentParser:
        doc = inspect.cleandoc(func.__doc__)
        p = parent.add_parser(name, help=doc.splitlines()[0], description=doc, formatter_class=fmt, **kw)
        p.set_defaults(func=func)
        return p

    for name, func in (("release", cmd_release), ("validate", cmd_validate)):
        p = command(name, func)
        p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignment name(s) (default: all)")
        _add_course_root(p)
    p = command("grade", cmd_grade)
    p.add_argument("assignment", help="assignment name (its checks are solutions/ASSIGNMENT/)")
    p.add_argument("--submissions", type=Path, default=None, metavar="DIR", help="folder of submissions (default: submitted/)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where results go (default: graded/ in the course); a run with --out writes nothing "
                        "else of the course unless --gradebook")
    p.add_argument("--gradebook", action=argparse.BooleanOptionalAction, default=None,
                   help="also write nbgrader's gradebook.db and feedback/ (default: only without --out)")
    _jobs(p)
    p.add_argument("--force", action="store_true", help="re-grade submissions whose results are up to date")
    _add_course_root(p)
    p = command("check", cmd_check)
    p.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK", help="your notebook(s)")
    p.add_argument("--assignment", default=None, help="the assignment they belong to (default: read from the notebook)")
    p.add_argument("--exercise", dest="exercises", action="append", default=[], metavar="NAME",
                   help="check only this exercise (repeatable)")
    _add_course_root(p)
    p = command("demo", cmd_demo)
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="assignment name(s) (default: every one "
                                                                         "with a sample class)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="where to build the sample classes (default: a new temp folder)")
    _jobs(p)
    _add_course_root(p)
    p = command("quickstart", cmd_quickstart)
    p.add_argument("directory", type=Path, metavar="DIR", help="the new course directory (created)")
    p.add_argument("--force", action="store_true", help="write into DIR even if it is not empty (never overwrites)")

    export = sub.add_parser("export", help="export an assignment's autograder to another platform (gradescope)",
                            description="Export an assignment's autograder to another grading platform.")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    p = command("gradescope", cmd_export_gradescope, parent=targets)
    p.add_argument("assignment", help="assignment name")
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
    from autograder.grader import CheckCollectionError
    try:
        return func(**args)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"autograder: error: {exc}\n")
    except CheckCollectionError as exc:   # the instructor's checks: their whole message, it is theirs to fix
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
