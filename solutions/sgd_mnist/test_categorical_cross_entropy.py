"""Hidden checks of `categorical_cross_entropy(y, p)`: mean over rows of -log p[i, y[i]] (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import REDUCTION, Case, Fail, FunctionExercise, Gradient, exercise, points

from . import reference
from ._inputs import RULES, class_probs, classes

NAME = "categorical_cross_entropy"
pytestmark = exercise(NAME)


def _variants(y, p):
    n = len(y)
    picked = p[torch.arange(n), y]
    onehot = torch.nn.functional.one_hot(y, p.shape[1]).double()
    return {
        "your loss is positive: cross-entropy is the *negative* log-probability of the true class":
            lambda: picked.log().mean(),
        "your loss sums over the rows; the contract asks for the mean over rows":
            lambda: -picked.log().sum(),
        "`p[:, y]` picks, for every row, the columns of *all* targets (an N×N block); pick one entry per row: "
        "`p[torch.arange(N), y]` (or `gather`)":
            lambda: -p[:, y].log().mean(),
        "your loss averages -log p over every class; only the true class's probability counts":
            lambda: -p.log().mean(),
        "your loss adds (1 - y)·log(1 - p) terms for the wrong classes (the binary formula applied per class); "
        "categorical cross-entropy uses -log p of the true class only":
            lambda: -(onehot * p.log() + (1 - onehot) * (1 - p).log()).sum(1).mean(),
        "your loss is -log of the *mean* probability of the true class; take the log per row, then the mean":
            lambda: -picked.mean().log(),
        "your loss uses the probability itself, not its log: -mean(p[i, y[i]])":
            lambda: -picked.mean(),
    }


def _case(n, c):
    return Case(f"{n} rows of {c} classes", lambda gen: (classes(gen, n, c), class_probs(gen, n, c)))


EX = FunctionExercise(
    NAME, reference.categorical_cross_entropy,
    cases=[_case(1, 10), _case(9, 10), _case(6, 2), _case(5, 3)],
    gradient=Gradient(_case(5, 4), wrt=(1,), names=("y", "p")),
    misconceptions=_variants, shape=lambda y, p: (), rule=RULES[NAME],
    points={"values": 4, "gradient": 2, "contract": 1, "meta": 1},
    contract_case=_case(7, 5), meta_case=_case(8, 10),
)
globals().update(EX.checks())


@points(2)
def test_edge_probabilities(jail, gen, device):
    """probabilities near 0 and 1"""
    n, c = 6, 4
    y, p = classes(gen, n, c), class_probs(gen, n, c).double()
    # the true class gets 1e-6 in half the rows, ~1 - 1e-6 in the others; rows still sum to 1
    for i in range(n):
        tiny = 1e-6 if i % 2 == 0 else 1 - 1e-6
        rest = torch.ones(c, dtype=torch.float64)
        rest[y[i]] = 0
        p[i] = rest * (1 - tiny) / (c - 1)
        p[i, y[i]] = tiny
    try:
        EX.expect(jail, (y, p.float()), device=device, what="probabilities very close to 0 or 1", tol=REDUCTION)
    except Fail as f:
        if "wrong values" in f.hint:
            raise Fail("`categorical_cross_entropy` is right for ordinary probabilities but wrong when the true "
                       "class's probability is close to 0 or 1: don't clip p or add a large epsilon") from None
        raise
