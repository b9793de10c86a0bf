"""Hidden checks of `BasicOptim(params, lr)`: `.step()` does `p -= lr * p.grad` for every parameter without
recording history, on every call, `params` any iterable of parameters (a generator included); `.zero_grad()`
clears every gradient (10 points).

The optimizer is built in the jail over known-good parameters with their gradients set, handed over as a generator
as `model.parameters()` is; a sequence of its methods runs, and where the parameters and gradients end up is
compared with the reference optimizer replayed here on the same parameters (and with known-wrong optimizers)."""
from __future__ import annotations

import torch

from autograder.checking import (ELEMENTWISE, Fail, Params, StudentObject, ask_method, check_meta, close, exercise,
                                 optim, points)
from autograder.checking.rules import rule_checks

from ._inputs import RULES

NAME = "BasicOptim"
pytestmark = exercise(NAME)
SHAPES = ((5, 3), (3,), (1,))


def _params(gen, shapes=SHAPES):
    values = [torch.randn(*s, generator=gen) for s in shapes]
    grads = [torch.randn(*s, generator=gen) for s in shapes]
    return values, grads


def _replay(values, grads, lr, methods, way="reference"):
    """(values, grads) after `methods` run on an optimizer built the `way` given, here in the judge. The reference
    is reference.BasicOptim's rule, its step taken by autograder.checking.optim.SGD (torch.optim.SGD's update op
    for op, without torch.optim's seconds of imports in every grading process)."""
    params = [torch.nn.Parameter(v.clone()) for v in values]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    sgd = optim.SGD(params, lr=lr)
    steps = 0
    with torch.no_grad():
        for m in methods:
            if m == "zero_grad":
                for p in params:
                    p.grad = None
            elif way == "reference":
                sgd.step()
            elif way == "first_step_only" and steps == 0:
                sgd.step()
            elif way == "uphill":
                for p in params:
                    p += lr * p.grad
            elif way == "ignores_lr":
                for p in params:
                    p -= p.grad
            steps += m == "step"
    return [p.detach() for p in params], [None if p.grad is None else p.grad.detach() for p in params]


WRONG = {
    "first_step_only": "your BasicOptim moves the parameters on its first step only: it keeps the generator it was "
                       "given (`model.parameters()` can be read once) and finds it empty from the second pass on. "
                       "Store `list(params)` in `__init__`",
    "uphill": "your BasicOptim steps up the gradient (`p += lr * p.grad`): step against it, `p -= lr * p.grad`",
    "ignores_lr": "your BasicOptim ignores the learning rate: the step is `lr * p.grad`",
    "never_moves": "your BasicOptim's step leaves the parameters where they were: `p = p - lr * p.grad` only rebinds "
                   "the name `p` to a new tensor. Update the parameter itself, in place (`p -= lr * p.grad` under "
                   "`torch.no_grad()`)",
}


def _run(jail, values, grads, lr, methods, *, generator=True, device="cpu"):
    r = ask_method(jail, StudentObject(NAME, Params(values, grads=grads, generator=generator), lr), methods,
                   name=NAME, device=device)
    after = r.obj_args[0] if r.obj_args else None
    if not isinstance(after, (list, tuple)) or len(after) != len(values) or \
            not all(isinstance(x, (list, tuple)) and len(x) == 2 for x in after):
        raise Fail("`BasicOptim` did not leave the parameters it was given intact")
    return r, [v for v, _ in after], [g for _, g in after]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(close(x, y, ELEMENTWISE) for x, y in zip(a, b))


def _check_values(got, values, grads, lr, methods):
    want, _ = _replay(values, grads, lr, methods)
    if _same(got, want):
        return
    if _same(got, values):
        raise Fail(WRONG["never_moves"])
    for way in ("first_step_only", "uphill", "ignores_lr"):
        if _same(got, _replay(values, grads, lr, methods, way)[0]):
            raise Fail(WRONG[way])
    raise Fail("`BasicOptim.step()` moves the parameters by the wrong amount: `p -= lr * p.grad` for every "
               "parameter, on every call")


def _lr(gen) -> float:
    return float(0.05 + 0.5 * torch.rand((), generator=gen))


@points(4)
def test_step(jail, gen, device):
    """one step"""
    values, grads = _params(gen)
    lr = _lr(gen)
    _, got, _ = _run(jail, values, grads, lr, ["step"], device=device)
    _check_values(got, values, grads, lr, ["step"])


@points(2)
def test_every_step(jail, gen):
    """every step, over a generator of parameters"""
    values, grads = _params(gen)
    lr = _lr(gen)
    methods = ["step", "step", "step"]
    _, got, _ = _run(jail, values, grads, lr, methods)
    _check_values(got, values, grads, lr, methods)


@points(1)
def test_list_of_parameters(jail, gen):
    """a list of parameters too"""
    values, grads = _params(gen, ((4,), (2, 2)))
    lr = _lr(gen)
    _, got, _ = _run(jail, values, grads, lr, ["step", "step"], generator=False)
    _check_values(got, values, grads, lr, ["step", "step"])


@points(2, earned=True)
def test_zero_grad(jail, gen):
    """zero_grad clears every gradient"""
    values, grads = _params(gen)
    lr = _lr(gen)
    methods = ["step", "zero_grad"]
    _, got, got_grads = _run(jail, values, grads, lr, methods)
    _check_values(got, values, grads, lr, methods)
    for g, g0 in zip(got_grads, grads):
        if g is None or not g.any():
            continue                                      # set to None or zeroed: both clear it
        if close(g, g0, ELEMENTWISE):
            raise Fail("`BasicOptim.zero_grad()` leaves the gradients as they were, so the next backward adds to "
                       "them. Set `p.grad = None`, or call `p.grad.zero_()` (with the parentheses: `p.grad.zero_` "
                       "alone only names the method)")
        raise Fail("`BasicOptim.zero_grad()` leaves non-zero gradients behind; clear every one of them")


@points(1, earned=True)
def test_meta_device(jail, gen):
    """runs on any device (meta)"""
    values, grads = _params(gen)
    check_meta(lambda: jail.call_method(StudentObject(NAME, Params(values, grads=grads, generator=True), 0.1),
                                        ["step", "zero_grad"], device="meta"), NAME)


globals().update(rule_checks(NAME, RULES[NAME]))
