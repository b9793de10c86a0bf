"""Points without work (issue #14): a notebook of do-nothing bodies (zeros of the right shape, `pass`,
parameters of the right shape, a `fit` that returns a made-up falling list without training) scores 0 on
every exercise. Contract, device and own-code points are earned only where the values are right."""
from __future__ import annotations

import pytest

from _grading import grade
from catalogue import notebook, write

pytestmark = pytest.mark.slow

DO_NOTHING = {
    "normalize": "def normalize(x_train, x_valid):\n    return x_train * 0, x_valid * 0\n",
    "binary_loss": "def binary_loss(y, p):\n    return (p * 0).sum()\n",
    "categorical_cross_entropy": "def categorical_cross_entropy(y, p):\n    return (p * 0).sum()\n",
    "softmax": "def softmax(x):\n    return x * 0\n",
    "log_softmax": "def log_softmax(x):\n    return x * 0\n",
    "matmul": "def matmul(a, b):\n    return torch.zeros(a.shape[0], b.shape[1], device=a.device)\n",
    "LogReg": ("class LogReg(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
               "        self.l1_w = nn.Parameter(torch.zeros(784, 10))\n        self.l1_b = nn.Parameter(torch.zeros(10))\n\n"
               "    def forward(self, x):\n        return torch.zeros(len(x), 10, device=x.device) + 0 * self.l1_b\n"),
    "fit": ("def fit(model, train_dl, loss_fn, optimizer, epochs=1):\n"
            "    return [2.3 / (i + 1) for i in range(len(train_dl) * epochs)]\n"),
    "sgd_step": "def sgd_step(params, lr):\n    pass\n",
    "accuracy": "def accuracy(log_probs, y):\n    return 0.5\n",
}


def test_do_nothing_bodies_score_zero_everywhere(tmp_path):
    result = grade(write(notebook(DO_NOTHING), tmp_path / "nothing.ipynb"), student_id="does-nothing")
    assert result.exercise_scores() == {e: 0.0 for e in DO_NOTHING}, \
        {e: [(t.name, t.output) for t in result.tests if t.exercise == e and t.score > 0]
         for e, s in result.exercise_scores().items() if s}
