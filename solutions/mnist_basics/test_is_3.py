"""Hidden checks of `is_3(x, mean3, mean7)`: bool, True where `x` is closer (by `mnist_distance`) to `mean3` than to
`mean7` (10 points). The calls swap in a known-good `mnist_distance`, so that a mistake there costs only there."""
from __future__ import annotations

import torch

from autograder.checking import EXACT, Case, exercise

from . import reference
from ._inputs import RULES, Exercise, images, near

NAME = "is_3"
pytestmark = exercise(NAME)


def _variants(x, mean3, mean7):
    d3, d7 = reference.mnist_distance(x, mean3), reference.mnist_distance(x, mean7)
    return {
        "your is_3 calls an image a 3 when it is closer to the ideal 7: the comparison is the wrong way round "
        "(a 3 is an image whose distance to mean3 is the smaller one)":
            lambda: d3 > d7,
        "your is_3 compares the batch's average distances, giving one answer for all the images; compare each "
        "image's two distances (broadcasting gives one answer per image)":
            lambda: d3.mean() < d7.mean(),
    }


def _batch(n3, n7):
    def make(gen):
        mean3, mean7 = images(gen, 28, 28), images(gen, 28, 28)
        return near(gen, mean3, mean7, n3, n7), mean3, mean7
    return make


def _one(gen):
    x, mean3, mean7 = _batch(1, 1)(gen)
    return x[int(torch.randint(0, 2, (), generator=gen))], mean3, mean7


CASES = [Case("a batch (9, 28, 28) of 3s and 7s", _batch(5, 4)),
         Case("one image (28, 28)", _one),
         Case("a batch of one (1, 28, 28)", _batch(1, 0)),
         Case("a batch of one 7 (1, 28, 28)", _batch(0, 1))]

EX = Exercise(
    NAME, reference.is_3, cases=CASES,
    misconceptions=_variants, dtype=torch.bool, tol=EXACT, rule=RULES[NAME],
    known_good={"mnist_distance": reference.mnist_distance},
    points={"values": 7, "contract": 2, "meta": 1},
    contract_case=CASES[0], meta_case=CASES[0],
)
globals().update(EX.checks())
