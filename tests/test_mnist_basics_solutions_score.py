"""The hidden checks of `mnist_basics` against the kit's own solutions: the catalogue's from-scratch BASE notebook
and the source notebook's solutions score full marks for 20 different students (the student id seeds every check's
inputs) on every device present, the whole source notebook too, and the released stubs score zero."""
from __future__ import annotations

import nbformat
import pytest

import catalogue_mnist_basics as catalogue
from _grading import grade
from test_mnist_basics_checks import BUNDLE, notebook, write, _full

pytestmark = pytest.mark.slow

SOURCE = BUNDLE.source / "mnist_basics.ipynb"
RELEASE = BUNDLE.release / "mnist_basics.ipynb"
STUDENTS = [f"student{i:02d}" for i in range(20)]
NOT_IMPLEMENTED = "is not implemented yet (it still raises NotImplementedError)"
NOT_EARNED = "not counted yet: this point is earned once the exercise's values are right (see above)"


@pytest.fixture(scope="module")
def base_notebook(tmp_path_factory):
    return write(notebook(), tmp_path_factory.mktemp("base") / "base.ipynb")


@pytest.fixture(scope="module")
def source_solutions(tmp_path_factory):
    """The source notebook's exercise cells (solutions in place), after the imports: the notebook without its
    data and training cells, which take seconds to run and are graded whole once below."""
    cells = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nbformat.read(SOURCE, as_version=4).cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    assert set(cells) == set(catalogue.EXERCISES)
    return write(notebook(cells), tmp_path_factory.mktemp("source") / "solutions.ipynb")


@pytest.mark.parametrize("student", STUDENTS)
def test_base_scores_full_marks(base_notebook, student):
    result = grade(base_notebook, student, bundle=BUNDLE)
    assert not _full(result), _full(result)
    # the points (solutions/mnist_basics/test_*.py): 10 per exercise, whatever the devices
    assert result.exercise_max == {e: 10.0 for e in catalogue.EXERCISES}


@pytest.mark.parametrize("student", STUDENTS)
def test_source_solutions_score_full_marks(source_solutions, student):
    result = grade(source_solutions, student, bundle=BUNDLE)
    assert not _full(result), _full(result)


def test_the_whole_source_notebook_scores_full_marks():
    result = grade(SOURCE, "source", bundle=BUNDLE)
    assert not _full(result), _full(result)


def test_release_stubs_score_zero():
    """Every value check says the stub is not implemented, every earned point waits for the values, and no
    rule is said to be broken (a stub borrows nothing)."""
    result = grade(RELEASE, "stub", bundle=BUNDLE)
    assert result.score == 0, {e: s for e, s in result.exercise_scores().items() if s}
    said = {f"{t.exercise}: {t.name}": t.output for t in result.tests if t.status != "passed"}
    assert all(NOT_IMPLEMENTED in o or o == NOT_EARNED for o in said.values()), said
    assert {t.name for t in result.tests if t.status == "passed"} == {"rule: your own code"}
    assert not result.problems
