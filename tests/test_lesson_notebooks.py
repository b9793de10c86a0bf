"""The lesson itself: the source notebook runs and teaches, the release is generated from it and leaks nothing."""
from __future__ import annotations

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
from tests.nbtools import defined_names

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "sgd_mnist"
COURSE = CourseDir(REPO)
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
# CONTRACT §1: each exercise is one cell defining exactly this name.
CONTRACT_NAMES = ("normalize", "binary_loss", "categorical_cross_entropy", "softmax", "log_softmax", "matmul",
                  "LogReg", "fit", "sgd_step", "accuracy")   # in the lesson's order
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")
MIN_VALID_ACCURACY = 0.90
CELL_TIMEOUT_S = 300
ACCURACY_LINE = re.compile(r"^validation accuracy: (\d\.\d+)", re.MULTILINE)


LESSONS = ("sgd_mnist", "mnist_basics")   # the structure and release tests below hold for every lesson of the course
# CONTRACT §1 and §1b: each lesson's exercises, in its order
EXERCISES = {"sgd_mnist": CONTRACT_NAMES,
             "mnist_basics": ("mean_image", "mnist_distance", "is_3", "init_params", "linear1", "sigmoid",
                              "mnist_loss", "calc_grad", "train_epoch", "batch_accuracy", "BasicOptim")}


def _read(folder: Path, notebook: str = NOTEBOOK) -> nbformat.NotebookNode:
    return nbformat.read(folder / notebook, as_version=4)


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
@pytest.mark.parametrize("lesson", LESSONS)
def test_release_regenerates_byte_for_byte(lesson):
    assert check_release_in_sync(assignment=lesson, course_root=REPO) == []


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_files_hold_no_markers(lesson):
    files = [p for p in COURSE.release(lesson).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {p.name for p in files} == {f"{lesson}.ipynb", "mnist_data.py"}
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


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_contains_no_solution_code(lesson):
    leaked_from = _solution_lines(_read(COURSE.source(lesson), f"{lesson}.ipynb"))
    assert len(leaked_from) >= 15, "the source should hold the solutions"
    release = _read(COURSE.release(lesson), f"{lesson}.ipynb")
    release_lines = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    assert not leaked_from & release_lines, f"solution lines in the release: {sorted(leaked_from & release_lines)}"
    for cell in release.cells:
        if _nbgrader(cell).get("solution"):
            assert "raise NotImplementedError()" in cell.source
        assert not cell.get("outputs"), "the release should carry no outputs"


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_matches_source_outside_the_solutions(lesson):
    source, release = (_read(folder, f"{lesson}.ipynb") for folder in (COURSE.source(lesson), COURSE.release(lesson)))
    assert [_nbgrader(c)["grade_id"] for c in source.cells] == [_nbgrader(c)["grade_id"] for c in release.cells]
    for s, r in zip(source.cells, release.cells):
        if not _nbgrader(s).get("solution"):
            assert s.source == r.source, f"cell {_nbgrader(s)['grade_id']} changed on release"
        else:
            assert r.metadata.get("deletable") is False, "exercise cells should not be deletable"
        if _nbgrader(s).get("locked") and s.cell_type == "code":
            assert r.metadata.get("editable") is False, "instructions and check cells should be read-only"


@pytest.mark.parametrize("where", ["source", "release"])
@pytest.mark.parametrize("lesson", LESSONS)
def test_every_contract_name_is_defined_by_exactly_one_cell(lesson, where):
    nb = _read(getattr(COURSE, where)(lesson), f"{lesson}.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    for name in EXERCISES[lesson]:
        cells = [c for c in code if name in defined_names(c)]
        assert len(cells) == 1, f"{name} is defined in {len(cells)} cells of the {where} notebook"
        meta = _nbgrader(cells[0])
        assert meta.get("solution") and meta.get("grade_id") == name, f"{name} should live in its exercise cell"
        assert defined_names(cells[0]) == {name}, f"the {name} cell should define nothing else"
    exercises = [_nbgrader(c)["grade_id"] for c in code if _nbgrader(c).get("solution")]
    assert exercises == list(EXERCISES[lesson]), "the exercises, in the lesson's order"


@pytest.mark.parametrize("where", ["source", "release"])
@pytest.mark.parametrize("lesson", LESSONS)
def test_notebooks_are_valid_nbgrader_v3_with_unique_ids(lesson, where):
    nb = _read(getattr(COURSE, where)(lesson), f"{lesson}.ipynb")
    nbformat.validate(nb)
    ids = [_nbgrader(c).get("grade_id") for c in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "every cell needs a unique nbgrader grade_id"
    assert {_nbgrader(c).get("schema_version") for c in nb.cells} == {3}
    assert all(_nbgrader(c).get("grade") is False for c in nb.cells), "the kit grades with hidden checks, not nbgrader"
    assert all(_nbgrader(c).get("locked") is not _nbgrader(c).get("solution") for c in nb.cells), (
        "exercise cells are the only unlocked cells")
    assert nb.metadata["kernelspec"]["name"] == "python3"
    if where == "release":
        raw = json.loads((COURSE.release(lesson) / f"{lesson}.ipynb").read_text())
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
