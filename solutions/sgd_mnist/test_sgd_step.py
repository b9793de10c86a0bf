"""Hidden checks of `sgd_step(params, lr)`: p -= lr * p.grad without autograd history, then zero the
gradients (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import ELEMENTWISE, Fail, Params, ask, check_meta, close, exercise, points
from autograder.checking.rules import rule_checks

from . import reference
from ._inputs import RULES

NAME = "sgd_step"
pytestmark = exercise(NAME)


def _case(gen, shapes=((4, 3), (3,))):
    values = [torch.randn(*s, generator=gen) for s in shapes]
    grads = [torch.randn(*s, generator=gen) for s in shapes]
    return values, grads


def _step(jail, values, grads, lr, device):
    r = ask(jail.call, NAME, Params(values, grads=grads), lr, device=device)
    after = r.args[0] if r.args else None
    if not isinstance(after, (list, tuple)) or len(after) != len(values):
        raise Fail("`sgd_step` did not leave the parameter list it was given intact")
    return r, after


def _reference(values, grads, lr):
    params = [torch.nn.Parameter(v.clone()) for v in values]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    reference.sgd_step(params, lr)
    return [p.detach() for p in params]


def _check_update(after, values, grads, lr):
    want = _reference(values, grads, lr)
    for (got, _), w, v, g in zip(after, want, values, grads):
        if close(got, w, ELEMENTWISE):
            continue
        if close(got, v + lr * g, ELEMENTWISE):
            raise Fail("`sgd_step` adds the gradient: `p += lr * p.grad` climbs the loss. Step *against* the "
                       "gradient: `p -= lr * p.grad`")
        if close(got, v, ELEMENTWISE):
            raise Fail("`sgd_step` leaves the parameters unchanged: either `p = p - lr * p.grad` only rebinds "
                       "the loop variable (update in place: `p -= ...` inside `torch.no_grad()`), or the "
                       "gradients are zeroed before they are used")
        if close(got, v - g, ELEMENTWISE):
            raise Fail("`sgd_step` ignores the learning rate: the step is `lr * p.grad`")
        if close(got, v - 0.1 * g, ELEMENTWISE) or close(got, v - 0.01 * g, ELEMENTWISE):
            raise Fail("`sgd_step` uses a fixed learning rate; use its `lr` argument")
        raise Fail("`sgd_step` updates the parameters by the wrong amount: `p -= lr * p.grad`")


@points(4)
def test_update(jail, gen, device):
    values, grads = _case(gen)
    _, after = _step(jail, values, grads, 0.1, device)
    _check_update(after, values, grads, 0.1)


@points(3, earned=True)
def test_gradients_zeroed(jail, gen, device):
    values, grads = _case(gen)
    _, after = _step(jail, values, grads, 0.1, device)
    _check_update(after, values, grads, 0.1)            # a stub, or a step that does nothing, earns nothing here
    for (_, g_after), g in zip(after, grads):
        if g_after is None or not g_after.any():
            continue                                     # zeroed, or set to None: both fine
        if close(g_after, g, ELEMENTWISE):
            raise Fail("`sgd_step` leaves the gradients in place: the next backward() adds to them. Zero them "
                       "after the update (`p.grad.zero_()` or `p.grad = None`)")
        raise Fail("`sgd_step` leaves non-zero gradients behind; zero them after the update")


@points(1)
def test_lr_argument(jail, gen):
    values, grads = _case(gen, shapes=((2, 5),))
    lr = float(0.02 + 0.3 * torch.rand(1, generator=gen))
    _, after = _step(jail, values, grads, lr, "cpu")
    _check_update(after, values, grads, lr)


@points(1, earned=True)
def test_contract(jail, gen):
    values, grads = _case(gen, shapes=((3, 2), (1,), (2,)))
    r, after = _step(jail, values, grads, 0.05, "cpu")
    _check_update(after, values, grads, 0.05)
    if r.value is not None:
        raise Fail("`sgd_step` returns something; it updates the parameters in place and returns None")


@points(1, earned=True)
def test_meta_device(jail, gen):
    values, grads = _case(gen)
    check_meta(lambda: jail.call(NAME, Params(values, grads=grads), 0.1, device="meta"), NAME)


globals().update(rule_checks(NAME, RULES[NAME]))
