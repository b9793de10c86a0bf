"""Hidden checks of `categorical_cross_entropy(y, p)`: mean over rows of -log p[i, y[i]] (10 points)."""
from __future__ import annotations

import pytest
import torch

import solutions
from autograder.checks.sgd_mnist._support import (TOL, TOL_SUM, ask, borrowed, check_meta, check_result_tensor,
                                                  check_unchanged, class_probs, classes, expect_close, grad_of)
from autograder.judge.feedback import Fail
from autograder.judge.specs import T

NAME = "categorical_cross_entropy"
pytestmark = pytest.mark.exercise(NAME)
BANNED = {"nll_loss", "cross_entropy", "NLLLoss", "CrossEntropyLoss", "binary_cross_entropy"}


def _variants(y, p):
    y, p = y, p.double()
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


def _check(jail, y, p, device, what, tol):
    r = ask(jail.call, NAME, y, p, device=device)
    value = check_result_tensor(r.value, name=NAME, device=device, shape=())
    expect_close(value, solutions.categorical_cross_entropy(y, p.double()), name=NAME, what=what, tol=tol,
                 variants=_variants(y, p))


@pytest.mark.points(4)
def test_values(jail, gen, device):
    for n, c in [(1, 10), (9, 10), (6, 2), (5, 3)]:
        _check(jail, classes(gen, n, c), class_probs(gen, n, c), device, f"{n} rows of {c} classes", TOL)


@pytest.mark.points(1)
def test_edge_probabilities(jail, gen, device):
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
        _check(jail, y, p.float(), device, "probabilities very close to 0 or 1", TOL_SUM)
    except Fail as f:
        if "wrong values" in f.hint:
            raise Fail("`categorical_cross_entropy` is right for ordinary probabilities but wrong when the true "
                       "class's probability is close to 0 or 1: don't clip p or add a large epsilon") from None
        raise


@pytest.mark.points(2)
def test_gradient(jail, gen, device):
    n, c = 5, 4
    y, p = classes(gen, n, c), class_probs(gen, n, c)
    g = torch.tensor(0.8)
    r = ask(jail.call, NAME, y, T(p, requires_grad=True), device=device, backward=True, grad_output=g)
    got = grad_of(r, 1, NAME, "p")
    pr = p.double().requires_grad_()
    (solutions.categorical_cross_entropy(y, pr) * g.double()).backward()
    expect_close(got, pr.grad, name=NAME, what="the gradient with respect to `p`", tol=TOL_SUM)


@pytest.mark.points(1)
def test_contract(jail, gen):
    y, p = classes(gen, 7, 5), class_probs(gen, 7, 5)
    r = ask(jail.call, NAME, y, p, device="cpu")
    check_result_tensor(r.value, name=NAME, device="cpu", shape=())
    check_unchanged([y, p], r.args, NAME)


@pytest.mark.points(1)
def test_own_code(jail, gen, source):
    y, p = classes(gen, 3, 4), class_probs(gen, 3, 4)
    _check(jail, y, p, "cpu", "3 rows of 4 classes", TOL)
    used = borrowed(source, NAME, BANNED)
    if used:
        raise Fail(f"`{NAME}` borrows PyTorch's loss ({', '.join(used)}); pick -log p of the true class yourself")


@pytest.mark.points(1)
def test_meta_device(jail, gen):
    y, p = classes(gen, 8, 10), class_probs(gen, 8, 10)
    r = check_meta(lambda: jail.call(NAME, y, p, device="meta"), NAME)
    if r is not None:
        check_result_tensor(r.value, name=NAME, device="meta", shape=())
