"""Hidden checks of `binary_loss(y, p)`: mean binary cross-entropy, targets first (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import REDUCTION, Case, Fail, FunctionExercise, Gradient, exercise, points

from . import reference
from ._inputs import RULES, edge_probs, probs, targets01

NAME = "binary_loss"
pytestmark = exercise(NAME)


def _variants(y, p):
    return {
        "your loss ignores the examples whose target is 0: the `(1 - y) * log(1 - p)` term is missing":
            lambda: -(y * p.log()).mean(),
        "your loss is positive-log-likelihood: negate it (-(y·log p + (1-y)·log(1-p)))":
            lambda: (y * p.log() + (1 - y) * (1 - p).log()).mean(),
        "your loss sums over the examples; the contract asks for the mean (the loss must not grow with the batch)":
            lambda: -(y * p.log() + (1 - y) * (1 - p).log()).sum(),
        "your loss pairs `y` with `log(1 - p)` and `1 - y` with `log p`: the two terms are swapped":
            lambda: -((1 - y) * p.log() + y * (1 - p).log()).mean(),
        "your loss uses log base 10 (or 2); cross-entropy uses the natural log, `torch.log`":
            lambda: -(y * p.log10() + (1 - y) * (1 - p).log10()).mean(),
        "your loss uses log base 2; cross-entropy uses the natural log, `torch.log`":
            lambda: -(y * p.log2() + (1 - y) * (1 - p).log2()).mean(),
    }


def _case(shape):
    return Case(f"targets and probabilities of shape {shape}", lambda gen: (targets01(gen, *shape), probs(gen, *shape)))


class _BinaryLoss(FunctionExercise):
    def result(self, r, args, *, device, shape=True):
        value = super().result(r, args, device=device, shape=shape)
        if value.device.type != "meta" and not torch.isfinite(value).all():   # log(0): p and y swapped
            raise Fail("`binary_loss` returns inf/nan for valid inputs: log(0) somewhere. Check the argument order: "
                       "targets `y` first, probabilities `p` second (the seed's order)")
        return value


EX = _BinaryLoss(
    NAME, reference.binary_loss,
    cases=[_case((1,)), _case((7,)), _case((4, 3))],
    gradient=Gradient(_case((6,)), wrt=(1,), names=("y", "p")),
    misconceptions=_variants, shape=lambda y, p: (), rule=RULES[NAME],
    points={"values": 4, "gradient": 2, "contract": 1, "meta": 1},
    contract_case=_case((5, 2)), meta_case=_case((8,)),
)
globals().update(EX.checks())


@points(2)
def test_edge_probabilities(jail, gen, device):
    """probabilities near 0 and 1"""
    y, p = targets01(gen, 12), edge_probs(gen, 12)
    try:
        EX.expect(jail, (y, p), device=device, what="probabilities within 1e-3 of 0 or 1", tol=REDUCTION)
    except Fail as f:
        if "wrong values" in f.hint:
            raise Fail("`binary_loss` is right for ordinary probabilities but wrong when p is very close to 0 "
                       "or 1 (e.g. 1e-6): don't clip p or add an epsilon that large") from None
        raise
