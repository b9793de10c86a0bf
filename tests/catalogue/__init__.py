"""A catalogue of student code for testing the hidden checks of `sgd_mnist`.

`BASE` is a complete, from-scratch correct notebook (one cell per exercise, as the contract says). `RIGHT`
(`right.py`) holds other correct ways to write each exercise, at least two per exercise; `WRONG` (`wrong.py`)
holds known-wrong ones, each with a distinctive piece of the hint it must earn. A test notebook is `BASE` with
some cells replaced (`notebook(...)`); `batches(...)` groups entries so that one grading run covers several
exercises.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

IMPORTS = "import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn"

BASE = {
    "binary_loss": '''
def binary_loss(y, p):
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
''',
    "categorical_cross_entropy": '''
def categorical_cross_entropy(y, p):
    rows = torch.arange(len(y), device=p.device)
    return -torch.log(p[rows, y]).mean()
''',
    "softmax": '''
def softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
''',
    "log_softmax": '''
def log_softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))
''',
    "matmul": '''
def matmul(a, b):
    # (n, k, 1) * (1, k, m) -> (n, k, m), summed over k -> (n, m)
    return (a[:, :, None] * b[None, :, :]).sum(dim=1)
''',
    "LogReg": '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.randn(10) / 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        return log_softmax(matmul(x, self.l1_w) + self.l1_b)
''',
    "fit": '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
''',
    "sgd_step": '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad.zero_()
''',
    "normalize": '''
def normalize(x_train, x_valid):
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, (x_valid - mean) / std
''',
    "accuracy": '''
def accuracy(log_probs, y):
    return (log_probs.argmax(dim=1) == y).float().mean().item()
''',
}
EXERCISES = tuple(BASE)


@dataclass(frozen=True)
class Entry:
    id: str
    exercise: str
    code: str
    hint: str = ""          # WRONG only: a distinctive substring of the hint it must earn
    after: str = ""         # a cell appended at the end of the notebook (e.g. one that rebinds the name)


def notebook(replace: dict[str, str] | None = None, after: list[str] = (), *, base: dict[str, str] = BASE,
             imports: str = IMPORTS) -> nbformat.NotebookNode:
    """`base` (a lesson's from-scratch cells, sgd_mnist's by default) as a notebook: an imports cell, then one cell
    per exercise in `base`'s order, with `replace`'s cells swapped in and the `after` cells appended."""
    cells = {**base, **(replace or {})}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = ([nbformat.v4.new_code_cell(imports)] + [nbformat.v4.new_code_cell(cells[e].strip()) for e in base]
                + [nbformat.v4.new_code_cell(code) for code in after if code])
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def batches(entries: list[Entry]) -> list[list[Entry]]:
    """Group entries so that no group holds two of the same exercise (one grading run per group)."""
    groups: list[list[Entry]] = []
    for entry in entries:
        for group in groups:
            if all(e.exercise != entry.exercise for e in group):
                group.append(entry)
                break
        else:
            groups.append([entry])
    return groups


from .evasions import EVASIONS  # noqa: E402  (they need Entry, defined above)
from .right import RIGHT  # noqa: E402
from .wrong import WRONG  # noqa: E402
