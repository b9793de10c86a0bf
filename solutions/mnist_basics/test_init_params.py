"""Hidden checks of `init_params(size, std=1.0)`: a leaf tensor of shape `size`, `torch.randn(size) * std`, with
`requires_grad=True` (10 points).

The values are compared draw for draw: the jail seeds torch's generator before the call, the judge draws the same
numbers. Whether the result is a leaf that requires grad is what the jail reports of the returned tensor
(`r.autograd`)."""
from __future__ import annotations

import torch

from autograder.checking import (ELEMENTWISE, Fail, StudentError, check_result_tensor,
                                 exercise, expect_close, explain, points)
from autograder.checking.rules import rule_checks

from ._inputs import RULES

NAME = "init_params"
pytestmark = exercise(NAME)
SIZES = [((784, 1), 1.0), ((3, 4), 0.01), (1, 1.0), ((20,), 2.5), ((2, 3, 2), 0.3)]


def _shape(size) -> tuple:
    return (size,) if isinstance(size, int) else tuple(size)


def _expected(seed, size, std):
    torch.manual_seed(seed)
    return torch.randn(size) * std


def _variants(seed, size, std):
    def drawn(fn):
        def make():
            torch.manual_seed(seed)
            return fn()
        return make
    return {
        "your init_params ignores `std`: the values are always standard normal; multiply `torch.randn(size)` by std":
            drawn(lambda: torch.randn(size)),
        "your init_params draws uniform numbers in [0, 1) with `torch.rand`; the parameters come from the normal "
        "distribution, `torch.randn`":
            drawn(lambda: torch.rand(size) * std),
        "your init_params divides by `std` instead of multiplying by it":
            drawn(lambda: torch.randn(size) / std),
        "your init_params multiplies by std twice (std squared)":
            drawn(lambda: torch.randn(size) * std * std),
    }


def _call(jail, seed, size, std, *, default_std=False):
    args = (size,) if default_std else (size, std)
    try:
        r = jail.call(NAME, *args, seed=seed)
    except StudentError as err:
        if isinstance(size, int) and err.exc_type == "TypeError":
            raise Fail(f"`init_params` fails for a size that is a plain number, init_params({size}): pass `size` to "
                       f"`torch.randn` as it is (a tuple or a number), without unpacking it with `*`") from None
        raise Fail(explain(err, NAME)) from None
    value = check_result_tensor(r.value, name=NAME, device="cpu", shape=None)
    what = f"init_params({size!r})" if default_std else f"init_params({size!r}, std={std})"
    expect_close(value, _expected(seed, size, std), name=NAME, what=what, tol=ELEMENTWISE,
                 variants=_variants(seed, size, std))
    return r


def _values(jail, seed, size, std, *, default_std=False):
    return _call(jail, seed, size, std, default_std=default_std).value


def _seed(gen) -> int:
    return int(torch.randint(0, 2**31 - 1, (), generator=gen))


@points(4)
def test_values(jail, gen):
    """values: torch.randn(size) * std"""
    for size, std in SIZES:
        _values(jail, _seed(gen), size, std)


@points(2)
def test_default_std(jail, gen):
    """std defaults to 1"""
    _values(jail, _seed(gen), (5, 1), 1.0, default_std=True)
    _values(jail, _seed(gen), 3, 1.0, default_std=True)


@points(3, earned=True)
def test_leaf_that_requires_grad(jail, gen):
    """a leaf tensor that requires grad"""
    for size, std in [((784, 1), 0.01), (1, 1.0)]:
        autograd = _call(jail, _seed(gen), size, std).autograd
        if not autograd.get("requires_grad"):
            raise Fail("`init_params` returns a tensor without `requires_grad=True`: backward computes no "
                       "gradient for it, so the parameters can never learn. Call `.requires_grad_()` on the result")
        if not autograd.get("is_leaf"):
            raise Fail("`init_params` returns a tensor computed from another (e.g. `torch.randn(size, "
                       "requires_grad=True) * std`): it is not a leaf, so backward leaves its `.grad` at None and "
                       "the step has nothing to use. Scale first, then ask for gradients: "
                       "`(torch.randn(size) * std).requires_grad_()`")


@points(1, earned=True)
def test_contract(jail, gen):
    """float32, shape `size`"""
    for size, std in [((4, 2), 0.5), (7, 1.0)]:
        value = _values(jail, _seed(gen), size, std)
        check_result_tensor(value, name=NAME, device="cpu", dtype=torch.float32, shape=_shape(size))


globals().update(rule_checks(NAME, RULES[NAME]))
