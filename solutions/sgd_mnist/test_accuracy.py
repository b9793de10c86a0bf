"""Hidden checks of `accuracy(log_probs, y) -> float`: the fraction of rows whose argmax equals y (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import Fail, ask, exercise, points
from autograder.checking.rules import Rule, rule_checks

from . import reference

NAME = "accuracy"
pytestmark = exercise(NAME)


def _case(gen, n, c=10, n_right=None):
    """Log-probabilities with no ties, and targets of which exactly `n_right` agree with the argmax."""
    lp = torch.log_softmax(torch.randn(n, c, generator=gen) * 3, dim=-1)
    pred = lp.argmax(-1)
    n_right = int(torch.randint(1, n, (1,), generator=gen)) if n_right is None else n_right
    right = torch.randperm(n, generator=gen)[:n_right]
    y = (pred + torch.randint(1, c, (n,), generator=gen)) % c           # wrong everywhere ...
    y[right] = pred[right]                                              # ... except n_right rows
    return lp, y


def _variants(lp, y):
    pred = lp.argmax(-1)
    n = len(y)
    v = {
        "your accuracy averages `pred - y` (the seed's text): that measures nothing; accuracy is the mean of "
        "`pred == y`": lambda: (pred - y).float().mean().item(),
        "your accuracy compares the largest log-probability (`max` values) with the labels; compare the "
        "*index* of the largest one (`argmax`)": lambda: (lp.max(-1).values == y).float().mean().item(),
        "your accuracy is a percentage; the contract asks for a fraction in [0, 1]":
            lambda: 100.0 * (pred == y).float().mean().item(),
        "your accuracy counts the right rows but does not divide by the number of rows":
            lambda: float((pred == y).sum().item()),
        "your accuracy uses integer division, which rounds the fraction down to 0; divide as floats":
            lambda: float((pred == y).sum().item() // n),
    }
    if n == lp.shape[1]:
        v["your accuracy takes the argmax over dim 0 (over the batch) instead of over the classes (dim 1)"] = \
            lambda: (lp.argmax(0) == y).float().mean().item()
    return v


def _value(r):
    v = r.value
    if isinstance(v, torch.Tensor):
        if v.numel() == 1:
            return float(v.reshape(()))
        raise Fail("`accuracy` returns a tensor of several values; return one number: the fraction of rows "
                   "whose argmax equals the label")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Fail(f"`accuracy` returns {type(v).__name__}; return a Python float")
    return float(v)


def _check(jail, lp, y, device, what):
    got = _value(ask(jail.call, NAME, lp, y, device=device))
    want = reference.accuracy(lp, y)
    if abs(got - want) <= 1e-6:
        return
    for hint, make in _variants(lp, y).items():
        try:
            wrong = make()
        except Exception:
            continue
        if wrong is not None and abs(got - wrong) <= 1e-6:
            raise Fail(hint)
    raise Fail(f"`accuracy` is wrong for {what}: it should be the fraction of rows whose argmax equals `y`")


@points(5)
def test_values(jail, gen):
    for n in (10, 37, 64):
        lp, y = _case(gen, n)
        _check(jail, lp, y, "cpu", f"{n} rows")


@points(2, earned=True)
def test_returns_python_float(jail, gen):
    lp, y = _case(gen, 8)
    r = ask(jail.call, NAME, lp, y, device="cpu")
    _check(jail, lp, y, "cpu", "8 rows")
    if isinstance(r.value, torch.Tensor):
        raise Fail("`accuracy` returns a tensor; return a Python float (`.item()`), as the contract says")


@points(1)
def test_batch_of_one(jail, gen):
    for n_right in (0, 1):
        lp, y = _case(gen, 1, n_right=n_right)
        _check(jail, lp, y, "cpu", "a single row")


@points(2)
def test_on_device(jail, gen, device):
    lp, y = _case(gen, 13)
    _check(jail, lp, y, device, f"13 rows on {device}")


globals().update(rule_checks(NAME, Rule()))
