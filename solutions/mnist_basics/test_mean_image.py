"""Hidden checks of `mean_image(images)`: the pixel-wise mean of a stack `(N, 28, 28) -> (28, 28)` (10 points)."""
from __future__ import annotations

from autograder.checking import Case, Gradient, exercise

from . import reference
from ._inputs import RULES, Exercise, images

NAME = "mean_image"
pytestmark = exercise(NAME)


def _variants(x):
    return {
        "your mean_image averages over every axis (`images.mean()`): one number for the whole stack instead of a "
        "(28, 28) image. Average over axis 0, the images, only":
            lambda: x.mean(),
        "your mean_image averages over the two pixel axes: one number per image instead of one image. Average over "
        "axis 0 (the images) and keep the pixel axes":
            lambda: x.mean((-2, -1)),
        "your mean_image adds the images up without dividing by how many there are: `sum(0)` is not the mean":
            lambda: x.sum(0),
        "your mean_image averages along the last axis (the columns of each image), not over the images (axis 0)":
            lambda: x.mean(-1),
        "your mean_image averages along axis 1 (the rows of each image), not over the images (axis 0)":
            lambda: x.mean(1),
    }


def _case(n):
    return Case(f"a stack of shape ({n}, 28, 28)", lambda gen: (images(gen, n, 28, 28),))


EX = Exercise(
    NAME, reference.mean_image,
    cases=[_case(5), _case(1), _case(12)],
    gradient=Gradient(_case(4), names=("images",)),
    misconceptions=_variants, shape=lambda x: tuple(x.shape[1:]), rule=RULES[NAME],
    points={"values": 5, "gradient": 2, "contract": 2, "meta": 1},
    contract_case=_case(3), meta_case=_case(6),
)
globals().update(EX.checks())
