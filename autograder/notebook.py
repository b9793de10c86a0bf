"""Reading submitted notebooks in the trusted process: plain JSON, validated, never executed here.

A submission's files are the student's: the grader (often root) reads them without trusting them.
- `find_submissions(folder, assignment)`: student id -> notebooks, in the layouts nbgrader and the kit use
  (`<dir>/<student>/<assignment>/*.ipynb`, `<dir>/<student>/*.ipynb`, `<dir>/<student>.ipynb`), listing
  without following any link. A linked student folder, assignment folder or notebook is still listed, so
  that reading it fails with a message and the submission gets its own `invalid_notebook` row.
- `read_submission(notebooks, root=)`: never follows a link (each folder from `root` down and the notebook are
  opened with O_NOFOLLOW, one at a time), never leaves `root`, refuses what is not a regular file and a file
  with other hard links (`st_nlink > 1`: it is someone else's file too), checks sizes and counts with
  `fstat` before reading anything (per notebook, per submission) and reads at most the cap + 1 bytes; any
  parse problem (RecursionError and MemoryError included) is an `InvalidNotebook` whose message is for the
  student.
- Names that are not UTF-8, or hold control characters, are displayed escaped (`safetext.display_name`);
  such a student still gets a row, under that id.
"""
from __future__ import annotations

import errno
import hashlib
import heapq
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from autograder.safetext import display_name, is_clean

MAX_NOTEBOOK_BYTES = 20 << 20      # one notebook
MAX_SUBMISSION_BYTES = 40 << 20    # all the notebooks of one submission
MAX_NOTEBOOKS = 32                 # notebooks in one submission
MAX_CODE_CELLS = 2_000             # code cells in one submission (a lesson has ~100)
MAX_CONTAINERS = 1_000_000         # '[' + '{' in one notebook: bounds what json.loads builds (~100 B each)
SUFFIX = ".ipynb"

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC  # NONBLOCK: a FIFO can't hang us
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")   # in a cell's source: what no Python source or UTF-8 file holds


class InvalidNotebook(ValueError):
    """A file that is not a readable Jupyter notebook; the message is shown to the student."""


@dataclass
class CodeCell:
    """A code cell as the notebook holds it: its position among all the notebook's cells (from 1, as the
    student counts them in Jupyter), its nbgrader grade_id ('' if none) and its source."""
    position: int
    grade_id: str
    source: str


@dataclass
class Submission:
    """The code cells of one submission (all its notebooks, in name order), globally numbered."""
    cells: list[tuple[int, str]] = field(default_factory=list)
    origin: dict[int, tuple[str, int]] = field(default_factory=dict)  # index -> (notebook name, cell position)
    grade_ids: dict[str, int] = field(default_factory=dict)           # nbgrader grade_id -> index (first cell)
    sha256: str = ""
    notebooks: list[str] = field(default_factory=list)   # names as displayed (see safetext.display_name)
    paths: list[Path] = field(default_factory=list)

    def labels(self) -> dict[int, str]:
        """Each code cell as the student finds it in Jupyter: "cell 12 of lesson.ipynb" (counting every cell,
        from 1), or "cell 12" for a submission of one notebook."""
        one = len(self.notebooks) <= 1
        return {i: f"cell {pos}" + ("" if one else f" of {nb}") for i, (nb, pos) in self.origin.items()}


# ---------------------------------------------------------------- finding submissions
def find_submissions(folder: Path, assignment: str) -> dict[str, list[Path]]:
    """student id -> notebooks (sorted by name), for every submission in `folder` (names starting with `.`
    are skipped). A student folder holding no notebook maps to []. Nothing is followed or read: links and
    other oddities are listed as they are, for `read_submission` to refuse with a message. Ids are names
    as displayed (`safetext.display_name`), made unique with `~2`, `~3`, ... where two would display alike."""
    root = Path(folder)
    found: dict[str, list[Path]] = {}
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)   # the instructor's folder: may be a link
    try:
        for name in sorted(os.listdir(top)):
            if name.startswith("."):
                continue
            try:
                st = os.stat(name, dir_fd=top, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                sid, notebooks = name, _student_notebooks(top, name, root / name, assignment)
            elif name.endswith(SUFFIX) and len(name) > len(SUFFIX):
                sid, notebooks = name[:-len(SUFFIX)], [root / name]
            elif stat.S_ISLNK(st.st_mode) and _points_to_folder(top, name):
                sid, notebooks = name, [root / name]           # a linked student folder: refused when read
            else:
                continue
            found[_unique(student_id(sid), found)] = notebooks
    finally:
        os.close(top)
    return found


def student_id(name: str) -> str:
    """The id of a student whose submission is named `name` (a folder or file name, surrogate-escaped as
    `os.listdir` gives it): the name itself when it is plain text, else as displayed."""
    return name if is_clean(name, 255) else display_name(name)


def _unique(sid: str, found: dict) -> str:
    n, key = 1, sid
    while key in found:
        n += 1
        key = f"{sid}~{n}"
    return key


def _points_to_folder(top: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=top).st_mode)
    except OSError:
        return False


def _student_notebooks(top: int, name: str, folder: Path, assignment: str) -> list[Path]:
    """The notebooks of one student folder: in `<assignment>/` when there is such a folder, else beside it."""
    try:
        fd = os.open(name, _DIR, dir_fd=top)
    except OSError:
        return [folder]                     # swapped for something else since it was listed: refused on reading
    try:
        try:
            st = os.stat(assignment, dir_fd=fd, follow_symlinks=False)
        except (OSError, ValueError):
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode) and _points_to_folder(fd, assignment):
            return [folder / assignment]    # a linked assignment folder: refused on reading
        if st is not None and stat.S_ISDIR(st.st_mode):
            try:
                inner = os.open(assignment, _DIR, dir_fd=fd)
            except OSError:
                return [folder / assignment]
            try:
                return _notebooks_in(inner, folder / assignment)
            finally:
                os.close(inner)
        return _notebooks_in(fd, folder)
    finally:
        os.close(fd)


def _notebooks_in(fd: int, folder: Path) -> list[Path]:
    """Entries named `*.ipynb` of an open folder, but folders (as `glob('*.ipynb')` and `is_file`): links and
    other non-regular files included, to be refused. At most MAX_NOTEBOOKS + 1 of them (the first in name
    order), so that a folder of a million notebooks costs one listing and is refused for its count."""
    with os.scandir(fd) as entries:
        names = (e.name for e in entries if e.name.endswith(SUFFIX) and not e.name.startswith(".")
                 and not e.is_dir(follow_symlinks=False))
        return [folder / n for n in heapq.nsmallest(MAX_NOTEBOOKS + 1, names)]


# ---------------------------------------------------------------- opening without following
def _open_notebook(path: Path, root: Path | None) -> int:
    """An fd of `path`, opened without following a link at any level from `root` down (only the last level
    when `root` is None), never outside `root`. Raises InvalidNotebook saying what was refused."""
    shown = display_name(path.name)
    if root is None:
        return _open_last(os.fspath(path), None, shown)
    root_s = os.path.abspath(root)
    path_s = os.path.abspath(path)
    rel = os.path.relpath(path_s, root_s)
    parts = rel.split(os.sep)
    if rel.startswith("..") or os.path.isabs(rel) or rel == "." or any(p in ("", ".", "..") for p in parts):
        raise InvalidNotebook(f"{shown}: outside the submissions folder; it is not read")
    fd = os.open(root_s, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                nfd = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                raise _refusal(exc, fd, part, folder=True) from None
            os.close(fd)
            fd = nfd
        return _open_last(parts[-1], fd, shown)
    finally:
        os.close(fd)


def _open_last(name: str, dir_fd: int | None, shown: str) -> int:
    try:
        return os.open(name, _READ, dir_fd=dir_fd)
    except OSError as exc:
        raise _refusal(exc, dir_fd, name, folder=False, shown=shown) from None


def _refusal(exc: OSError, dir_fd: int | None, name: str, *, folder: bool, shown: str = "") -> InvalidNotebook:
    shown = shown or display_name(name)
    try:
        link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        link = False
    if link or exc.errno == errno.ELOOP:
        what = f"the folder {shown}" if folder else shown
        return InvalidNotebook(f"{what}: is a symbolic link; submissions are read without following links "
                               "(submit the notebook file itself)")
    if exc.errno == errno.ENOTDIR:
        return InvalidNotebook(f"{shown}: is not a folder")
    if exc.errno == errno.ENOENT:
        return InvalidNotebook(f"{shown}: no such file (was it removed while grading?)")
    return InvalidNotebook(f"{shown}: cannot be read ({exc.strerror})")


def _check_file(fd: int, shown: str) -> int:
    """The file's size, after checking (fstat, nothing read) that it is a plain file of one link, not too big."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise InvalidNotebook(f"{shown}: not a regular file (a folder, device or pipe); submit the notebook file")
    if st.st_nlink > 1:
        raise InvalidNotebook(f"{shown}: has {st.st_nlink} hard links (the same file as another); "
                              "submit a copy of your own notebook")
    if st.st_size > MAX_NOTEBOOK_BYTES:
        raise InvalidNotebook(f"{shown}: the file is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    return st.st_size


def _read_capped(fd: int, cap: int) -> bytes:
    """At most `cap + 1` bytes (a file that grew since fstat shows it by its length)."""
    parts, got = [], 0
    while got <= cap:
        chunk = os.read(fd, min(cap + 1 - got, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


# ---------------------------------------------------------------- reading
def _sorted(notebooks) -> list[Path]:
    return sorted((Path(p) for p in notebooks), key=lambda p: p.name)


def _opened(notebooks: list[Path], root: Path | None) -> list[tuple[Path, int]]:
    """Every notebook opened and checked (count, each size, total size) before any byte is read. The caller
    closes the fds."""
    if len(notebooks) > MAX_NOTEBOOKS:
        raise InvalidNotebook(f"the submission holds more than {MAX_NOTEBOOKS} notebooks; at most "
                              f"{MAX_NOTEBOOKS} are read")
    opened: list[tuple[Path, int]] = []
    try:
        total = 0
        for path in notebooks:
            fd = _open_notebook(path, root)
            opened.append((path, fd))
            total += _check_file(fd, display_name(path.name))
            if total > MAX_SUBMISSION_BYTES:
                raise InvalidNotebook(f"the submission's notebooks are larger than {MAX_SUBMISSION_BYTES >> 20} "
                                      "MiB in all")
    except BaseException:
        for _, fd in opened:
            os.close(fd)
        raise
    return opened


def parse_cells(raw: bytes, shown: str) -> list[CodeCell]:
    """A notebook's code cells, from its bytes. Raises InvalidNotebook."""
    if not raw.strip():
        raise InvalidNotebook(f"{shown}: the file is empty")
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise InvalidNotebook(f"{shown}: the file is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    if raw.count(b"[") + raw.count(b"{") > MAX_CONTAINERS:
        raise InvalidNotebook(f"{shown}: holds more nested lists and objects than a notebook would")
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidNotebook(f"{shown}: not a text file (is it really a .ipynb notebook?)") from None
    except json.JSONDecodeError as exc:
        raise InvalidNotebook(f"{shown}: not valid notebook JSON (line {exc.lineno}: {exc.msg}); "
                              "the file may be truncated — re-save it from Jupyter") from None
    except RecursionError:
        raise InvalidNotebook(f"{shown}: nested too deeply to be a notebook") from None
    except (ValueError, MemoryError) as exc:
        raise InvalidNotebook(f"{shown}: cannot be read as a notebook ({type(exc).__name__})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InvalidNotebook(f"{shown}: JSON, but not a Jupyter notebook (no list of cells)")
    sources = []
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            raise InvalidNotebook(f"{shown}: cell {i} is not a notebook cell")
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise InvalidNotebook(f"{shown}: cell {i} has no readable source")
        meta = cell.get("metadata")
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        grade_id = grade_id if isinstance(grade_id, str) and grade_id.isidentifier() and len(grade_id) <= 100 else ""
        # the same code for the judge's parser and the jail
        sources.append(CodeCell(position=i + 1, grade_id=grade_id, source=_NOT_TEXT.sub("\ufffd", src)))
    return sources


def read_cells(path: Path, *, root: Path | None = None) -> list[str]:
    """The sources of a notebook's code cells (read as `read_submission` reads it)."""
    return [c.source for c in _read([Path(path)], root)[0][0][1]]


def read_submission(notebooks: list[Path], *, root: Path | None = None) -> Submission:
    """Read every notebook of a submission; raises InvalidNotebook for the first problem.

    `root`: the folder the submission was found in (`find_submissions`' `folder`): no link is followed from
    there down, and nothing outside it is read. Without it, only the notebooks themselves must not be links."""
    parsed, digest = _read(_sorted(notebooks), root)
    sub = Submission(sha256=digest)
    for (path, sources) in parsed:
        shown = display_name(path.name)
        for cell in sources:
            index = len(sub.cells)
            sub.cells.append((index, cell.source))
            sub.origin[index] = (shown, cell.position)
            if cell.grade_id:
                sub.grade_ids.setdefault(cell.grade_id, index)
        sub.notebooks.append(shown)
        sub.paths.append(path)
    if len(sub.cells) > MAX_CODE_CELLS:
        raise InvalidNotebook(f"the submission has {len(sub.cells)} code cells; at most {MAX_CODE_CELLS} are run")
    return sub


def _read(notebooks: list[Path], root: Path | None) -> tuple[list[tuple[Path, list[str]]], str]:
    opened = _opened(notebooks, root)
    hasher = hashlib.sha256()
    parsed = []
    try:
        for path, fd in opened:
            raw = _read_capped(fd, MAX_NOTEBOOK_BYTES)
            hasher.update(os.fsencode(path.name) + b"\0" + raw)
            parsed.append((path, parse_cells(raw, display_name(path.name))))
    finally:
        for _, fd in opened:
            os.close(fd)
    return parsed, hasher.hexdigest()


def content_hash(notebooks: list[Path], *, root: Path | None = None) -> str:
    """SHA-256 of a submission's notebooks (names and bytes, in name order): `read_submission`'s `sha256` for
    the same files. Reads as safely: a file that would be refused counts as the reason it is refused."""
    digest = hashlib.sha256()
    paths = _sorted(notebooks)
    try:
        opened = _opened(paths, root)
    except InvalidNotebook as exc:
        digest.update(b"<refused>" + str(exc).encode("utf-8", "replace"))
        return digest.hexdigest()
    try:
        for path, fd in opened:
            digest.update(os.fsencode(path.name) + b"\0")
            try:
                digest.update(_read_capped(fd, MAX_NOTEBOOK_BYTES))
            except OSError:
                digest.update(b"<unreadable>")
    finally:
        for _, fd in opened:
            os.close(fd)
    return digest.hexdigest()
