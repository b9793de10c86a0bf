"""Hidden checks of `log_softmax(x)`: along the last dimension, computed stably (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import (KEEPDIM_ADVICE, Case, Fail, FunctionExercise, Gradient, exercise, points,
                                 scaled_to)

from . import reference
from ._inputs import RULES, extreme_logits, logits

NAME = "log_softmax"
pytestmark = exercise(NAME)


def _variants(x):
    e = x.exp()
    v = {
        "your log_softmax uses the seed's `log(exp(x) / (1 + exp(x).sum(...)))`: the `1 +` does not belong there":
            lambda: (e / (1 + e.sum(-1, keepdim=True))).log(),
        "your log_softmax returns the softmax itself; take its log (stably: x - max - log(sum(exp(x - max))))":
            lambda: torch.softmax(x, -1),
        "your log_softmax subtracts the row's max but forgets the log-sum-exp term":
            lambda: x - x.max(-1, keepdim=True).values,
        "your log_softmax subtracts log(sum(exp(x))) without `keepdim=True`: the (N,) sums broadcast along the "
        "wrong axis":
            lambda: x - e.sum(-1).log(),
    }
    if x.dim() >= 2:
        v = {
            "your log_softmax normalises along dim 0 (over the batch) instead of the last dimension (over the "
            "classes)":
                lambda: torch.log_softmax(x, 0),
            "your log_softmax is the seed's `log(exp(x) / (1 + exp(x).sum(dim=0)))`: the sum runs over the batch "
            "(dim 0) instead of the classes, and the `1 +` does not belong there":
                lambda: (e / (1 + e.sum(0))).log(),
            **v,
        }
    if x.dim() >= 3:
        v["your log_softmax normalises along dim 1; the contract asks for the last dimension (dim=-1)"] = \
            lambda: torch.log_softmax(x, 1)
    return v


def _case(*shape):
    return Case(f"an input of shape {shape}", lambda gen: (logits(gen, *shape),))


EX = FunctionExercise(
    NAME, reference.log_softmax,
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
    top = value.gather(-1, x.argmax(-1, keepdim=True))         # the largest logit's entry: finite unless overflow
    if torch.isneginf(value).any() and torch.isfinite(top).all():
        raise Fail("`log_softmax` returns -inf when one logit is far below the row's largest: that is "
                   "log(softmax(x)), whose tiny probabilities round to 0 before the log. Compute it in log space: "
                   "x - max - log(sum(exp(x - max)))")
    if not torch.isfinite(value).all():
        raise Fail("`log_softmax` returns nan/inf for large logits: exp(x) overflows float32 above ~88. Subtract "
                   "each row's maximum first (the log-sum-exp trick)")
    EX.compare(value, (x,), what="large logits (|x| up to 1e4)", tol=scaled_to(x))
