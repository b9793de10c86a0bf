"""The example assignment's hidden material: `reference.py` (the references, built on PyTorch's own functions)
and one `test_<exercise>.py` per exercise (the hidden checks). Never released to students."""

EXERCISES = ("relu", "mse")   # the order of the exercises in reports (the notebook's)
