"""Hidden checks of `binary_loss(y, p)`: mean binary cross-entropy, targets first (10 points)."""
from __future__ import annotations

import pytest
import torch

import solutions
from autograder.checks.sgd_mnist._support import (TOL, TOL_SUM, ask, borrowed, check_meta, check_result_tensor,
                                                  check_unchanged, edge_probs, expect_close, grad_of, probs,
                                                  targets01)
from autograder.judge.feedback import Fail
from autograder.judge.specs import T

NAME = "binary_loss"
pytestmark = pytest.mark.exercise(NAME)
BANNED = {"binary_cross_entropy", "binary_cross_entropy_with_logits", "BCELoss", "BCEWithLogitsLoss"}


def _variants(y, p):
    y, p = y.double(), p.double()
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


def _swapped_hint(value):
    if isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
        return ("`binary_loss` returns inf/nan for valid inputs: log(0) somewhere. Check the argument order: "
                "targets `y` first, probabilities `p` second (the seed's order)")
    return None


def _check(jail, y, p, device, what, tol):
    r = ask(jail.call, NAME, y, p, device=device)
    value = check_result_tensor(r.value, name=NAME, device=device, shape=())
    hint = _swapped_hint(value)
    if hint:
        raise Fail(hint)
    expect_close(value, solutions.binary_loss(y.double(), p.double()), name=NAME, what=what, tol=tol,
                 variants=_variants(y, p))


@pytest.mark.points(4)
def test_values(jail, gen, device):
    for shape in [(1,), (7,), (4, 3)]:
        y, p = targets01(gen, *shape), probs(gen, *shape)
        _check(jail, y, p, device, f"targets and probabilities of shape {shape}", TOL)


@pytest.mark.points(2)
def test_edge_probabilities(jail, gen, device):
    n = 12
    y, p = targets01(gen, n), edge_probs(gen, n)
    try:
        _check(jail, y, p, device, "probabilities within 1e-3 of 0 or 1", TOL_SUM)
    except Fail as f:
        if "wrong values" in f.hint:
            raise Fail("`binary_loss` is right for ordinary probabilities but wrong when p is very close to 0 "
                       "or 1 (e.g. 1e-6): don't clip p or add an epsilon that large") from None
        raise


@pytest.mark.points(2)
def test_gradient(jail, gen, device):
    y, p = targets01(gen, 6), probs(gen, 6)
    g = torch.tensor(1.7)
    r = ask(jail.call, NAME, y, T(p, requires_grad=True), device=device, backward=True, grad_output=g)
    got = grad_of(r, 1, NAME, "p")
    pr = p.double().requires_grad_()
    (solutions.binary_loss(y.double(), pr) * g.double()).backward()
    expect_close(got, pr.grad, name=NAME, what="the gradient with respect to `p`", tol=TOL_SUM)


@pytest.mark.points(1)
def test_contract(jail, gen, source):
    y, p = targets01(gen, 5, 2), probs(gen, 5, 2)
    r = ask(jail.call, NAME, y, p, device="cpu")
    check_result_tensor(r.value, name=NAME, device="cpu", shape=())
    check_unchanged([y, p], r.args, NAME)
    used = borrowed(source, NAME, BANNED)
    if used:
        raise Fail(f"`binary_loss` borrows PyTorch's loss ({', '.join(used)}); write the formula yourself")


@pytest.mark.points(1)
def test_meta_device(jail, gen):
    y, p = targets01(gen, 8), probs(gen, 8)
    r = check_meta(lambda: jail.call(NAME, y, p, device="meta"), NAME)
    if r is not None:
        check_result_tensor(r.value, name=NAME, device="meta", shape=())
