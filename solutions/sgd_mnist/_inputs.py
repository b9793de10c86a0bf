"""Fresh inputs for the sgd_mnist checks (on the CPU, from the check's generator) and the assignment's own
rules. Every check module imports this, the references and the engine's check API, never another exercise."""
from __future__ import annotations

import torch

from autograder.checking import Rule
from autograder.checking.rules import (BINARY_CROSS_ENTROPY, CONVOLUTION, CROSS_ENTROPY, LOG_SOFTMAX,
                                       MATRIX_PRODUCT, NLL_LOSS, OPTIMIZER, SOFTMAX)

# ---------------------------------------------------------------- the exercises' rules (CONTRACT §1, §1c)
RULES = {
    "binary_loss": Rule(forbid=(BINARY_CROSS_ENTROPY,), why="write the formula -(y·log p + (1-y)·log(1-p)) yourself"),
    "categorical_cross_entropy": Rule(forbid=(CROSS_ENTROPY, NLL_LOSS),
                                      why="pick -log p of the true class in each row yourself"),
    "softmax": Rule(forbid=(SOFTMAX, LOG_SOFTMAX), why="build it from exp, max and sum yourself"),
    "log_softmax": Rule(forbid=(LOG_SOFTMAX, SOFTMAX), why="build it from the shifted logits and a log of a sum",
                        others=("softmax",)),
    "matmul": Rule(forbid=(MATRIX_PRODUCT, CONVOLUTION), no_loops=True,
                   why="build the product from broadcasting (`a[:, :, None] * b[None, :, :]`) and a sum over the "
                       "shared dimension, in one expression"),
    "LogReg": Rule(forbid=(LOG_SOFTMAX, SOFTMAX, CROSS_ENTROPY), why="call your own `log_softmax` in forward",
                   others=("log_softmax", "softmax", "matmul")),
    "sgd_step": Rule(forbid=(OPTIMIZER,), why="write the update `p -= lr * p.grad` yourself"),
}


def logits(gen: torch.Generator, *shape: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * scale


def extreme_logits(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Logits with |x| up to 1e4 and large gaps inside each row: naive exp overflows, log(softmax) hits -inf."""
    x = (torch.rand(*shape, generator=gen) * 2 - 1) * 1e4
    x[..., 0] = 1e4 - 1.0           # one huge logit per row, and one close to it so two classes share the mass
    x[..., -1] = 1e4 - 2.5
    return x


def probs(gen: torch.Generator, *shape: int, lo: float = 0.05, hi: float = 0.95) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=gen)


def edge_probs(gen: torch.Generator, n: int) -> torch.Tensor:
    """Probabilities close to 0 and to 1 (1e-6 .. 1e-3 from either edge), representable in float32."""
    d = 10 ** (-3 - 3 * torch.rand(n, generator=gen))
    side = torch.rand(n, generator=gen) < 0.5
    return torch.where(side, d, 1 - d).float()


def targets01(gen: torch.Generator, *shape: int) -> torch.Tensor:
    y = (torch.rand(*shape, generator=gen) < 0.5).float()
    y.view(-1)[0], y.view(-1)[-1] = 1.0, 0.0     # both classes present
    return y


def class_probs(gen: torch.Generator, n: int, c: int) -> torch.Tensor:
    """(n, c) rows that sum to 1: softmax of moderate logits."""
    return torch.softmax(logits(gen, n, c, scale=2.0).double(), dim=-1).float()


def classes(gen: torch.Generator, n: int, c: int) -> torch.Tensor:
    return torch.randint(0, c, (n,), generator=gen)
