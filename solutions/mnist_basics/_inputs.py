"""Fresh inputs for the mnist_basics checks (on the CPU, from the check's generator), the assignment's rules, and
the one helper every function exercise shares. Every check module imports this, the references and the engine's
check API, never another exercise's module."""
from __future__ import annotations

import torch

from autograder.checking import Fail, FunctionExercise, Rule, StudentError, explain
from autograder.checking.rules import OPTIMIZER, SIGMOID

# ---------------------------------------------------------------- the exercises' rules (CONTRACT §1b, §1c)
# Every exercise has at least the default rule: the graded name is a def/class of its own exercise cell.
RULES = {
    "mean_image": Rule(),
    "mnist_distance": Rule(no_loops=True, why="subtract, take `.abs()` and average over the last two axes, and let "
                                              "broadcasting pair every image with the ideal one, in one expression"),
    "is_3": Rule(),
    "init_params": Rule(),
    "linear1": Rule(),
    "sigmoid": Rule(forbid=(SIGMOID,), why="write 1 / (1 + exp(-x)) yourself, in a form whose exp cannot overflow"),
    "mnist_loss": Rule(forbid=(SIGMOID,), others=("sigmoid",),
                       why="call your own `sigmoid` (the exercise above) on the predictions"),
    "calc_grad": Rule(),
    "train_epoch": Rule(forbid=(OPTIMIZER,), others=("calc_grad",),
                        why="write the step `p -= lr * p.grad` (under `torch.no_grad()`) and the zeroing yourself"),
    "batch_accuracy": Rule(),
    "BasicOptim": Rule(forbid=(OPTIMIZER,), why="write the step `p -= lr * p.grad` (under `torch.no_grad()`) yourself"),
}

# Scores closer to 0 than this make `sigmoid(p) > 0.5` and `p > 0` disagree by rounding: the checks keep away.
MIN_ABS_SCORE = 1e-3


def images(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Pixel values in [0, 1), like the lesson's float32 MNIST."""
    return torch.rand(*shape, generator=gen)


def scores(gen: torch.Generator, *shape: int, scale: float = 3.0) -> torch.Tensor:
    """Raw model scores, none closer to 0 than MIN_ABS_SCORE, with at least one in (0, 0.5) (where thresholding
    the score at 0.5 instead of its sigmoid goes wrong)."""
    x = torch.randn(*shape, generator=gen) * scale
    x = torch.where(x.abs() < MIN_ABS_SCORE, torch.full_like(x, 0.7), x)
    x.view(-1)[0] = 0.05 + 0.4 * float(torch.rand((), generator=gen))
    return x


def targets01(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Float 0/1 targets (1 means "a 3"), both classes present when there are two or more."""
    y = (torch.rand(*shape, generator=gen) < 0.5).float()
    flat = y.view(-1)
    flat[0] = 1.0
    if flat.numel() > 1:
        flat[-1] = 0.0
    return y


def labels_for(gen: torch.Generator, p: torch.Tensor, agree: float = 0.8) -> torch.Tensor:
    """Float 0/1 targets that agree with the scores' prediction (`p > 0`) about `agree` of the time, and at the
    first element (a score in (0, 0.5), see `scores`): accuracies far from 0.5, so that the known-wrong versions
    of an accuracy (its error rate, the raw score thresholded at 0.5, ...) give values of their own."""
    predicted = (p > 0).float()
    y = torch.where(torch.rand(p.shape, generator=gen) < agree, predicted, 1 - predicted)
    y.view(-1)[0] = predicted.view(-1)[0]
    return y


def near(gen: torch.Generator, ideal3: torch.Tensor, ideal7: torch.Tensor, n3: int, n7: int) -> torch.Tensor:
    """(n3 + n7, 28, 28) images: n3 of them noisy copies of `ideal3`, then n7 of `ideal7`, shuffled."""
    noise = 0.25 * torch.rand(n3 + n7, 28, 28, generator=gen)
    x = torch.cat([ideal3.expand(n3, 28, 28), ideal7.expand(n7, 28, 28)]) + noise
    return x[torch.randperm(n3 + n7, generator=gen)].clamp(0, 1)


# ---------------------------------------------------------------- a function exercise of this assignment
class Exercise(FunctionExercise):
    """FunctionExercise, with the hint for a function that writes into its own input: with an input that requires
    grad (the gradient check), torch refuses the in-place change of a leaf; say what the student did, not what
    an optimizer would do."""

    def call(self, jail, args: tuple, *, device: str, **kwargs):
        if self.known_good:
            kwargs.setdefault("known_good", dict(self.known_good))
        try:
            return jail.call(self.name, *args, device=device, **kwargs)
        except StudentError as err:
            if "leaf Variable that requires grad" in (err.message or ""):
                raise Fail(f"`{self.name}` modifies its input in place (e.g. `images /= n`, `x.sub_(...)`): compute "
                           f"a new tensor and leave the caller's data alone") from None
            raise Fail(explain(err, self.name, broadcast_advice=self.broadcast_advice)) from None


__all__ = ["RULES", "MIN_ABS_SCORE", "images", "scores", "targets01", "labels_for", "near", "Exercise"]
