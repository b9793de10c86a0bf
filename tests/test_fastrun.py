"""The judge's fast path (collected checks called directly) and a full pytest run give identical results."""
from __future__ import annotations

from dataclasses import replace

import pytest

from autograder.config import GradeOptions
from autograder.grader import grade_notebooks
from tests._grading import BUNDLE
from tests.nbtools import RELEASE_NB, REPO, SOURCE_NB, variant

OPTS = GradeOptions()


@pytest.mark.parametrize("make", [
    lambda tmp: SOURCE_NB,
    lambda tmp: RELEASE_NB,
    lambda tmp: variant(tmp / "wrong.ipynb", replace={
        "softmax": "def softmax(x):\n    return x.exp() / (1 + x.exp().sum(0))\n",
        "fit": "def fit(model, dl, loss_fn, opt, epochs=1):\n    return [0.0]\n"}),
], ids=["solutions", "stubs", "misconceptions"])
def test_fast_and_pytest_paths_agree(tmp_path, make):
    nb = make(tmp_path)
    fast = grade_notebooks(notebooks=[nb], student_id="same", bundle=BUNDLE, options=OPTS)
    slow = grade_notebooks(notebooks=[nb], student_id="same", bundle=BUNDLE,
                           options=replace(OPTS, fast_checks=False))
    assert fast.status == slow.status == "graded"
    assert [vars(t) for t in fast.tests] == [vars(t) for t in slow.tests]
    assert fast.message == slow.message == ""
