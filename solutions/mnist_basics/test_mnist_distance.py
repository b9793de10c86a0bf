"""Hidden checks of `mnist_distance(a, b)`: the mean absolute difference over the last two axes, broadcasting:
`(N, 28, 28)` against `(28, 28)` gives `(N,)`, two single images a 0-d tensor; no Python loop (10 points)."""
from __future__ import annotations

from autograder.checking import REDUCTION, Case, Gradient, exercise

from . import reference
from ._inputs import RULES, Exercise, images

NAME = "mnist_distance"
pytestmark = exercise(NAME)


def _variants(a, b):
    d = a - b
    v = {
        "your mnist_distance averages over every axis (`.mean()`): one number for the whole batch instead of one "
        "distance per image. Average over the last two axes only: `.mean((-1, -2))`":
            lambda: d.abs().mean(),
        "your mnist_distance forgets the absolute value: differences of opposite sign cancel out. Take `.abs()` "
        "of the difference before averaging":
            lambda: d.mean((-1, -2)),
        "your mnist_distance is the L2 distance (the root of the mean squared difference); the exercise asks for "
        "the L1 distance, the mean absolute difference":
            lambda: (d ** 2).mean((-1, -2)).sqrt(),
        "your mnist_distance averages the squared differences; the exercise asks for the mean absolute difference":
            lambda: (d ** 2).mean((-1, -2)),
        "your mnist_distance sums the absolute differences instead of averaging them (784 times too large)":
            lambda: d.abs().sum((-1, -2)),
        "your mnist_distance averages over the last axis only, giving one number per row of pixels; average over "
        "the last two axes: `.mean((-1, -2))`":
            lambda: d.abs().mean(-1),
    }
    if d.dim() == 3:
        v["your mnist_distance averages over the first two axes (the images and the rows) instead of the last two "
          "(the rows and the columns): use negative axes, `.mean((-1, -2))`, so it works for one image and for a "
          "batch"] = lambda: d.abs().mean((0, 1))
    return v


def _case(what, shape_a, shape_b):
    return Case(what, lambda gen: (images(gen, *shape_a), images(gen, *shape_b)))


BATCH = _case("a batch (6, 28, 28) against one image (28, 28)", (6, 28, 28), (28, 28))
EX = Exercise(
    NAME, reference.mnist_distance,
    cases=[BATCH,
           _case("two single images (28, 28)", (28, 28), (28, 28)),
           _case("a batch of one (1, 28, 28) against one image (28, 28)", (1, 28, 28), (28, 28)),
           _case("one image (28, 28) against a batch (5, 28, 28)", (28, 28), (5, 28, 28)),
           _case("two batches (4, 28, 28), image by image", (4, 28, 28), (4, 28, 28))],
    gradient=Gradient(BATCH, wrt=(0, 1), names=("a", "b")),
    tol=REDUCTION, misconceptions=_variants, rule=RULES[NAME],
    points={"values": 6, "gradient": 2, "contract": 1, "meta": 1},
    contract_case=_case("a batch (3, 28, 28) against one image (28, 28)", (3, 28, 28), (28, 28)),
    meta_case=BATCH,
)
globals().update(EX.checks())
