"""`autograder quickstart DIR`: a new course directory with an example assignment (like `nbgrader quickstart`).

The example (template/) is a complete bundle: source/example/ (a master notebook with two exercises),
solutions/example/ (their references, hidden checks written with `autograder.checking`, and a sample class),
nbgrader_config.py and a README. It releases, validates and grades as it stands, from any folder on disk.
"""
from __future__ import annotations

import shutil
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "template"


class QuickstartError(ValueError):
    """The course cannot be made there (the folder is not empty, or a file would be overwritten)."""


def quickstart(*, directory: Path, force: bool = False) -> Path:
    """Copy the template course into `directory` (created); with `force`, into a non-empty folder, but never
    over an existing file. Returns the course's root."""
    root = Path(directory).resolve()
    if root.exists() and not root.is_dir():
        raise QuickstartError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise QuickstartError(f"{root} is not empty (use --force to add the example course to it)")
    files = [p for p in sorted(TEMPLATE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    clashes = [str(p.relative_to(TEMPLATE)) for p in files if (root / p.relative_to(TEMPLATE)).exists()]
    if clashes:
        raise QuickstartError(f"would overwrite {', '.join(clashes[:5])} in {root}: nothing was written")
    for path in files:
        target = root / path.relative_to(TEMPLATE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return root
