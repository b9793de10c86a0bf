"""The example assignment's sample class, for `autograder demo`."""
from autograder.demo import Student

STUDENTS = [
    Student("ada", "reference solutions: full marks", full=True),
    Student("ben", "relu as the absolute value; mse summed instead of averaged",
            cells={"relu": "import torch\n\ndef relu(x):\n    return x.abs()\n",
                   "mse": "def mse(pred, target):\n    return ((pred - target) ** 2).sum()\n"},
            lost=("relu", "mse")),
    Student("cat", "borrowed torch.relu (the exercise's rule)",
            cells={"relu": "import torch\n\ndef relu(x):\n    return torch.relu(x)\n"}, lost=("relu",)),
    Student("dan", "handed in the release notebook untouched", stubs=True),
]
