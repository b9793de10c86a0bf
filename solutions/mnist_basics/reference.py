"""Reference implementations of every `mnist_basics` exercise (CONTRACT §1b), built on PyTorch's own functions.

The students write these from scratch; the references deliberately borrow what the students may not use
(`torch.sigmoid`, `F.l1_loss`, `F.linear`, `torch.optim.SGD`), so that a mistake shared by the notebook's
solution and the oracle is unlikely. Same names and signatures as the contract. Shapes: images `(N, 28, 28)`
for the pixel-similarity part, flattened `(N, 784)` for the model; scores and targets `(N,)` or `(N, 1)`,
targets float 0/1 with 1 meaning "a 3".
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

__all__ = ["mean_image", "mnist_distance", "is_3", "init_params", "linear1", "sigmoid", "mnist_loss",
           "calc_grad", "train_epoch", "batch_accuracy", "BasicOptim"]


def mean_image(images: torch.Tensor) -> torch.Tensor:
    """The pixel-wise mean of a stack: `(N, 28, 28) -> (28, 28)`, the "ideal" digit."""
    return torch.mean(images, dim=0)


def mnist_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over the last two axes, broadcasting.

    `(N, 28, 28)` against `(28, 28)` -> `(N,)`; `(28, 28)` against `(28, 28)` -> `()`.
    """
    a, b = torch.broadcast_tensors(a, b)  # F.l1_loss wants equal shapes; views, no copy
    return F.l1_loss(a, b, reduction="none").mean(dim=(-2, -1))


def is_3(x: torch.Tensor, mean3: torch.Tensor, mean7: torch.Tensor) -> torch.Tensor:
    """Bool, True where `x` is closer to `mean3` than to `mean7`: `(N, 28, 28) -> (N,)`, `(28, 28) -> ()`."""
    return torch.lt(mnist_distance(x, mean3), mnist_distance(x, mean7))


def init_params(size, std: float = 1.0) -> torch.Tensor:
    """A leaf tensor of shape `size` (tuple or int), `torch.randn(size) * std`, with `requires_grad=True`.

    Under the same `torch.manual_seed` it draws exactly the numbers the lesson's solution draws.
    """
    return (torch.randn(size) * std).requires_grad_(True)


def linear1(xb: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`xb @ weights + bias`: `(N, 784)`, `(784, 1)`, `(1,)` -> `(N, 1)`."""
    return F.linear(xb, weights.t(), bias)  # F.linear computes xb @ W.T + b with W of shape (out, in)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """`1 / (1 + exp(-x))` elementwise (PyTorch's own, finite in value and gradient for any finite x)."""
    return torch.sigmoid(x)


def _same_shape(name: str, predictions: torch.Tensor, targets: torch.Tensor) -> None:
    # The contract gives predictions and targets one shape: refuse the (N,) vs (N, 1) broadcast to (N, N)
    # instead of silently computing something else.
    if predictions.shape != targets.shape:
        raise ValueError(f"{name}: predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} "
                         "must have the same shape")


def mnist_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-d mean of `1 - sigmoid(p)` where the target is 1 and `sigmoid(p)` where it is 0; `(N,)` or `(N, 1)`."""
    _same_shape("mnist_loss", predictions, targets)
    s = torch.sigmoid(predictions)
    return torch.where(targets == 1, 1 - s, s).mean()


def calc_grad(xb: torch.Tensor, yb: torch.Tensor, model: Callable, loss_fn: Callable) -> None:
    """Forward, loss, backward: adds this batch's gradients into the parameters' `.grad` (never zeroes them)."""
    loss_fn(model(xb), yb).backward()


def train_epoch(model: Callable, dl: Iterable, params: Iterable[torch.Tensor], lr: float,
                loss_fn: Callable) -> None:
    """One pass over `dl`: per batch `calc_grad`, then `p -= lr * p.grad` on every parameter, gradients zeroed.

    The step is PyTorch's own SGD; the gradients are zeroed in place (`set_to_none=False`) as the lesson does.
    """
    optimizer = torch.optim.SGD(list(params), lr=lr)
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)


def batch_accuracy(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-d float: fraction of rows where `sigmoid(prediction) > 0.5` agrees with the 0/1 target (same shape)."""
    _same_shape("batch_accuracy", predictions, targets)
    return torch.eq(torch.sigmoid(predictions) > 0.5, targets.bool()).float().mean()


class BasicOptim:
    """Plain SGD over any iterable of parameters (a generator included): `p -= lr * p.grad` on every `step()`.

    Delegates to `torch.optim.SGD`; `zero_grad()` sets every gradient to None (PyTorch's default).
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        self.params = list(params)  # a generator would be empty from the second step on
        self.lr = lr
        self._sgd = torch.optim.SGD(self.params, lr=lr) if self.params else None

    def step(self) -> None:
        if self._sgd is not None:
            self._sgd.param_groups[0]["lr"] = self.lr  # follow a changed self.lr, as the lesson's class does
            self._sgd.step()

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


# ---------------------------------------------------------------- known-good stand-ins
# What the checks hand the student's code instead of the student's own pieces (one mistake costs once): each
# travels to the jail as source and is compiled there with only torch, nn, F and math in scope, so each is
# self-contained (no annotation or helper from this module). `sigmoid` and `mnist_distance` above are too.

def known_good_mnist_loss(predictions, targets):
    """`mnist_loss` on PyTorch's sigmoid (predictions and targets of one shape)."""
    s = torch.sigmoid(predictions)
    return torch.where(targets == 1, 1 - s, s).mean()


def known_good_calc_grad(xb, yb, model, loss_fn):
    """`calc_grad`: forward, loss, backward, gradients added into .grad."""
    loss_fn(model(xb), yb).backward()


def fixed_linear_scores(xb):
    """A model that is a plain function of the batch, as the lesson's `model_from_scratch` is: `(N, k) -> (N, 1)`
    scores with fixed weights spread over [-0.05, 0.05] and a bias of 0.1, made on the batch's device."""
    w = torch.linspace(-0.05, 0.05, xb.shape[-1], dtype=xb.dtype, device=xb.device)
    return (xb * w).sum(dim=-1, keepdim=True) + 0.1
