"""Hidden checks of `softmax(x)`: along the last dimension, finite for any finite float32 input (10 points)."""
from __future__ import annotations

import pytest
import torch

import solutions
from autograder.checks.sgd_mnist._support import (TOL, TOL_SUM, ask, borrowed, check_meta, check_result_tensor,
                                                  check_unchanged, expect_close, extreme_logits, grad_of, logits,
                                                  tol_scaled)
from autograder.judge.feedback import Fail
from autograder.judge.specs import T

NAME = "softmax"
pytestmark = pytest.mark.exercise(NAME)
BANNED = {"softmax", "log_softmax", "Softmax", "LogSoftmax", "softmin", "Softmin", "gumbel_softmax"}


def _variants(x):
    x = x.double()
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


def _check(jail, x, device, what, tol):
    r = ask(jail.call, NAME, x, device=device)
    value = check_result_tensor(r.value, name=NAME, device=device, shape=x.shape)
    expect_close(value, solutions.softmax(x.double()), name=NAME, what=what, tol=tol, variants=_variants(x))
    return r


@pytest.mark.points(3)
def test_values(jail, gen, device):
    for shape in [(1, 10), (6, 10), (4, 4), (2, 3, 5), (7,)]:
        _check(jail, logits(gen, *shape), device, f"an input of shape {shape}", TOL)


@pytest.mark.points(2)
def test_large_logits(jail, gen, device):
    x = extreme_logits(gen, 5, 10)
    r = ask(jail.call, NAME, x, device=device)
    value = check_result_tensor(r.value, name=NAME, device=device, shape=x.shape)
    if not torch.isfinite(value).all():
        raise Fail("`softmax` returns nan/inf for large logits (|x| in the thousands): exp(x) overflows float32 "
                   "above ~88. Subtract each row's maximum before exp; the result is unchanged mathematically")
    expect_close(value, solutions.softmax(x.double()), name=NAME, what="large logits (|x| up to 1e4)",
                 tol=tol_scaled(x), variants=_variants(x))


@pytest.mark.points(2)
def test_gradient(jail, gen, device):
    x, g = logits(gen, 3, 5), torch.randn(3, 5, generator=gen)
    r = ask(jail.call, NAME, T(x, requires_grad=True), device=device, backward=True, grad_output=g)
    got = grad_of(r, 0, NAME, "x")
    xr = x.double().requires_grad_()
    (solutions.softmax(xr) * g.double()).sum().backward()
    expect_close(got, xr.grad, name=NAME, what="the gradient with respect to `x`", tol=TOL_SUM)


@pytest.mark.points(1)
def test_contract(jail, gen):
    x = logits(gen, 4, 6)
    r = _check(jail, x, "cpu", "an input of shape (4, 6)", TOL)
    check_unchanged([x], r.args, NAME)


@pytest.mark.points(1)
def test_own_code(jail, gen, source):
    _check(jail, logits(gen, 2, 5), "cpu", "an input of shape (2, 5)", TOL)
    used = borrowed(source, NAME, BANNED)
    if used:
        raise Fail(f"`softmax` borrows PyTorch's ({', '.join(used)}); build it from exp, max and sum yourself")


@pytest.mark.points(1)
def test_meta_device(jail, gen):
    x = logits(gen, 4, 10)
    r = check_meta(lambda: jail.call(NAME, x, device="meta"), NAME)
    if r is not None:
        check_result_tensor(r.value, name=NAME, device="meta", shape=x.shape)
