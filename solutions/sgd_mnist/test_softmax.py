"""Hidden checks of `softmax(x)`: along the last dimension, finite for any finite float32 input (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import (KEEPDIM_ADVICE, Case, Fail, FunctionExercise, Gradient, exercise, points,
                                 scaled_to)

from . import reference
from ._inputs import RULES, extreme_logits, logits

NAME = "softmax"
pytestmark = exercise(NAME)


def _variants(x):
    e = x.exp()
    v = {
        "your softmax adds 1 to the denominator (the seed's `exp(x) / (1 + exp(x).sum(...))`): the 1 does not "
        "belong there, rows must sum to exactly 1":
            lambda: e / (1 + e.sum(-1, keepdim=True)),
        "your softmax divides by `sum(dim=-1)` without `keepdim=True`: the (N,) sums broadcast along the wrong "
        "axis, so each column is divided by another row's sum":
            lambda: e / e.sum(-1),
        "your softmax returns exp(x) without dividing by the row sums":
            lambda: e,
        "your softmax divides by the sum over the whole tensor, not each row's sum":
            lambda: e / e.sum(),
    }
    if x.dim() >= 2:
        v = {
            "your softmax normalises along dim 0 (over the batch) instead of the last dimension (over the "
            "classes): the columns sum to 1, not the rows":
                lambda: e / e.sum(0, keepdim=True),
            "your softmax is the seed's `exp(x) / (1 + exp(x).sum(dim=0))`: the sum runs over the batch (dim 0) "
            "instead of the classes, and the `1 +` does not belong there":
                lambda: e / (1 + e.sum(0)),
            **v,
        }
    if x.dim() >= 3:
        v["your softmax normalises along dim 1; the contract asks for the last dimension (dim=-1), whatever "
          "the number of dimensions"] = lambda: e / e.sum(1, keepdim=True)
    return v


def _case(*shape):
    return Case(f"an input of shape {shape}", lambda gen: (logits(gen, *shape),))


EX = FunctionExercise(
    NAME, reference.softmax,
    cases=[_case(1, 10), _case(6, 10), _case(4, 4), _case(2, 3, 5), _case(7)],
    gradient=Gradient(_case(3, 5), names=("x",)),
    misconceptions=_variants, shape=lambda x: tuple(x.shape), rule=RULES[NAME], broadcast_advice=KEEPDIM_ADVICE,
    points={"values": 4, "gradient": 2, "contract": 1, "meta": 1},
    contract_case=_case(4, 6), meta_case=_case(4, 10),
)
globals().update(EX.checks())


@points(2)
def test_large_logits(jail, gen, device):
    """large logits"""
    x = extreme_logits(gen, 5, 10)
    r = EX.call(jail, (x,), device=device)
    value = EX.result(r, (x,), device=device)
    if not torch.isfinite(value).all():
        raise Fail("`softmax` returns nan/inf for large logits (|x| in the thousands): exp(x) overflows float32 above "
                   "~88. Subtract each row's maximum before exp; the result is unchanged mathematically")
    EX.compare(value, (x,), what="large logits (|x| up to 1e4)", tol=scaled_to(x))
