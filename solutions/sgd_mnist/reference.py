"""Reference implementations of every `sgd_mnist` exercise (CONTRACT §1), built on PyTorch's own functions.

This package is the oracle of the hidden checks (`autograder/checks/sgd_mnist/`): an independent witness
of the from-scratch solutions in `source/`, so it deliberately borrows what the students must write
themselves (`F.log_softmax`, `F.nll_loss`, `torch.matmul`, ...). It runs in the judge only; the jail never
sees it. Same names and signatures as the contract.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "binary_loss", "categorical_cross_entropy", "softmax", "log_softmax", "matmul",
    "LogReg", "fit", "sgd_step", "normalize", "accuracy",
]


def binary_loss(y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy `-(y log p + (1-y) log(1-p))`, 0-d; `y` targets first (the seed's order)."""
    # torch clamps log at -100 inside F.binary_cross_entropy; the checks keep p inside (0, 1), where the
    # clamp never bites, so this equals the plain formula.
    return F.binary_cross_entropy(p, y.to(p.dtype), reduction="mean")


def categorical_cross_entropy(y: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Mean over rows of `-log p[i, y[i]]`, 0-d; `y` int64 `(N,)`, `p` probabilities `(N, C)`."""
    return F.nll_loss(torch.log(p), y, reduction="mean")


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax along the last dimension."""
    return torch.softmax(x, dim=-1)


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    """Log-softmax along the last dimension (stable)."""
    return F.log_softmax(x, dim=-1)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`(n, k) x (k, m) -> (n, m)`."""
    return torch.matmul(a, b)


def _get_weights(*dims: int) -> nn.Parameter:
    # The lesson's initialisation: standard normal scaled by the fan-in.
    return nn.Parameter(torch.randn(*dims) / dims[0])


class LogReg(nn.Module):
    """Logistic regression on flattened 28x28 images: `(N, 784) @ (784, 10) + (10,)` -> log-probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.l1_w = _get_weights(28 * 28, 10)
        self.l1_b = _get_weights(10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)                       # (N, 28, 28) or (N, 1, 28, 28) -> (N, 784)
        return F.log_softmax(torch.matmul(x, self.l1_w) + self.l1_b, dim=-1)  # (N, 10)


def fit(model: nn.Module, train_dl, loss_fn, optimizer, epochs: int = 1) -> list[float]:
    """The training loop; returns every batch's loss as a Python float, in order."""
    device = next(model.parameters()).device
    losses: list[float] = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def sgd_step(params, lr: float) -> None:
    """`p -= lr * p.grad` for every parameter, outside autograd, then zero the gradients."""
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p -= lr * p.grad
            p.grad.zero_()


def normalize(x_train: torch.Tensor, x_valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise both sets with the training set's scalar mean and (Bessel-corrected) std."""
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, (x_valid - mean) / std


def accuracy(log_probs: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose argmax equals `y`, as a Python float."""
    return (log_probs.argmax(dim=-1) == y).float().mean().item()
