"""The hidden checks of `mnist_basics` (solutions/mnist_basics/) against the catalogue of student code
(tests/catalogue_mnist_basics.py), graded through the real engine.

Every WRONG entry scores below full on its exercise, earns its own hint (the entry's `hint`, a literal piece of
the feedback) and costs nothing on the other exercises; every RIGHT entry scores full marks; a mistake in an
exercise that others build on (`sigmoid`, `mnist_distance`, `calc_grad`) costs only there. A notebook is the
catalogue's from-scratch BASE with some cells replaced; entries of different exercises share a notebook (one
grading run per batch) to keep this fast. The kit's own solutions: tests/test_mnist_basics_solutions_score.py.
"""
from __future__ import annotations

import nbformat
import pytest

import catalogue as sgd_catalogue
import catalogue_mnist_basics as catalogue
from _grading import COURSE, grade, hints, short_of_full
from catalogue import batches, write

pytestmark = pytest.mark.slow

BUNDLE = COURSE.bundle("mnist_basics")


def notebook(replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The imports cell, then one cell per exercise: BASE's, or `replace`'s where given."""
    return sgd_catalogue.notebook(replace, base={e: catalogue.BASE[e] for e in catalogue.EXERCISES},
                                  imports=catalogue.IMPORTS)


WRONG_BATCHES = batches(catalogue.WRONG)
RIGHT_BATCHES = batches(catalogue.RIGHT)


def _student(kind: str, i: int) -> str:
    return f"catalogue-{kind}{i}"


def _full(result) -> str:
    """'' when every exercise scored full marks and no check broke; else what fell short, in words."""
    below = short_of_full(result)
    lines = [f"{ex}: {s}/{m}: {hints(result, ex)}" for ex, (s, m) in below.items()]
    return "\n".join(lines + [f"check problem: {p}" for p in result.problems])


def test_the_catalogue_is_big_enough_and_every_wrong_entry_names_its_hint():
    assert len(catalogue.WRONG) >= 25 and len(catalogue.RIGHT) >= 15
    assert all(e.hint for e in catalogue.WRONG), [e.id for e in catalogue.WRONG if not e.hint]
    assert not any(e.hint for e in catalogue.RIGHT)


@pytest.mark.parametrize("i", range(len(WRONG_BATCHES)), ids=[f"wrong{i}" for i in range(len(WRONG_BATCHES))])
def test_known_wrong_code_is_caught_with_its_hint(i, tmp_path):
    batch = WRONG_BATCHES[i]
    result = grade(write(notebook({e.exercise: e.code for e in batch}), tmp_path / "wrong.ipynb"),
                   _student("wrong", i), bundle=BUNDLE)
    below = short_of_full(result)
    problems = [f"check problem: {p}" for p in result.problems]
    for entry in batch:
        if entry.exercise not in below:
            problems.append(f"{entry.exercise}.{entry.id}: scored full marks ({entry.diagnosis})")
        elif not any(entry.hint in h for h in hints(result, entry.exercise)):
            problems.append(f"{entry.exercise}.{entry.id}: no hint contains {entry.hint!r}; got "
                            f"{hints(result, entry.exercise)}")
    touched = {e.exercise for e in batch}
    problems += [f"{ex} lost points ({s}/{m}) for a mistake elsewhere: {hints(result, ex)}"
                 for ex, (s, m) in below.items() if ex not in touched]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("i", range(len(RIGHT_BATCHES)), ids=[f"right{i}" for i in range(len(RIGHT_BATCHES))])
def test_other_correct_code_scores_full_marks(i, tmp_path):
    batch = RIGHT_BATCHES[i]
    result = grade(write(notebook({e.exercise: e.code for e in batch}), tmp_path / "right.ipynb"),
                   _student("right", i), bundle=BUNDLE)
    assert not _full(result), _full(result)


def test_one_mistake_costs_once(tmp_path):
    """The exercises others build on left as stubs: the ones that call them are graded with known-good stand-ins
    (mnist_loss and batch_accuracy with a known-good sigmoid, is_3 with mnist_distance, train_epoch with
    calc_grad), so they still score full marks."""
    stub = "def {0}(*args, **kwargs):\n    raise NotImplementedError()\n"
    bases = ("sigmoid", "mnist_distance", "calc_grad")
    result = grade(write(notebook({name: stub.format(name) for name in bases}), tmp_path / "stubs.ipynb"),
                   "stand-ins", bundle=BUNDLE)
    assert set(short_of_full(result)) == set(bases), _full(result)
    assert not result.problems
