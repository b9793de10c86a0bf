"""The one call from Jupyter into the engine, and what it answers with.

Both the kernel's `%autograde` and the server extension's Check endpoint grade a *saved* notebook through
`autograder.check.check_notebooks(..., in_process=False)`: the warm check server (or, when it cannot be
reached, a subprocess) runs the notebook in the jail and the hidden checks in the judge. The calling process
imports no judge, check or reference module; it gets back a `SubmissionResult` (names, points, hints, the
student's own cell errors) and renders the table from that alone.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from pathlib import Path

from autograder.results import GRADED, SubmissionResult


VIEW_ONLY = ("execution", "collapsed", "scrolled", "jupyter")   # cell metadata a save rewrites, no grade reads
REUSED_KEPT = 16                    # results kept for reuse, per process (a kernel, or the Jupyter server)
_reusable: OrderedDict[tuple, SubmissionResult] = OrderedDict()


def gradable_digest(paths: list[Path]) -> str | None:
    """SHA-256 of what grading reads of the notebooks: each one's name and metadata, and its cells' types,
    sources and metadata. Not their outputs, execution counts or view state, which every save rewrites (the
    `%autograde` cell's own output included); None when a notebook cannot be read."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        try:
            nb = json.loads(path.read_bytes())
            cells = [(c.get("cell_type"), c.get("source"),
                      {k: v for k, v in c.get("metadata", {}).items() if k not in VIEW_ONLY}) for c in nb["cells"]]
            text = json.dumps([path.name, nb.get("metadata", {}), cells], sort_keys=True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()


def grade(*, paths: list[Path], exercises: tuple[str, ...] = ()) -> tuple[SubmissionResult, bool]:
    """Grade the saved notebooks `paths` (one submission), only `exercises` when given: their assignment and
    course inferred from the notebooks as `autograder check` does (the course: $AUTOGRADER_COURSE when set).
    Returns (result, reused): a notebook graded before, unchanged in all that grading reads, under the same
    checks, references and kit (the bundle's key), gets that result again (docs/contract.md §4), as `grade` reuses
    results. Raises coursedir.CourseError when the course or the assignment cannot be found."""
    from autograder.check import check_notebooks
    from autograder.coursedir import locate
    course = os.environ.get("AUTOGRADER_COURSE") or None
    course_root = Path(course) if course else None
    paths = [Path(p).resolve() for p in paths]
    bundle, _how = locate(notebooks=paths, assignment=None, course_root=course_root)
    digest = gradable_digest(paths)
    key = bundle.key()
    ident = (tuple(map(str, paths)), tuple(exercises), key, digest)
    if digest is not None and ident in _reusable:
        _reusable.move_to_end(ident)
        return _reusable[ident], True
    result = check_notebooks(paths=paths, assignment=None, course_root=course_root, exercises=tuple(exercises),
                             in_process=False)[0]
    if digest is not None and result.status == GRADED and not result.problems and result.key == key \
            and gradable_digest(paths) == digest:   # and the file did not change while it was graded
        _reusable[ident] = result
        while len(_reusable) > REUSED_KEPT:
            _reusable.popitem(last=False)
    return result, False


def age(seconds: float) -> str:
    """How long ago, as people say it: `just now`, `42 s ago`, `3 min ago`, `5 h ago`, `2 days ago`."""
    seconds = max(0.0, seconds)
    if seconds < 2:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''} ago"
    return f"{int(seconds)} s ago"


def saved_when(path: Path, *, now: float | None = None) -> str:
    """`saved 21:40:12, 3 min ago`, from the file's modification time."""
    mtime = os.stat(path).st_mtime
    now = time.time() if now is None else now
    stamp = time.strftime("%H:%M:%S" if now - mtime < 86400 else "%Y-%m-%d %H:%M", time.localtime(mtime))
    return f"saved {stamp}, {age(now - mtime)}"


def reply(result: SubmissionResult, *, about: str) -> dict:
    """The Check endpoint's answer: the table (HTML and text) and its totals, nothing else."""
    from autograder.jupyter.table import render_html, render_text
    return {"ok": True, "status": result.status, "score": result.score, "max_score": result.max_score,
            "html": render_html(result, about=about), "text": render_text(result, about=about)}
