"""Hidden checks of `linear1(xb, weights, bias)`: `xb @ weights + bias`, `(N, 784)`, `(784, 1)`, `(1,)` give
`(N, 1)` (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import REDUCTION, Case, Gradient, exercise

from . import reference
from ._inputs import RULES, Exercise, images

NAME = "linear1"
pytestmark = exercise(NAME)


def _variants(xb, weights, bias):
    return {
        "your linear1 multiplies element by element (`xb * weights.T`) instead of taking the matrix product "
        "`xb @ weights`: one number per pixel, not one score per image":
            lambda: xb * weights.T + bias,
        "your linear1 forgets to add the bias":
            lambda: xb @ weights,
        "your linear1 returns the scores as a row (1, N) instead of a column (N, 1): `xb @ weights` is already "
        "(N, 1), no transposing needed":
            lambda: weights.T @ xb.T + bias,
        "your linear1 sums over the whole batch, giving one score for all the images together; each image (row) "
        "gets its own score":
            lambda: (xb * weights.T).sum() + bias,
        "your linear1 multiplies by the bias instead of adding it":
            lambda: (xb @ weights) * bias,
    }


def _case(n, k=784):
    return Case(f"a batch ({n}, {k}) with weights ({k}, 1) and bias (1,)",
                lambda gen: (images(gen, n, k), torch.randn(k, 1, generator=gen), torch.randn(1, generator=gen)))


EX = Exercise(
    NAME, reference.linear1,
    cases=[_case(7), _case(1), _case(6, 20), _case(64)],
    gradient=Gradient(_case(5), wrt=(0, 1, 2), names=("xb", "weights", "bias")),
    tol=REDUCTION, misconceptions=_variants, rule=RULES[NAME],
    points={"values": 5, "gradient": 3, "contract": 1, "meta": 1},
    contract_case=_case(3), meta_case=_case(4),
)
globals().update(EX.checks())
