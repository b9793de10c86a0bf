"""The hidden checks against the kit's own solutions: a from-scratch reference notebook (tests/catalogue's
BASE) and the source notebook's solutions score full marks for 20 different students (the student id seeds
every check's inputs) on every device present; the released stubs score zero."""
from __future__ import annotations

import pytest

from _grading import REPO, grade, hints, short_of_full
from catalogue import EXERCISES, notebook, write

pytestmark = pytest.mark.slow

SOURCE = REPO / "source" / "sgd_mnist" / "sgd_mnist.ipynb"
RELEASE = REPO / "release" / "sgd_mnist" / "sgd_mnist.ipynb"
STUDENTS = [f"student{i:02d}" for i in range(20)]


def _assert_full(result):
    below = short_of_full(result)
    assert not below, "\n".join(f"{ex}: {s}/{m}: {hints(result, ex)}" for ex, (s, m) in below.items())
    assert not result.message.startswith("internal check problems"), result.message


@pytest.fixture(scope="module")
def reference_notebook(tmp_path_factory):
    return write(notebook(), tmp_path_factory.mktemp("reference") / "reference.ipynb")


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_scores_full_marks(reference_notebook, student):
    result = grade(reference_notebook, student_id=student)
    _assert_full(result)
    # the points (solutions/sgd_mnist/test_*.py): 10 per exercise, whatever the devices
    assert result.exercise_max == {e: 10.0 for e in EXERCISES}


@pytest.mark.parametrize("student", STUDENTS)
def test_source_solutions_score_full_marks(student):
    _assert_full(grade(SOURCE, student_id=student))


def test_release_stubs_score_zero():
    """Every value check says the stub is not implemented, every earned point waits for the values, and no
    rule is said to be broken (a stub borrows nothing)."""
    result = grade(RELEASE, student_id="stub")
    assert result.score == 0, {e: s for e, s in result.exercise_scores().items() if s}
    said = {t.name: t.output for t in result.tests if t.status != "passed"}
    assert all("is not implemented yet (it still raises NotImplementedError)" in o
               or o == "not counted yet: this point is earned once the exercise's values are right (see above)"
               for o in said.values()), said
    assert {t.name for t in result.tests if t.status == "passed"} == {"rule: your own code"}
