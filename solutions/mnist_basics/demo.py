'''The sample class of mnist_basics that `autograder demo` grades: who the students are and what they wrote.

Each student starts from the reference solutions (the source notebook's exercise cells, nbgrader's solution
markers dropped) pasted into the release notebook, then `cells` replaces the named exercises' cells with the
student's own version: one classic misconception of the lesson in one place. `lost` lists the exercises whose
checks must catch it; every other exercise must still score full marks (the checks of `mnist_loss`,
`batch_accuracy`, `is_3` and `train_epoch` swap in known-good versions of what they build on).
'''
from __future__ import annotations

from autograder.demo import Student

STUDENTS = [
    Student("ada", "reference solutions: full marks", full=True),
    Student("ben", "pixel similarity with the mean over every axis: one distance for the whole batch",
            cells={"mnist_distance": """def mnist_distance(a, b):
    return (a - b).abs().mean()      # averages the images together too
"""}, lost=("mnist_distance",)),
    Student("cleo", "the sigmoid as written, 1 / (1 + exp(-x)): its gradient is nan for very negative scores",
            cells={"sigmoid": """def sigmoid(x):
    return 1 / (1 + torch.exp(-x))
"""}, lost=("sigmoid",)),
    Student("dev", "parameters scaled after requires_grad=True (not leaves); the loss on flattened targets",
            cells={"init_params": """def init_params(size, std=1.0):
    return torch.randn(size, requires_grad=True) * std
""", "mnist_loss": """def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets.flatten() == 1, 1 - s, s).mean()   # (N,) against (N, 1): an (N, N) table
"""}, lost=("init_params", "mnist_loss")),
    Student("eli", "accuracy from the raw score above 0.5 (not its sigmoid); is_3 the wrong way round",
            cells={"batch_accuracy": """def batch_accuracy(predictions, targets):
    return ((predictions > 0.5) == (targets == 1)).float().mean()
""", "is_3": """def is_3(x, mean3, mean7):
    return mnist_distance(x, mean3) > mnist_distance(x, mean7)
"""}, lost=("batch_accuracy", "is_3")),
    Student("fay", "train_epoch never zeroes the gradients; BasicOptim keeps the generator it was given",
            cells={"train_epoch": """def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad       # the gradients pile up from batch to batch
""", "BasicOptim": """class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = params, lr      # a generator: empty after the first pass

    def step(self):
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
"""}, lost=("train_epoch", "BasicOptim")),
    Student("gus", "borrows torch.sigmoid (the exercise's rule: write it yourself)",
            cells={"sigmoid": """def sigmoid(x):
    return torch.sigmoid(x)
"""}, lost=("sigmoid",)),
    Student("hal", "hostile: his calc_grad patches torch, hunts for the hidden checks and the gradebook, calls "
                   "os._exit(0)",
            cells={"calc_grad": """import glob, os


def calc_grad(xb, yb, model, loss_fn):
    # Runs inside the jail whenever it is called: every attack below meets a wall.
    torch.testing.assert_close = lambda *args, **kwargs: None     # only the jail's copy: the judge compares
    torch.allclose = lambda *args, **kwargs: True
    torch.Tensor.backward = lambda self, *args, **kwargs: None
    for pattern in ("../../solutions/**/*.py", "../../../solutions/**/test_*.py", "/home/**/reference.py",
                    "../../gradebook.db", os.path.expanduser("~/**/test_*.py")):
        for path in glob.glob(pattern, recursive=True)[:20]:
            print("found", path, open(path, errors="replace").read(200))
    try:
        open("/tmp/grades.csv", "w").write("hal,110\\n")              # outside the jail's own space
    except OSError as exc:
        print("could not write:", exc)
    os._exit(0)                                                   # leave before any check can fail
"""}, lost=("calc_grad",)),
    Student("jon", "corrupted upload: the notebook file is cut in half (invalid JSON)", truncate=True),
    Student("kim", "handed in the release notebook without doing anything", stubs=True),
]
