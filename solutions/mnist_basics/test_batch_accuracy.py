"""Hidden checks of `batch_accuracy(predictions, targets) -> Tensor` (0-d): the fraction of rows where
`sigmoid(prediction) > 0.5` agrees with the 0/1 target; predictions and targets of one shape (10 points). The calls
swap in a known-good `sigmoid`, so that a mistake there costs only there. No score is closer to 0 than 1e-3, where
`sigmoid(p) > 0.5` and `p > 0` could disagree by rounding."""
from __future__ import annotations

import torch

from autograder.checking import Case, exercise

from . import reference
from ._inputs import RULES, Exercise, labels_for, scores

NAME = "batch_accuracy"
pytestmark = exercise(NAME)


def _variants(p, t):
    right = (p > 0) == (t == 1)
    v = {
        "your batch_accuracy thresholds the raw score at 0.5; a score predicts a 3 when its *sigmoid* is above 0.5, "
        "which is the score above 0":
            lambda: ((p > 0.5) == (t == 1)).float().mean(),
        "your batch_accuracy compares the sigmoid itself, a number between 0 and 1, with the 0/1 target; threshold "
        "it first: `sigmoid(predictions) > 0.5`":
            lambda: (torch.sigmoid(p) == t).float().mean(),
        "your batch_accuracy returns the fraction wrong (the error rate) instead of the fraction right":
            lambda: (~right).float().mean(),
        "your batch_accuracy counts the right rows but does not divide by their number: use `.mean()`":
            lambda: right.float().sum(),
        "your batch_accuracy is a percentage; the contract asks for a fraction in [0, 1]":
            lambda: 100 * right.float().mean(),
        "your batch_accuracy returns one 0/1 per row; return their mean, a 0-d tensor":
            lambda: right.float(),
    }
    flat_first = {}
    if p.dim() == 2 and p.shape[0] > 1:
        flat = ("your batch_accuracy lines up a column (N, 1) against a flat row (N,) ({}), which broadcast to an "
                "(N, N) table: every prediction is compared with every target. Keep both in the shape they came in")
        flat_first[flat.format("the targets flattened")] = \
            lambda: ((p > 0) == (t.reshape(-1) == 1)).float().mean()
        flat_first[flat.format("the predictions flattened")] = \
            lambda: ((p.reshape(-1) > 0) == (t == 1)).float().mean()
    # first: an (N, 1) case is reached only once the (N,) case passed, and accuracies of a few rows can coincide
    return {**flat_first, **v}


def _case(*shape):
    def make(gen):
        p = scores(gen, *shape)
        return p, labels_for(gen, p)
    return Case(f"predictions and targets of shape {shape}", make)


EX = Exercise(
    NAME, reference.batch_accuracy,
    cases=[_case(20), _case(21, 1), _case(1, 1), _case(1), _case(256, 1)],
    misconceptions=_variants, shape=lambda p, t: (), rule=RULES[NAME],
    known_good={"sigmoid": reference.sigmoid},
    points={"values": 7, "contract": 2, "meta": 1},
    contract_case=_case(9, 1), meta_case=_case(9, 1),
)
globals().update(EX.checks())
