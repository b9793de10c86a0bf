"""Hidden checks of `calc_grad(xb, yb, model, loss_fn) -> None`: forward, loss, backward, the batch's gradients
added into `.grad` (10 points).

`calc_grad` is called on known-good pieces built in the jail: a model that is a plain function of the batch (as the
lesson's `model_from_scratch` is) with the lesson's loss, and a torch.nn model with another loss, so only
calc_grad itself is judged. The batch requires grad: the gradient that reaches it is what backward computed, and
known-wrong versions of calc_grad are replayed here, in the judge, on the same pieces."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.checking import (REDUCTION, Fail, KnownGood, Layer, StudentError, T, TorchFn, TorchModel, check_meta,
                                 close, exercise, explain, points)
from autograder.checking.rules import rule_checks

from . import reference
from ._inputs import RULES, images, targets01

NAME = "calc_grad"
pytestmark = exercise(NAME)
N_IN = 20
NO_GRAPH = ("the loss that `calc_grad` calls backward on has no path back to the batch: either the predictions were "
            "cut from autograd (`.detach()`, `.item()`, `.data`, `torch.no_grad()`) or the loss was given its "
            "arguments swapped. Call `loss_fn(model(xb), yb)`, predictions first, targets second, then "
            "`.backward()` on it")


def _call(jail, xb, yb, model, loss, device):
    try:
        return jail.call(NAME, T(xb, requires_grad=True), yb, model, loss, device=device)
    except StudentError as err:
        msg = err.message or ""
        if "does not require grad" in msg:
            raise Fail(NO_GRAPH) from None
        if "backward through the graph a second time" in msg:
            raise Fail("`calc_grad` calls backward twice on the same loss; once per batch is enough") from None
        if err.exc_type == "AttributeError" and "'function' object" in msg:
            raise Fail("`calc_grad` treats the model as an nn.Module (e.g. `model.zero_grad()` or "
                       "`model.parameters()`), but a model may be any function of the batch, as the lesson's "
                       "`model_from_scratch` is; and zeroing the gradients is the caller's job: calc_grad only adds "
                       "this batch's gradients to them") from None
        raise Fail(explain(err, NAME)) from None


def _grad(model, loss, xb, yb, order="right", times=1):
    """The gradient that reaches the batch when calc_grad's steps run this way (float64, in the judge)."""
    x = xb.double().requires_grad_()
    y = yb.double()
    for _ in range(times):
        out = model(x)
        value = loss(out, y) if order == "right" else loss(y, out)
        value.backward(retain_graph=True)
    return x.grad


def _check(r, model, loss, xb, yb, *, what, source=None):
    got = r.grads[0] if r.grads else None
    if got is None:
        raise Fail("`calc_grad` leaves no gradient behind: it must call `.backward()` on the loss (forward, loss, "
                   "backward)")
    want = _grad(model, loss, xb, yb)
    if close(got, want, REDUCTION):
        return
    ignores_loss_fn = ("`calc_grad` calls `mnist_loss` (or another fixed loss) itself instead of the `loss_fn` it was "
                       "given: call `loss_fn(model(xb), yb)`, so that any loss can be trained with")
    if source is not None and "loss_fn" not in source.calls(NAME) and "loss_fn" not in source.resolved_names(NAME):
        raise Fail(ignores_loss_fn)     # the source says why (it never uses the argument): a hint, never a score
    variants = {
        ignores_loss_fn: lambda: _grad(model, reference.known_good_mnist_loss, xb, yb),
        "`calc_grad` passes the targets as predictions and the predictions as targets: call "
        "`loss_fn(model(xb), yb)`, predictions first":
            lambda: _grad(model, loss, xb, yb, order="swapped"),
        "`calc_grad` adds this batch's gradient twice (backward called twice); once per batch is enough":
            lambda: _grad(model, loss, xb, yb, times=2),
    }
    for hint, make in variants.items():
        try:
            wrong = make()
        except Exception:   # noqa: BLE001 - a variant that cannot run on these inputs is not what they did
            continue
        if wrong is not None and close(got, wrong, REDUCTION):
            raise Fail(hint)
    raise Fail(f"the gradients `calc_grad` stores are wrong ({what}): compute `loss_fn(model(xb), yb)` with the "
               f"model and loss it was given, then call `.backward()` on it")


@points(5)
def test_function_model(jail, gen, device, source):
    """a model that is a function, the lesson's loss"""
    xb, yb = images(gen, 6, N_IN), targets01(gen, 6, 1)
    model, loss = reference.fixed_linear_scores, reference.known_good_mnist_loss
    r = _call(jail, xb, yb, KnownGood(model), KnownGood(loss), device)
    _check(r, model, loss, xb, yb, what="a model that is a plain function, with mnist_loss", source=source)


def _linear(gen):
    state = {"weight": torch.randn(1, N_IN, generator=gen) * 0.3, "bias": torch.randn(1, generator=gen)}
    return TorchModel([Layer("Linear", N_IN, 1)], state=state)


@points(3)
def test_module_model(jail, gen, device, source):
    """an nn.Linear model, another loss"""
    xb, yb = images(gen, 5, N_IN), targets01(gen, 5, 1)
    spec = _linear(gen)
    model = spec.build().double()
    r = _call(jail, xb, yb, spec, TorchFn("binary_cross_entropy_with_logits"), device)
    _check(r, model, F.binary_cross_entropy_with_logits, xb, yb, source=source,
           what="an nn.Linear model, with binary_cross_entropy_with_logits")


@points(1, earned=True)
def test_returns_none(jail, gen):
    """returns nothing"""
    xb, yb = images(gen, 4, N_IN), targets01(gen, 4, 1)
    model, loss = reference.fixed_linear_scores, reference.known_good_mnist_loss
    r = _call(jail, xb, yb, KnownGood(model), KnownGood(loss), "cpu")
    _check(r, model, loss, xb, yb, what="4 images")
    if r.value is not None:
        raise Fail("`calc_grad` returns something; it returns nothing (None): its result is the gradients it "
                   "adds into `.grad`")


@points(1, earned=True)
def test_meta_device(jail, gen):
    """runs on any device (meta)"""
    xb, yb = images(gen, 4, N_IN), targets01(gen, 4, 1)
    check_meta(lambda: jail.call(NAME, T(xb, requires_grad=True), yb, KnownGood(reference.fixed_linear_scores),
                                 KnownGood(reference.known_good_mnist_loss), device="meta"), NAME)


globals().update(rule_checks(NAME, RULES[NAME]))
