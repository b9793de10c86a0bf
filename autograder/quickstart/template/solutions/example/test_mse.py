"""Hidden checks of `mse(pred, target)`: the mean squared error, a 0-d tensor (10 points)."""
import torch

from autograder.checking import Case, Forbidden, FunctionExercise, Gradient, Rule, exercise

from . import reference

NAME = "mse"
pytestmark = exercise(NAME)
MSE = Forbidden("PyTorch's mean squared error", aten=frozenset({"mse_loss"}),
                names=frozenset({"mse_loss", "MSELoss"}))


def _misconceptions(pred, target):
    return {
        "your mse sums the squared errors; the contract asks for their mean (it must not grow with the batch)":
            lambda: ((pred - target) ** 2).sum(),
        "your mse averages the absolute errors (that is the L1 loss); square them instead":
            lambda: (pred - target).abs().mean(),
        "your mse takes the square root of the mean (that is the RMSE)":
            lambda: ((pred - target) ** 2).mean().sqrt(),
    }


def _case(*shape):
    return Case(f"predictions and targets of shape {shape}",
                lambda gen: (torch.randn(*shape, generator=gen), torch.randn(*shape, generator=gen)))


EX = FunctionExercise(
    NAME, reference.mse,
    cases=[_case(6), _case(4, 3), _case(1)],
    gradient=Gradient(_case(5), wrt=(0,), names=("pred", "target")),
    misconceptions=_misconceptions, shape=lambda pred, target: (),
    rule=Rule(forbid=(MSE,), why="square the differences and average them yourself"),
    points={"values": 5, "gradient": 3, "contract": 1, "meta": 1},
)
globals().update(EX.checks())
