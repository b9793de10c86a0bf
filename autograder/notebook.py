"""Reading submitted notebooks in the trusted process: plain JSON, validated, never executed here."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 20 << 20


class InvalidNotebook(ValueError):
    """A file that is not a readable Jupyter notebook; the message is shown to the student."""


@dataclass
class Submission:
    """The code cells of one submission (all its notebooks, in name order), globally numbered."""
    cells: list[tuple[int, str]] = field(default_factory=list)
    origin: dict[int, tuple[str, int]] = field(default_factory=dict)  # index -> (notebook name, cell number)
    sha256: str = ""
    notebooks: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def read_cells(path: Path) -> list[str]:
    """The sources of a notebook's code cells."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidNotebook(f"{path.name}: cannot be read ({exc.strerror})") from None
    if not raw.strip():
        raise InvalidNotebook(f"{path.name}: the file is empty")
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise InvalidNotebook(f"{path.name}: the file is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidNotebook(f"{path.name}: not a text file (is it really a .ipynb notebook?)") from None
    except json.JSONDecodeError as exc:
        raise InvalidNotebook(f"{path.name}: not valid notebook JSON (line {exc.lineno}: {exc.msg}); "
                              "the file may be truncated — re-save it from Jupyter") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InvalidNotebook(f"{path.name}: JSON, but not a Jupyter notebook (no list of cells)")
    sources = []
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            raise InvalidNotebook(f"{path.name}: cell {i} is not a notebook cell")
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            raise InvalidNotebook(f"{path.name}: cell {i} has no readable source")
        sources.append(src)
    return sources


def read_submission(notebooks: list[Path]) -> Submission:
    """Read every notebook of a submission; raises InvalidNotebook for the first broken one."""
    sub = Submission(sha256=content_hash(notebooks))
    for path in sorted(notebooks, key=lambda p: Path(p).name):
        path = Path(path)
        for number, src in enumerate(read_cells(path)):
            index = len(sub.cells)
            sub.cells.append((index, src))
            sub.origin[index] = (path.name, number)
        sub.notebooks.append(path.name)
        sub.paths.append(path)
    return sub


def content_hash(notebooks: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(notebooks, key=lambda p: Path(p).name):
        digest.update(Path(path).name.encode() + b"\0")
        try:
            digest.update(Path(path).read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()
