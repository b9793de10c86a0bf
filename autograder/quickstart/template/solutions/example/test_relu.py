"""Hidden checks of `relu(x)`: max(x, 0) element-wise, without PyTorch's relu (10 points)."""
import torch

from autograder.checking import Case, Forbidden, FunctionExercise, Gradient, Rule, exercise

from . import reference

NAME = "relu"
pytestmark = exercise(NAME)

# The exercise's rule: write it yourself (torch.relu, F.relu, nn.ReLU, clamp, ... score 0 on this exercise).
RELU = Forbidden("PyTorch's relu", aten=frozenset({"relu", "relu_", "clamp", "clamp_min", "threshold"}),
                 names=frozenset({"relu", "ReLU", "relu_", "clamp", "clamp_min", "clip", "threshold"}))


def _misconceptions(x):
    """Known-wrong answers, computed on the same input: a student's result that matches one gets its hint."""
    return {
        "your relu returns the absolute value: negative inputs must become 0, not positive":
            lambda: x.abs(),
        "your relu keeps the negative part (min(x, 0)) instead of the positive part":
            lambda: torch.minimum(x, torch.zeros_like(x)),
    }


def _case(*shape):
    return Case(f"an input of shape {shape}", lambda gen: (torch.randn(*shape, generator=gen),))


EX = FunctionExercise(
    NAME, reference.relu,
    cases=[_case(5), _case(3, 4), _case(1)],
    gradient=Gradient(_case(4, 3), names=("x",)),
    misconceptions=_misconceptions,
    rule=Rule(forbid=(RELU,), why="compare with 0 yourself (torch.where, or multiply by a mask)"),
    points={"values": 5, "gradient": 3, "contract": 1, "meta": 1},
)
globals().update(EX.checks())
