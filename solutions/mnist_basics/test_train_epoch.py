"""Hidden checks of `train_epoch(model, dl, params, lr, loss_fn) -> None`: one pass over `dl`, for each batch
`calc_grad`, then `p -= lr * p.grad` on every parameter without recording history, gradients zeroed (10 points).

`train_epoch` runs on a known-good nn.Linear model built in the jail, with that model's parameters, the lesson's
loss and a known-good `calc_grad` swapped in for the student's (one mistake costs once), so only the loop is
judged: the parameters it leaves must follow the reference loop's trajectory, replayed here in the judge.
Known-wrong loops are replayed too and recognised by where they leave the parameters and their gradients."""
from __future__ import annotations

import torch

from autograder.checking import (TRAJECTORY, Fail, KnownGood, Layer, ParamsOf, StudentError, TorchModel, check_meta,
                                 close, exercise, explain, optim, points)
from autograder.checking.rules import rule_checks

from . import reference
from ._inputs import RULES, images, targets01

NAME = "train_epoch"
pytestmark = exercise(NAME)
GOOD = {"calc_grad": reference.known_good_calc_grad}
N_IN = 784
LOSS = reference.known_good_mnist_loss


def _spec(gen, n_in=N_IN):
    state = {"weight": torch.randn(1, n_in, generator=gen) * 0.05, "bias": torch.randn(1, generator=gen) * 0.5}
    return TorchModel([Layer("Linear", n_in, 1)], state=state)


def _batches(gen, sizes, n_in=N_IN):
    return [(images(gen, n, n_in), targets01(gen, n, 1)) for n in sizes]


# ---------------------------------------------------------------- the reference loop and its wrong cousins
def _grads_now(params):
    return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]


def _reference_epoch(model, batches, params, lr):
    """`reference.train_epoch`, its SGD step taken by `autograder.checking.optim.SGD` (torch.optim.SGD's update
    op for op) instead of torch.optim's own, which imports torch._dynamo (seconds) in every grading process."""
    sgd = optim.SGD(params, lr=lr)
    for xb, yb in batches:
        reference.calc_grad(xb, yb, model, LOSS)
        sgd.step()
        for p in params:
            p.grad.zero_()          # as the reference: zeroed in place (set_to_none=False)


def _replay(spec, batches, lr, way):
    """(parameters, gradients) after one epoch of the loop `way`, in the judge, on the model the jail built."""
    model = spec.build()
    params = list(model.parameters())
    if way == "reference":
        _reference_epoch(model, batches, params, lr)
        return [p.detach().clone() for p in params], _grads_now(params)
    for xb, yb in batches:
        reference.calc_grad(xb, yb, model, LOSS)
        with torch.no_grad():
            for p in params:
                if way == "never_zeroes":
                    p -= lr * p.grad
                elif way == "uphill":
                    p += lr * p.grad
                    p.grad.zero_()
                elif way == "ignores_lr":
                    p -= p.grad
                    p.grad.zero_()
                elif way == "zeroes_before_the_step":
                    p.grad.zero_()
                elif way == "rebinds":          # p = p - lr * p.grad: the parameter itself never moves
                    pass
    if way == "one_step_at_the_end":
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()
    return [p.detach().clone() for p in params], _grads_now(params)


NEVER_MOVE = ("your train_epoch leaves the parameters where they were. Either `p = p - lr * p.grad` only "
              "rebinds the name `p` to a new tensor (update the parameter itself, in place: `p -= lr * p.grad` "
              "under `torch.no_grad()`), or each gradient is zeroed before it is used (step first, then zero)")
WAYS = {
    "never_zeroes": "your train_epoch never zeroes the gradients, so every step adds up all the earlier batches' "
                    "gradients (backward adds into `.grad`): zero each one after its step, `p.grad.zero_()`",
    "uphill": "your train_epoch steps up the gradient (`p += lr * p.grad`), so the loss grows: step against it, "
              "`p -= lr * p.grad`",
    "ignores_lr": "your train_epoch ignores the learning rate: the step is `lr * p.grad`",
    "one_step_at_the_end": "your train_epoch computes every batch's gradient but steps once, after the loop, with "
                           "their sum: step (and zero) inside the loop, once per batch",
    "zeroes_before_the_step": NEVER_MOVE + " (here: the gradients are zeroed before the step)",
    "rebinds": NEVER_MOVE + " (here: the parameters never move and the gradients pile up, as when `p = p - ...` "
               "only rebinds the name)",
}


def _run(jail, spec, batches, lr, device):
    try:
        r = jail.call(NAME, spec, batches, ParamsOf(0), lr, KnownGood(LOSS), device=device, known_good=GOOD,
                      timeout=30)
    except StudentError as err:
        raise Fail(explain(err, NAME)) from None
    after = r.args[2] if len(r.args) > 2 else None
    if not isinstance(after, (list, tuple)) or not all(isinstance(x, (list, tuple)) and len(x) == 2 for x in after):
        raise Fail("`train_epoch` did not leave the parameter list it was given intact")
    values = [v for v, _ in after]
    grads = [torch.zeros_like(v) if g is None else g for v, g in after]
    return r, values, grads


def _same(a, b) -> bool:
    return len(a) == len(b) and all(close(x, y, TRAJECTORY) for x, y in zip(a, b))


def _trajectory(jail, spec, batches, lr, device, *, what):
    r, values, grads = _run(jail, spec, batches, lr, device)
    want, want_grads = _replay(spec, batches, lr, "reference")
    if _same(values, want):
        return r, grads, want_grads
    for way, hint in WAYS.items():
        wrong, wrong_grads = _replay(spec, batches, lr, way)
        if _same(values, wrong) and (way not in ("zeroes_before_the_step", "rebinds") or _same(grads, wrong_grads)):
            raise Fail(hint)
    first, _ = _replay(spec, batches[:1], lr, "reference")
    if not _same(values, first) or len(batches) == 1:
        raise Fail(f"`train_epoch` leaves the parameters different from a correct loop's ({what}): for each batch "
                   f"`calc_grad(xb, yb, model, loss_fn)`, then for each parameter `p -= lr * p.grad` and "
                   f"`p.grad.zero_()`")
    raise Fail(f"`train_epoch` stops after the first batch ({what}): loop over every batch of `dl`")


@points(5)
def test_trajectory(jail, gen, device):
    """SGD trajectory over an epoch"""
    spec, batches = _spec(gen), _batches(gen, (16, 16, 16, 9))
    _trajectory(jail, spec, batches, 1.0, device, what="4 batches, lr 1.0")


@points(2)
def test_lr_and_small_batches(jail, gen, device):
    """another learning rate, batches of one"""
    lr = float(0.05 + 0.5 * torch.rand((), generator=gen))
    spec, batches = _spec(gen, 12), _batches(gen, (1, 3, 1), 12)
    _trajectory(jail, spec, batches, lr, device, what=f"3 small batches, lr {lr:.3f}")


@points(2, earned=True)
def test_gradients_zeroed(jail, gen):
    """gradients zeroed after the last step, returns nothing"""
    spec, batches = _spec(gen), _batches(gen, (8, 8))
    r, grads, _ = _trajectory(jail, spec, batches, 0.5, "cpu", what="2 batches, lr 0.5")
    if any(g.any() for g in grads):
        raise Fail("`train_epoch` leaves the last batch's gradients in `.grad`: zero each gradient after its step "
                   "(`p.grad.zero_()`), so the next backward starts from zero")
    if r.value is not None:
        raise Fail("`train_epoch` returns something; it updates the parameters in place and returns nothing")


@points(1, earned=True)
def test_meta_device(jail, gen):
    """runs on any device (meta)"""
    spec, batches = _spec(gen, 10), _batches(gen, (4, 4), 10)
    check_meta(lambda: jail.call(NAME, spec, batches, ParamsOf(0), 0.1, KnownGood(LOSS), device="meta",
                                 known_good=GOOD), NAME)


globals().update(rule_checks(NAME, RULES[NAME]))
