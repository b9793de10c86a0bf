"""The lesson itself: the source notebook runs and teaches, the release is generated from it and leaks nothing."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.coursedir import CourseDir
from autograder.release import check_release_in_sync

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "sgd_mnist"
COURSE = CourseDir(REPO)
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# CONTRACT §1: each exercise is one cell defining exactly this name.
CONTRACT_NAMES = ("binary_loss", "categorical_cross_entropy", "softmax", "log_softmax", "matmul",
                  "LogReg", "fit", "sgd_step", "normalize", "accuracy")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")
MIN_VALID_ACCURACY = 0.90
CELL_TIMEOUT_S = 300
ACCURACY_LINE = re.compile(r"^validation accuracy: (\d\.\d+)", re.MULTILINE)


def _read(folder: Path) -> nbformat.NotebookNode:
    return nbformat.read(folder / NOTEBOOK, as_version=4)


def _execute(folder: Path, tmp: Path, *, allow_errors: bool = False) -> tuple[nbformat.NotebookNode, Exception | None]:
    """Run a copy of the notebook's folder (so mnist_data.py sits next to it) headless, CPU only."""
    work = tmp / folder.name
    shutil.copytree(folder, work, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    nb = _read(work)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(work)}})
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", MPLBACKEND="module://matplotlib_inline.backend_inline",
               PYTHONDONTWRITEBYTECODE="1")
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        return nb, err
    return nb, None


def _code(cell) -> str:
    """A code cell's source with IPython magics and shell escapes commented out, so that `ast` can parse it."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in cell.source.splitlines())


def _defined_names(cell) -> set[str]:
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

    for node in ast.parse(_code(cell)).body:
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


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _outputs_text(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")


# -- executing the notebooks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed_source(tmp_path_factory):
    nb, error = _execute(COURSE.source(ASSIGNMENT), tmp_path_factory.mktemp("source"))
    return nb, error


@pytest.mark.slow
def test_source_notebook_runs_headless_top_to_bottom_on_cpu(executed_source):
    nb, error = executed_source
    assert error is None, f"the instructor notebook failed:\n{error}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell should have run"
    checks = [c for c in code if _nbgrader(c).get("grade_id", "").startswith("check_")]
    assert len(checks) == len(CONTRACT_NAMES), "one public check cell per exercise"
    for cell in checks:
        assert _outputs_text(cell).strip().endswith("ok"), f"{_nbgrader(cell)['grade_id']} did not print ok"


@pytest.mark.slow
def test_trained_from_scratch_model_reaches_90_percent_on_validation(executed_source):
    nb, error = executed_source
    assert error is None, f"the instructor notebook failed:\n{error}"
    found = [float(m.group(1)) for c in nb.cells if c.cell_type == "code"
             for m in ACCURACY_LINE.finditer(_outputs_text(c))]
    assert len(found) == 1, "the notebook should print exactly one 'validation accuracy: 0.xxxx' line"
    assert found[0] >= MIN_VALID_ACCURACY, f"validation accuracy {found[0]} is below {MIN_VALID_ACCURACY}"


@pytest.mark.slow
def test_executed_notebook_shows_its_plots(executed_source):
    nb, error = executed_source
    assert error is None, f"the instructor notebook failed:\n{error}"
    images = {_nbgrader(c)["grade_id"]: sum("image/png" in out.get("data", {}) for out in c.outputs)
              for c in nb.cells if c.cell_type == "code"}
    assert images["show_digits"] >= 1, "the digits should be plotted"
    assert images["predictions"] >= 2, "predictions should be shown next to their digits (and the mistakes)"
    assert images["loss_curve"] >= 1, "the loss curve should be plotted"


@pytest.mark.slow
def test_release_notebook_runs_until_the_first_stub(tmp_path):
    nb, error = _execute(COURSE.release(ASSIGNMENT), tmp_path)
    assert error is not None and error.ename == "NotImplementedError", f"expected a stub to stop the run, got {error!r}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = [i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    first_solution = next(i for i, c in enumerate(code) if _nbgrader(c).get("solution"))
    # The stub only defines the function; its public check, right below, is the first cell to call it.
    assert failed == [first_solution + 1], "the first exercise's check cell should be the first and only failure"
    assert _nbgrader(code[first_solution + 1])["grade_id"] == "check_" + _nbgrader(code[first_solution])["grade_id"]
    assert all(c.get("execution_count") for c in code[:first_solution + 2]), "every cell before it should have run"


# -- the release is generated, in sync, and free of solutions ----------------------------------------------


@pytest.mark.slow
def test_release_regenerates_byte_for_byte():
    assert check_release_in_sync(assignment=ASSIGNMENT, course_root=REPO) == []


def test_release_files_hold_no_markers():
    files = [p for p in COURSE.release(ASSIGNMENT).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {p.name for p in files} >= {NOTEBOOK, "mnist_data.py"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for marker in MARKERS:
            assert marker not in text, f"{path.relative_to(REPO)} contains '{marker}'"


def _solution_lines(nb) -> set[str]:
    """Distinctive lines inside the source's solution regions (lines also shown elsewhere are public)."""
    inside, lines = False, set()
    for cell in nb.cells:
        if not _nbgrader(cell).get("solution"):
            continue
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
                inside = "BEGIN" in line
            elif inside and line.strip() and not line.strip().startswith("#"):
                lines.add(line.strip())
    public = {line.strip() for cell in nb.cells if not _nbgrader(cell).get("solution")
              for line in cell.source.splitlines()}
    return lines - public


def test_release_contains_no_solution_code():
    leaked_from = _solution_lines(_read(COURSE.source(ASSIGNMENT)))
    assert len(leaked_from) >= 20, "the source should hold the solutions"
    release = _read(COURSE.release(ASSIGNMENT))
    release_lines = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    assert not leaked_from & release_lines, f"solution lines in the release: {sorted(leaked_from & release_lines)}"
    for cell in release.cells:
        if _nbgrader(cell).get("solution"):
            assert "raise NotImplementedError()" in cell.source
        assert not cell.get("outputs"), "the release should carry no outputs"


def test_release_matches_source_outside_the_solutions():
    source, release = _read(COURSE.source(ASSIGNMENT)), _read(COURSE.release(ASSIGNMENT))
    assert [_nbgrader(c)["grade_id"] for c in source.cells] == [_nbgrader(c)["grade_id"] for c in release.cells]
    for s, r in zip(source.cells, release.cells):
        if not _nbgrader(s).get("solution"):
            assert s.source == r.source, f"cell {_nbgrader(s)['grade_id']} changed on release"
        else:
            assert r.metadata.get("deletable") is False, "exercise cells should not be deletable"
        if _nbgrader(s).get("locked") and s.cell_type == "code":
            assert r.metadata.get("editable") is False, "instructions and check cells should be read-only"


@pytest.mark.parametrize("where", ["source", "release"])
def test_every_contract_name_is_defined_by_exactly_one_cell(where):
    nb = _read(getattr(COURSE, where)(ASSIGNMENT))
    code = [c for c in nb.cells if c.cell_type == "code"]
    for name in CONTRACT_NAMES:
        cells = [c for c in code if name in _defined_names(c)]
        assert len(cells) == 1, f"{name} is defined in {len(cells)} cells of the {where} notebook"
        meta = _nbgrader(cells[0])
        assert meta.get("solution") and meta.get("grade_id") == name, f"{name} should live in its exercise cell"
        assert _defined_names(cells[0]) == {name}, f"the {name} cell should define nothing else"
    exercises = [_nbgrader(c)["grade_id"] for c in code if _nbgrader(c).get("solution")]
    assert sorted(exercises) == sorted(CONTRACT_NAMES)


@pytest.mark.parametrize("where", ["source", "release"])
def test_notebooks_are_valid_nbgrader_v3_with_unique_ids(where):
    nb = _read(getattr(COURSE, where)(ASSIGNMENT))
    nbformat.validate(nb)
    ids = [_nbgrader(c).get("grade_id") for c in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "every cell needs a unique nbgrader grade_id"
    assert {_nbgrader(c).get("schema_version") for c in nb.cells} == {3}
    assert nb.metadata["kernelspec"]["name"] == "python3"
    if where == "release":
        raw = json.loads((COURSE.release(ASSIGNMENT) / NOTEBOOK).read_text())
        assert "version" not in raw["metadata"].get("language_info", {}), "no machine-specific metadata"


# -- the release stage's own pieces ------------------------------------------------------------------------


def test_canonical_notebook_json_drops_machine_metadata_and_is_stable():
    from autograder.release import canonical_notebook_json

    nb = {"cells": [{"cell_type": "code", "metadata": {"execution": {"iopub.status.busy": "2026"}}, "source": "x",
                     "outputs": [], "execution_count": None}],
          "metadata": {"language_info": {"name": "python", "version": "3.11.7"}, "widgets": {"state": {}},
                       "kernelspec": {"name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    text = canonical_notebook_json(nb)
    assert '"version"' not in text and "widgets" not in text and "iopub" not in text
    assert text.endswith("}\n") and canonical_notebook_json(json.loads(text)) == text
    assert nb["metadata"]["language_info"]["version"] == "3.11.7", "the transform must not modify its input"


def test_release_of_an_unknown_assignment_fails_clearly_and_leaves_nothing(tmp_path):
    from autograder.release import ReleaseError, release

    with pytest.raises(ReleaseError, match="no such assignment"):
        release(assignment="no_such_thing", course_root=tmp_path)
    assert not any(tmp_path.iterdir())
