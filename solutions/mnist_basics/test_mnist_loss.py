"""Hidden checks of `mnist_loss(predictions, targets)`: `torch.where(targets == 1, 1 - s, s).mean()` with
`s = sigmoid(predictions)`, the student's own sigmoid; predictions and targets of one shape, `(N,)` or `(N, 1)`
(10 points). The calls swap in a known-good `sigmoid` (one mistake costs once); a check asks that the loss calls
the student's own, and the rule forbids PyTorch's."""
from __future__ import annotations

import torch

from autograder.checking import REDUCTION, Case, Fail, Gradient, exercise, points

from . import reference
from ._inputs import RULES, Exercise, scores, targets01

NAME = "mnist_loss"
pytestmark = exercise(NAME)
GOOD = {"sigmoid": reference.sigmoid}


def _variants(p, t):
    s = torch.sigmoid(p)
    v = {
        "your mnist_loss forgets the sigmoid: it uses the raw scores as if they were between 0 and 1. "
        "Take `s = sigmoid(predictions)` first":
            lambda: torch.where(t == 1, 1 - p, p).mean(),
        "your mnist_loss swaps the two cases: it rewards the model for calling a 3 a 7. Where the target is 1 "
        "(a 3) the loss is 1 - s, where it is 0 the loss is s":
            lambda: torch.where(t == 1, s, 1 - s).mean(),
        "your mnist_loss sums over the batch instead of averaging (`.mean()`): it would grow with the batch size":
            lambda: torch.where(t == 1, 1 - s, s).sum(),
        "your mnist_loss returns one loss per image; return their mean, a 0-d tensor (`.mean()`)":
            lambda: torch.where(t == 1, 1 - s, s),
        "your mnist_loss is the binary cross-entropy; this lesson's loss is the distance from the target, "
        "`torch.where(targets == 1, 1 - s, s).mean()`":
            lambda: -(t * s.log() + (1 - t) * (1 - s).log()).mean(),
        "your mnist_loss averages the squared distance from the target; the lesson's loss is the distance itself, "
        "`torch.where(targets == 1, 1 - s, s).mean()`":
            lambda: ((s - t) ** 2).mean(),
    }
    flat_first = {}
    if p.dim() == 2 and p.shape[0] > 1:
        flat = ("your mnist_loss lines up a column (N, 1) against a flat row (N,) ({}), which broadcast to an "
                "(N, N) table: every prediction is compared with every target. Keep predictions and targets in the "
                "shape they came in (no `.flatten()`, `.squeeze()` or `.view(-1)` of one of them)")
        flat_first[flat.format("the targets flattened")] = \
            lambda: torch.where(t.reshape(-1) == 1, 1 - s, s).mean()
        flat_first[flat.format("the predictions flattened")] = \
            lambda: torch.where(t == 1, 1 - s.reshape(-1), s.reshape(-1)).mean()
    return {**flat_first, **v}      # first: an (N, 1) case is reached only once the (N,) case passed


def _case(*shape):
    return Case(f"predictions and targets of shape {shape}", lambda gen: (scores(gen, *shape), targets01(gen, *shape)))


EX = Exercise(
    NAME, reference.mnist_loss,
    cases=[_case(9), _case(9, 1), _case(1), _case(1, 1), _case(64, 1)],
    gradient=Gradient(_case(7, 1), names=("predictions",)),
    tol=REDUCTION, misconceptions=_variants, shape=lambda p, t: (), rule=RULES[NAME], known_good=GOOD,
    points={"values": 5, "gradient": 2, "contract": 1, "meta": 1},
    contract_case=_case(6, 1), meta_case=_case(6, 1),
)
globals().update(EX.checks())


@points(1, earned=True)
def test_uses_own_sigmoid(jail, source):
    """calls your sigmoid"""
    if "sigmoid" not in (source.calls(NAME) or set()):
        raise Fail("`mnist_loss` does not call your `sigmoid`: reuse the function you wrote above, "
                   "`s = sigmoid(predictions)`")
