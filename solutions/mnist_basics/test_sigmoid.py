"""Hidden checks of `sigmoid(x)`: `1 / (1 + exp(-x))` elementwise, written by hand (no torch.sigmoid, F.sigmoid or
Tensor.sigmoid), its value and gradient finite for any finite float32 input (|x| up to 1e4) (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import (ELEMENTWISE, Case, Fail, Gradient, T, close, exercise, expect_close, grad_of,
                                 points)

from . import reference
from ._inputs import RULES, Exercise

NAME = "sigmoid"
pytestmark = exercise(NAME)
# Finite float32 scores up to 1e4 of both signs, and exactly 0 (where the slope is 0.25)
EXTREMES = [-1e4, -1e3, -100.0, -88.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 88.0, 100.0, 1e3, 1e4]


def _variants(x):
    return {
        "your sigmoid has the sign of the exponent flipped: 1 / (1 + exp(x)) is sigmoid(-x), which goes to 0 for "
        "large scores instead of 1":
            lambda: 1 / (1 + torch.exp(x)),
        "your sigmoid is exp(-x) / (1 + exp(-x)), which is 1 - sigmoid(x): the numerator is 1 (or e^x over 1 + e^x)":
            lambda: torch.exp(-x) / (1 + torch.exp(-x)),
        "your sigmoid computes 1 / (1 - exp(-x)): the denominator is 1 + exp(-x)":
            lambda: 1 / (1 - torch.exp(-x)),
    }


def _case(*shape, scale=5.0):
    return Case(f"an input of shape {shape}", lambda gen: (torch.randn(shape, generator=gen) * scale,))


EX = Exercise(
    NAME, reference.sigmoid,
    cases=[_case(50), _case(4, 1), _case(2, 3, 5), _case(), _case(1)],
    gradient=Gradient(_case(6, 5), names=("x",)),
    misconceptions=_variants, shape=lambda x: tuple(x.shape), rule=RULES[NAME],
    points={"values": 3, "gradient": 2, "contract": 1, "meta": 1},
    contract_case=_case(3, 4), meta_case=_case(8),
)
globals().update(EX.checks())


def _extremes(gen) -> torch.Tensor:
    """The fixed extremes, then random scores of every magnitude up to 1e4, both signs."""
    rand = torch.sign(torch.randn(11, generator=gen)) * 10 ** (4 * torch.rand(11, generator=gen))
    return torch.cat([torch.tensor(EXTREMES), rand])


def _where(mask, x) -> str:
    sides = [s for s, m in (("very negative", mask & (x < 0)), ("very positive", mask & (x > 0))) if m.any()]
    return " and ".join(sides) + " scores"


@points(3)
def test_extreme_scores(jail, gen, device):
    """large scores (|x| up to 1e4): values and gradient"""
    x = _extremes(gen)
    g = torch.rand(x.shape, generator=gen) + 0.5
    r = EX.call(jail, (T(x, requires_grad=True),), device=device, backward=True, grad_output=g)
    value = EX.result(r, (x,), device=device)
    bad = ~torch.isfinite(value.detach().cpu())
    if bad.any():
        raise Fail(f"`sigmoid` returns inf or nan for {_where(bad, x)} (|x| in the hundreds or more): an exp "
                   f"overflows float32 above x = 88 (e^x / (1 + e^x) is inf / inf). Use, for each sign of x, the form "
                   f"whose exp only ever sees a negative number")
    EX.compare(value, (x,), what="scores of |x| up to 1e4")
    grad = grad_of(r, 0, NAME, "x").cpu()
    if grad.shape != x.shape:
        raise Fail("the gradient that reaches the input of your `sigmoid` does not have the input's shape")
    ref = x.double().requires_grad_()
    (torch.sigmoid(ref) * g.double()).sum().backward()
    bad = ~torch.isfinite(grad)
    if bad.any():
        both = bool((bad & (x < 0)).any() and (bad & (x > 0)).any())
        cause = ("`torch.where` evaluates (and differentiates) both of its branches for every element, and the "
                 "branch it does not pick still overflows: 0 times the inf slope of that branch is nan. Clamp each "
                 "branch's input to its own side (`x.clamp(min=0)` in one, `x.clamp(max=0)` in the other)" if both
                 else "the slope of 1 / (1 + exp(-x)) is exp(-x) / (1 + exp(-x))^2, inf / inf = nan once exp(-x) "
                 "overflows. Use a form whose exp never overflows (e^x / (1 + e^x) for negative x)")
        raise Fail(f"the gradient of your `sigmoid` is nan for {_where(bad, x)}: {cause}")
    zero = x == 0
    ok_elsewhere = close(grad[~zero], ref.grad[~zero], ELEMENTWISE)
    if ok_elsewhere and not close(grad[zero], ref.grad[zero], ELEMENTWISE):
        raise Fail("the slope of your `sigmoid` at a score of exactly 0 is wrong (it must be 0.25 times the "
                   "incoming gradient): the gradient of `x.abs()` at 0 is 0, so building -|x| with `.abs()` kills it, "
                   "and a model started at zero never learns. Take -|x| as `torch.where(x >= 0, -x, x)`, or clamp")
    expect_close(grad, ref.grad, name=NAME, what="the gradient at scores of |x| up to 1e4", tol=ELEMENTWISE)
