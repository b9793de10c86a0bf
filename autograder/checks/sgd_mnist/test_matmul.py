"""Hidden checks of `matmul(a, b)`: (n, k) x (k, m) -> (n, m) by broadcasting and a reduction (10 points)."""
from __future__ import annotations

import pytest
import torch

import solutions
from autograder.checks.sgd_mnist._support import (TOL_SUM, ask, borrowed, check_meta, check_result_tensor,
                                                  check_unchanged, expect_close, grad_of, logits)
from autograder.judge.feedback import Fail
from autograder.judge.specs import T

NAME = "matmul"
pytestmark = pytest.mark.exercise(NAME)
# CONTRACT §1: no @, torch.matmul, mm, bmm, einsum, dot, tensordot, inner, F.linear (and their relatives)
BANNED = {"matmul", "mm", "bmm", "einsum", "dot", "tensordot", "inner", "linear", "mv", "addmm", "addmv",
          "baddbmm", "addbmm", "chain_matmul", "multi_dot", "vdot", "vecdot", "__matmul__", "__rmatmul__",
          "bilinear", "Linear"}
SHAPES = [(3, 4, 5), (1, 7, 1), (1, 6, 3), (5, 2, 5), (4, 4, 4), (8, 1, 3)]


def _variants(a, b):
    a, b = a.double(), b.double()
    return {
        "your result is the transpose of the product: an (n, k) x (k, m) product is (n, m), row i of `a` "
        "against column j of `b`":
            lambda: torch.matmul(a, b).T,
        "your result is the element-wise product `a * b`, not the matrix product (each entry is a sum over k)":
            lambda: a * b,
        "you computed `b` times `a`; matrix multiplication is not commutative, the contract asks for `a` times `b`":
            lambda: torch.matmul(b, a),
        "your reduction runs over dim 0 (the rows of `a`) instead of the shared dimension k":
            lambda: (a[:, :, None] * b[None, :, :]).sum(0),
        "your reduction runs over the last dimension (m) instead of the shared dimension k":
            lambda: (a[:, :, None] * b[None, :, :]).sum(-1),
    }


def _check(jail, a, b, device):
    what = f"a {tuple(a.shape)} by {tuple(b.shape)} product"
    r = ask(jail.call, NAME, a, b, device=device)
    value = check_result_tensor(r.value, name=NAME, device=device)
    expect_close(value, solutions.matmul(a.double(), b.double()), name=NAME, what=what, tol=TOL_SUM,
                 variants=_variants(a, b))
    return r


@pytest.mark.points(3)
def test_values(jail, gen, device):
    for n, k, m in SHAPES:
        _check(jail, logits(gen, n, k, scale=1.0), logits(gen, k, m, scale=1.0), device)


@pytest.mark.points(1)
def test_gradient(jail, gen, device):
    a, b, g = logits(gen, 3, 4, scale=1.0), logits(gen, 4, 2, scale=1.0), torch.randn(3, 2, generator=gen)
    r = ask(jail.call, NAME, T(a, requires_grad=True), T(b, requires_grad=True), device=device, backward=True,
            grad_output=g)
    ga, gb = grad_of(r, 0, NAME, "a"), grad_of(r, 1, NAME, "b")
    ar, br = a.double().requires_grad_(), b.double().requires_grad_()
    (solutions.matmul(ar, br) * g.double()).sum().backward()
    expect_close(ga, ar.grad, name=NAME, what="the gradient with respect to `a`", tol=TOL_SUM)
    expect_close(gb, br.grad, name=NAME, what="the gradient with respect to `b`", tol=TOL_SUM)


@pytest.mark.points(1)
def test_contract(jail, gen):
    a, b = logits(gen, 2, 3), logits(gen, 3, 4)
    r = _check(jail, a, b, "cpu")
    check_unchanged([a, b], r.args, NAME)


@pytest.mark.points(4)
def test_rules(jail, gen, source):
    # no built-in matrix product and no Python loop: the point of the exercise is broadcasting + a sum
    a, b = logits(gen, 4, 3), logits(gen, 3, 2)
    r = ask(jail.call, NAME, a, b, device="cpu", trace=True)     # works at all: a stub earns nothing here
    expect_close(check_result_tensor(r.value, name=NAME, device="cpu"), solutions.matmul(a.double(), b.double()),
                 name=NAME, what="a (4, 3) by (3, 2) product", tol=TOL_SUM, variants=_variants(a, b))
    traced = sorted({t for t in (getattr(r, "trace", None) or []) if str(t).split(".")[-1] in BANNED})
    seen = f" (at run time it called {', '.join(traced)})" if traced else ""
    if source.uses_matmul_operator(NAME):
        raise Fail(f"`matmul` uses the `@` operator{seen}; the exercise is to build the product from "
                   f"broadcasting (`a[:, :, None] * b[None, :, :]`) and a sum over the shared dimension")
    used = borrowed(source, NAME, BANNED)
    if used:
        raise Fail(f"`matmul` calls a built-in matrix product ({', '.join(used)}); build it from broadcasting "
                   f"and a sum over the shared dimension instead")
    loops = source.loops(NAME)
    if loops:
        raise Fail("`matmul` loops in Python (a for/while loop or a comprehension); broadcasting does the "
                   "looping for you, in one expression, on any device")


@pytest.mark.points(1)
def test_meta_device(jail, gen):
    a, b = logits(gen, 5, 3), logits(gen, 3, 4)
    r = check_meta(lambda: jail.call(NAME, a, b, device="meta"), NAME)
    if r is not None:
        check_result_tensor(r.value, name=NAME, device="meta", shape=(5, 4))
