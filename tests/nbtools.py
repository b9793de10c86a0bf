"""Building test submissions from the source notebook: replace an exercise's cell, append cells."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
SOURCE_NB = REPO / "source" / "sgd_mnist" / "sgd_mnist.ipynb"
RELEASE_NB = REPO / "release" / "sgd_mnist" / "sgd_mnist.ipynb"


def variant(path: Path, *, replace: dict[str, str] | None = None, append: list[str] = (),
            insert_after: dict[str, str] | None = None, drop: tuple[str, ...] = (), base: Path = SOURCE_NB) -> Path:
    """Write a copy of `base` with exercise cells (by nbgrader grade_id) replaced, dropped, or followed by
    extra code cells, and extra cells appended at the end."""
    nb = nbformat.read(base, as_version=4)
    cells = []
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in drop:
            continue
        if replace and gid in replace:
            cell = nbformat.v4.new_code_cell(replace[gid])
        cells.append(cell)
        if insert_after and gid in insert_after:
            cells.append(nbformat.v4.new_code_cell(insert_after[gid]))
    cells += [nbformat.v4.new_code_cell(src) for src in append]
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def scores(result) -> dict[str, float]:
    return result.exercise_scores()


def full(result, exercise: str) -> bool:
    return abs(result.exercise_scores()[exercise] - result.exercise_max[exercise]) < 1e-6


def code_of(cell) -> str:
    """A code cell's source with IPython magics and shell escapes commented out, so that `ast` can parse it."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in cell.source.splitlines())


def defined_names(cell) -> set[str]:
    """Top-level names a code cell binds: def, class, assignments, imports, for/with targets."""
    names: set[str] = set()

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in ast.parse(code_of(cell)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                targets(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            targets(node.target)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    targets(item.optional_vars)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names
