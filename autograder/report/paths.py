"""Student ids are data, never paths: the one mapping from an id to a folder name.

nbgrader takes student ids from folder names, so an id can hold anything a file name can (spaces, `$(...)`,
quotes) and, from other sources (a Gradescope roster, a CSV), anything at all (`../x`, `/etc`, NUL).

The mapping, documented in the README:
- an id that is already a plain name (`[A-Za-z0-9][A-Za-z0-9._-]*`, at most 64 characters, no `..`) is its
  own folder name, so ordinary ids look exactly as in nbgrader's `submitted/` folder;
- any other id becomes `_<its safe characters, at most 40>_<12 hex digits of its SHA-256>`, e.g.
  `../x` -> `_x_<hash>`, `$(rm -rf ~)` -> `_rm_-rf_<hash>` (other characters are dropped). Such names start with `_`,
  which a plain id cannot, so the two kinds never collide, and the hash keeps different ids apart.
The folder name is only a place to write; the true id stays in results.json and grades.csv.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def safe_folder_name(student_id: str) -> str:
    """The folder name for `student_id` (see the module docstring): never empty, never `.`/`..`, no `/`."""
    sid = str(student_id)
    if _PLAIN.fullmatch(sid) and ".." not in sid:
        return sid
    stem = _UNSAFE_CHARS.sub("_", sid).strip("_")[:40]
    digest = hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"_{stem}_{digest}" if stem else f"_{digest}"


def student_dir(out: Path, student_id: str) -> Path:
    """`out/<safe folder name>`, proven to stay inside `out`."""
    out = Path(out)
    folder = out / safe_folder_name(student_id)
    if folder.resolve().parent != out.resolve():  # belt and braces: the mapping above already forbids it
        raise ValueError(f"student id {student_id!r} maps outside {out}")
    return folder


def check_assignment_name(assignment: str) -> str:
    """Assignment names come from the instructor, but they too become folder names: plain names only."""
    if not (_PLAIN.fullmatch(assignment) and ".." not in assignment):
        raise ValueError(f"assignment name {assignment!r} is not a plain name ([A-Za-z0-9._-], no '..')")
    return assignment
