"""Hidden checks of `log_softmax(x)`: along the last dimension, computed stably (10 points)."""
from __future__ import annotations

import pytest
import torch

import solutions
from autograder.checks.sgd_mnist._support import (TOL, TOL_SUM, ask, borrowed, check_meta, check_result_tensor,
                                                  check_unchanged, expect_close, extreme_logits, grad_of, logits,
                                                  tol_scaled)
from autograder.judge.feedback import Fail
from autograder.judge.specs import T

NAME = "log_softmax"
pytestmark = pytest.mark.exercise(NAME)
BANNED = {"log_softmax", "softmax", "LogSoftmax", "Softmax", "softmin"}


def _variants(x):
    x = x.double()
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


def _check(jail, x, device, what, tol):
    r = ask(jail.call, NAME, x, device=device)
    value = check_result_tensor(r.value, name=NAME, device=device, shape=x.shape)
    expect_close(value, solutions.log_softmax(x.double()), name=NAME, what=what, tol=tol, variants=_variants(x))
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
    top = value.gather(-1, x.argmax(-1, keepdim=True))         # the largest logit's entry: finite unless overflow
    if torch.isneginf(value).any() and torch.isfinite(top).all():
        raise Fail("`log_softmax` returns -inf when one logit is far below the row's largest: that is "
                   "log(softmax(x)), whose tiny probabilities round to 0 before the log. Compute it in log space: "
                   "x - max - log(sum(exp(x - max)))")
    if not torch.isfinite(value).all():
        raise Fail("`log_softmax` returns nan/inf for large logits: exp(x) overflows float32 above ~88. Subtract "
                   "each row's maximum first (the log-sum-exp trick)")
    expect_close(value, solutions.log_softmax(x.double()), name=NAME, what="large logits (|x| up to 1e4)",
                 tol=tol_scaled(x), variants=_variants(x))


@pytest.mark.points(2)
def test_gradient(jail, gen, device):
    x, g = logits(gen, 3, 5), torch.randn(3, 5, generator=gen)
    r = ask(jail.call, NAME, T(x, requires_grad=True), device=device, backward=True, grad_output=g)
    got = grad_of(r, 0, NAME, "x")
    xr = x.double().requires_grad_()
    (solutions.log_softmax(xr) * g.double()).sum().backward()
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
        raise Fail(f"`log_softmax` borrows PyTorch's ({', '.join(used)}); build it from max, exp, sum and log "
                   f"yourself")


@pytest.mark.points(1)
def test_meta_device(jail, gen):
    x = logits(gen, 4, 10)
    r = check_meta(lambda: jail.call(NAME, x, device="meta"), NAME)
    if r is not None:
        check_result_tensor(r.value, name=NAME, device="meta", shape=x.shape)
