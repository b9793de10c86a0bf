"""A catalogue of student code for testing the hidden checks of `sgd_mnist`.

`BASE` is a complete, from-scratch correct notebook (one cell per exercise, as the contract says). `RIGHT`
holds other correct ways to write each exercise (at least two per exercise); `WRONG` holds known-wrong ones,
each with a distinctive piece of the hint it must earn. A test notebook is `BASE` with some cells replaced
(`notebook(...)`); `batches(...)` groups entries so that one grading run covers several exercises.
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


RIGHT = [
    Entry("where", "binary_loss", '''
def binary_loss(y, p):
    return torch.where(y == 1, -torch.log(p), -torch.log(1 - p)).mean()
'''),
    Entry("log1p", "binary_loss", '''
def binary_loss(y, p):
    return torch.mean(-(y * p.log() + (1 - y) * torch.log1p(-p)))
'''),
    Entry("gather", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return -p.gather(1, y[:, None]).log().mean()
'''),
    Entry("one_hot", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return -(F.one_hot(y, p.shape[1]) * p.log()).sum(dim=1).mean()
'''),
    Entry("logsumexp", "softmax", '''
def softmax(x):
    return torch.exp(x - torch.logsumexp(x, dim=-1, keepdim=True))
'''),
    Entry("unsqueeze", "softmax", '''
def softmax(x):
    z = (x - x.max(-1, keepdim=True)[0]).exp()
    return z / z.sum(-1).unsqueeze(-1)
'''),
    Entry("logsumexp", "log_softmax", '''
def log_softmax(x):
    return x - torch.logsumexp(x, dim=-1, keepdim=True)
'''),
    Entry("amax", "log_softmax", '''
def log_softmax(x):
    m = x.amax(dim=-1, keepdim=True)
    return x - m - (x - m).exp().sum(-1, keepdim=True).log()
'''),
    Entry("unsqueeze", "matmul", '''
def matmul(a, b):
    return (a.unsqueeze(-1) * b.unsqueeze(0)).sum(-2)
'''),
    Entry("transpose_b", "matmul", '''
def matmul(a, b):
    # (n, 1, k) * (1, m, k) -> (n, m, k), summed over k
    return (a[:, None, :] * b.T[None, :, :]).sum(-1)
'''),
    Entry("operator", "LogReg", '''
def get_weights(*dims):
    return nn.Parameter(torch.randn(*dims) / dims[0])

class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = get_weights(28 * 28, 10)
        self.l1_b = get_weights(10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return log_softmax(x @ self.l1_w + self.l1_b)
'''),
    Entry("zeros_flatten", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.zeros(784, 10))
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return log_softmax(torch.matmul(x.flatten(1), self.l1_w) + self.l1_b)
'''),
    Entry("zero_after_step", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    dev = next(model.parameters()).device
    history = []
    for epoch in range(epochs):
        for i, (xb, yb) in enumerate(train_dl):
            out = model(xb.to(dev))
            loss = loss_fn(out, yb.to(dev))
            loss.backward()
            optimizer.step()
            model.zero_grad()
            history.append(float(loss))
    return history
'''),
    Entry("zero_first", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            p = next(model.parameters())
            optimizer.zero_grad()
            loss = loss_fn(model(xb.to(p.device)), yb.to(p.device))
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().cpu().item())
    return losses
'''),
    Entry("data_none", "sgd_step", '''
def sgd_step(params, lr):
    for p in params:
        p.data -= lr * p.grad.data
        p.grad = None
'''),
    Entry("add_alpha", "sgd_step", '''
@torch.no_grad()
def sgd_step(params, lr):
    for p in params:
        p.add_(p.grad, alpha=-lr)
    for p in params:
        p.grad.zero_()
'''),
    Entry("population_std", "normalize", '''
def normalize(x_train, x_valid):
    m, s = x_train.mean(), x_train.std(unbiased=False)
    return (x_train - m) / s, (x_valid - m) / s
'''),
    Entry("by_hand", "normalize", '''
def normalize(x_train, x_valid):
    mean = x_train.mean()
    std = ((x_train - mean) ** 2).mean().sqrt()
    return tuple((x - mean) / std for x in (x_train, x_valid))
'''),
    Entry("sum_over_len", "accuracy", '''
def accuracy(log_probs, y):
    return (torch.argmax(log_probs, dim=1) == y).sum().item() / len(y)
'''),
    Entry("indices", "accuracy", '''
def accuracy(log_probs, y):
    return float((log_probs.max(dim=-1).indices == y).double().mean())
'''),
]

WRONG = [
    # ---- binary_loss
    Entry("no_one_minus_y", "binary_loss", '''
def binary_loss(y, p):
    return -(y * torch.log(p)).mean()
''', "`(1 - y) * log(1 - p)` term is missing"),
    Entry("sum", "binary_loss", '''
def binary_loss(y, p):
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum()
''', "sums over the examples"),
    Entry("swapped_args", "binary_loss", '''
def binary_loss(p, y):
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
''', "Check the argument order"),
    Entry("not_negated", "binary_loss", '''
def binary_loss(y, p):
    return (y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
''', "negate it"),
    Entry("if_on_tensor", "binary_loss", '''
def binary_loss(y, p):
    if y == 1:
        return -torch.log(p).mean()
    return -torch.log(1 - p).mean()
''', "uses a whole tensor in an `if`"),
    Entry("numpy", "binary_loss", '''
def binary_loss(y, p):
    y, p = y.numpy(), p.numpy()
    return torch.tensor(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
''', "leaves PyTorch for NumPy"),
    # ---- categorical_cross_entropy
    Entry("columns", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return -torch.log(p[:, y]).mean()
''', "picks, for every row, the columns"),
    Entry("not_negated", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return torch.log(p[range(len(y)), y]).mean()
''', "*negative* log-probability"),
    Entry("cpu_arange", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    one_hot = (y[:, None] == torch.arange(p.shape[1])).float()
    return -(one_hot * torch.log(p)).sum(dim=1).mean()
''', "mixes devices"),
    Entry("binary_per_class", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    t = F.one_hot(y, p.shape[1]).float()
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).sum(dim=1).mean()
''', "binary formula applied per class"),
    Entry("borrowed_nll", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return F.nll_loss(torch.log(p), y)
''', "borrows PyTorch's loss"),
    # ---- softmax
    Entry("seed", "softmax", '''
def softmax(x):
    return torch.exp(x) / (1 + torch.exp(x).sum(dim=0))
''', "the seed's"),
    Entry("dim0", "softmax", '''
def softmax(x):
    e = torch.exp(x - x.max())
    return e / e.sum(dim=0, keepdim=True)
''', "along dim 0"),
    Entry("unstable", "softmax", '''
def softmax(x):
    return torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)
''', "exp(x) overflows"),
    Entry("no_keepdim", "softmax", '''
def softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1)
''', "keepdim=True"),
    Entry("borrowed", "softmax", '''
def softmax(x):
    return torch.softmax(x, dim=-1)
''', "borrows PyTorch's"),
    Entry("dim1", "softmax", '''
def softmax(x):
    e = torch.exp(x - x.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)
''', "along dim 1"),
    # ---- log_softmax
    Entry("log_of_softmax", "log_softmax", '''
def log_softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return torch.log(e / e.sum(dim=-1, keepdim=True))
''', "that is log(softmax(x))"),
    Entry("no_max", "log_softmax", '''
def log_softmax(x):
    return x - torch.log(torch.exp(x).sum(dim=-1, keepdim=True))
''', "log-sum-exp trick"),
    Entry("dim0", "log_softmax", '''
def log_softmax(x):
    return x - torch.logsumexp(x, dim=0, keepdim=True)
''', "along dim 0"),
    Entry("borrowed", "log_softmax", '''
def log_softmax(x):
    return F.log_softmax(x, dim=-1)
''', "borrows PyTorch's"),
    # ---- matmul
    Entry("operator", "matmul", '''
def matmul(a, b):
    return a @ b
''', "uses the `@` operator"),
    Entry("einsum", "matmul", '''
def matmul(a, b):
    return torch.einsum("ik,kj->ij", a, b)
''', "calls a built-in matrix product"),
    Entry("row_loop", "matmul", '''
def matmul(a, b):
    return torch.stack([(a[i][:, None] * b).sum(dim=0) for i in range(a.shape[0])])
''', "loops in Python"),
    Entry("transposed", "matmul", '''
def matmul(a, b):
    return (a[None, :, :] * b.T[:, None, :]).sum(-1)
''', "is the transpose"),
    Entry("wrong_axis", "matmul", '''
def matmul(a, b):
    return (a[:, :, None] * b[None, :, :]).sum(dim=0)
''', "runs over dim 0"),
    # ---- LogReg
    Entry("seed_forward", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.randn(10) / 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = matmul(x, self.l1_w) + self.l1_b
        return torch.log(torch.exp(x) / (1 + torch.exp(x).sum(dim=0)))
''', "the seed's"),
    Entry("transposed_weight", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(10, 784) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return log_softmax(x.reshape(len(x), -1) @ self.l1_w.T + self.l1_b)
''', "transposed"),
    Entry("plain_tensors", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = torch.randn(784, 10) / 784
        self.l1_b = torch.zeros(10)

    def forward(self, x):
        return log_softmax(x.reshape(len(x), -1) @ self.l1_w + self.l1_b)
''', "nn.Parameter"),
    Entry("borrowed", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return F.log_softmax(x.reshape(len(x), -1) @ self.l1_w + self.l1_b, dim=-1)
''', "borrows PyTorch's"),
    Entry("no_flatten", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return log_softmax(torch.matmul(x, self.l1_w) + self.l1_b)
''', "flatten each image"),
    Entry("cpu_tensor_in_forward", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        x = x.reshape(len(x), -1)
        bias = torch.zeros(10) + self.l1_b.detach().cpu()
        return log_softmax(x @ self.l1_w + self.l1_b + (bias - bias))
''', "mixes devices"),
    # ---- fit
    Entry("no_zero_grad", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
''', "never zeroes the gradients"),
    Entry("zero_between", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            loss.backward()
            optimizer.zero_grad()
            optimizer.step()
            losses.append(loss.item())
    return losses
''', "your parameters never change"),
    Entry("step_before_backward", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            optimizer.step()
            optimizer.zero_grad()
            loss.backward()
            losses.append(loss.item())
    return losses
''', "*previous* batch's gradients"),
    Entry("no_to_device", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
''', "without moving them to the model's device"),
    Entry("tensor_losses", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
    return losses
''', "returns a list of tensors"),
    Entry("one_epoch", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for xb, yb in train_dl:
        loss = loss_fn(model(xb.to(device)), yb.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
''', "runs a single epoch"),
    # ---- sgd_step
    Entry("plus", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p += lr * p.grad
            p.grad.zero_()
''', "climbs the loss"),
    Entry("no_zero", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
''', "leaves the gradients in place"),
    Entry("no_no_grad", "sgd_step", '''
def sgd_step(params, lr):
    for p in params:
        p -= lr * p.grad
        p.grad.zero_()
''', "with torch.no_grad():"),
    Entry("rebind", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p = p - lr * p.grad
''', "leaves the parameters unchanged"),
    Entry("fixed_lr", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= 0.1 * p.grad
            p.grad.zero_()
''', "fixed learning rate"),
    # ---- normalize
    Entry("valid_own_stats", "normalize", '''
def normalize(x_train, x_valid):
    return (x_train - x_train.mean()) / x_train.std(), (x_valid - x_valid.mean()) / x_valid.std()
''', "its *own* mean and std"),
    Entry("per_pixel", "normalize", '''
def normalize(x_train, x_valid):
    m, s = x_train.mean(dim=0), x_train.std(dim=0)
    return (x_train - m) / s, (x_valid - m) / s
''', "per pixel"),
    Entry("in_place", "normalize", '''
def normalize(x_train, x_valid):
    m, s = x_train.mean(), x_train.std()
    x_train -= m
    x_train /= s
    return x_train, (x_valid - m) / s
''', "modifies its input in place"),
    Entry("no_std", "normalize", '''
def normalize(x_train, x_valid):
    m = x_train.mean()
    return x_train - m, x_valid - m
''', "does not divide by the std"),
    # ---- accuracy
    Entry("seed_minus", "accuracy", '''
def accuracy(log_probs, y):
    return (log_probs.argmax(dim=1) - y).float().mean().item()
''', "the seed's text"),
    Entry("tensor", "accuracy", '''
def accuracy(log_probs, y):
    return (log_probs.argmax(dim=1) == y).float().mean()
''', "return a Python float"),
    Entry("percent", "accuracy", '''
def accuracy(log_probs, y):
    return 100 * (log_probs.argmax(dim=1) == y).float().mean().item()
''', "percentage"),
    Entry("max_values", "accuracy", '''
def accuracy(log_probs, y):
    return (log_probs.max(dim=1).values == y).float().mean().item()
''', "compare the *index*"),
]


def notebook(replace: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """`BASE` as a notebook (an imports cell, then one cell per exercise), with `replace`'s cells swapped in."""
    cells = {**BASE, **(replace or {})}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(IMPORTS)] + [nbformat.v4.new_code_cell(cells[e].strip()) for e in EXERCISES]
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
