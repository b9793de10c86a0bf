'''The sample class of sgd_mnist that `autograder demo` grades: who the students are and what they wrote.

Each student starts from the reference solutions (the source notebook's exercise cells, nbgrader's solution
markers dropped) pasted into the *release* notebook(s), then `cells` replaces the named exercises' cells with
the student's own version. So the demo follows the notebooks as they change, and each student's mistake is
one known misconception in one place. `lost` lists the exercises whose checks must catch it (tests assert it).
'''
from __future__ import annotations

from autograder.demo import Student

IMPORTS = "import torch\nfrom torch import nn\n\n"


STUDENTS = [
    Student("ada", "reference solutions: full marks", full=True),
    Student("ben", "the seed's bug: softmax over dim 0 (the batch), log of exp/(1 + sum)",
            cells={"softmax": IMPORTS + """def softmax(x):
    e = torch.exp(x)
    return e / e.sum(dim=0)          # sums over the batch, not over the classes
""", "log_softmax": IMPORTS + """def log_softmax(x):
    return torch.log(torch.exp(x) / (1 + torch.exp(x).sum(dim=0)))
"""}, lost=("softmax", "log_softmax")),
    Student("cleo", "binary cross-entropy without the (1-y)·log(1-p) term",
            cells={"binary_loss": IMPORTS + """def binary_loss(y, p):
    return -(y * torch.log(p)).mean()
"""}, lost=("binary_loss",)),
    Student("dev", "training loop that never zeroes the gradients",
            cells={"fit": IMPORTS + """def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for epoch in range(epochs):
        for xb, yb in train_dl:
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(model(xb), yb)
            loss.backward()            # gradients pile up: no optimizer.zero_grad()
            optimizer.step()
            losses.append(loss.item())
    return losses
"""}, lost=("fit",)),
    Student("eli", "matmul written with the @ operator (the exercise forbids it)",
            cells={"matmul": IMPORTS + """def matmul(a, b):
    return a @ b
"""}, lost=("matmul",)),
    Student("fay", "the seed's accuracy: mean(pred - y) instead of mean(pred == y)",
            cells={"accuracy": IMPORTS + """def accuracy(log_probs, y):
    preds = log_probs.argmax(dim=1)
    return (preds - y).float().mean().item()
"""}, lost=("accuracy",)),
    Student("gus", "softmax without subtracting the max: overflows to nan for large logits",
            cells={"softmax": IMPORTS + """def softmax(x):
    e = torch.exp(x)
    return e / e.sum(dim=-1, keepdim=True)
""", "log_softmax": IMPORTS + """def log_softmax(x):
    return torch.log(softmax(x))
"""}, lost=("softmax", "log_softmax")),
    Student("hal", "validation set normalised with its own statistics; SGD step keeps the gradients",
            cells={"normalize": IMPORTS + """def normalize(x_train, x_valid):
    return (x_train - x_train.mean()) / x_train.std(), (x_valid - x_valid.mean()) / x_valid.std()
""", "sgd_step": IMPORTS + """def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad           # the gradients are never zeroed
"""}, lost=("normalize", "sgd_step")),
    Student("ivy", "hostile: her softmax patches torch.testing, hunts for the hidden checks, calls os._exit(0)",
            cells={"softmax": IMPORTS + """import glob, os


def softmax(x):
    # Runs inside the jail when a check calls it: every attack below meets a wall.
    torch.testing.assert_close = lambda *args, **kwargs: None     # only the jail's copy: the judge compares
    torch.allclose = lambda *args, **kwargs: True
    for pattern in ("../../source/**/*.ipynb", "../../../autograder/checks/**/*.py", "/autograder/**/*.py",
                    "../../gradebook.db", os.path.expanduser("~/**/test_*.py")):
        for path in glob.glob(pattern, recursive=True)[:20]:
            print("found", path, open(path, errors="replace").read(200))
    os._exit(0)                                               # leave before any check can fail
"""}, lost=("softmax",)),
    Student("jon", "corrupted upload: the notebook file is cut in half (invalid JSON)", truncate=True),
    Student("kim", "handed in the release notebook without doing anything", stubs=True),
    Student("lou", "LogReg.forward adds a tensor created on the CPU (breaks on a GPU)",
            cells={"LogReg": IMPORTS + """class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 28)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        bias = torch.zeros(10)                     # created on the CPU, whatever the model's device
        return log_softmax(x @ self.l1_w + self.l1_b + bias)
"""}, lost=("LogReg",)),
]
