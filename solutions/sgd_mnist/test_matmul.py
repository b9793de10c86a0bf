"""Hidden checks of `matmul(a, b)`: (n, k) x (k, m) -> (n, m) by broadcasting and a reduction (10 points).
Its rule (no built-in product, no Python loop) is judged from the source and from what runs."""
from __future__ import annotations

import torch

from autograder.checking import REDUCTION, Case, FunctionExercise, Gradient, exercise

from . import reference
from ._inputs import RULES, logits

NAME = "matmul"
pytestmark = exercise(NAME)


def _variants(a, b):
    return {
        "your result is the transpose of the product: an (n, k) x (k, m) product is (n, m), row i of `a` "
        "against column j of `b`":
            lambda: torch.matmul(a, b).T,
        "your result is the element-wise product `a * b`, not the matrix product (each entry is a sum over k)":
            lambda: a * b,
        "you computed `b` times `a`; matrix multiplication is not commutative, the contract asks for `a` times `b`":
            lambda: torch.matmul(b, a),
        "your reduction runs over dim 0 (the rows of `a`) instead of the shared dimension k":
            lambda: (a[:, :, None] * b[None, :, :]).sum(0),
        "your reduction runs over the last dimension (m) instead of the shared dimension k":
            lambda: (a[:, :, None] * b[None, :, :]).sum(-1),
    }


def _case(n, k, m):
    return Case(f"a ({n}, {k}) by ({k}, {m}) product",
                lambda gen: (logits(gen, n, k, scale=1.0), logits(gen, k, m, scale=1.0)))


EX = FunctionExercise(
    NAME, reference.matmul,
    cases=[_case(3, 4, 5), _case(1, 7, 1), _case(1, 6, 3), _case(5, 2, 5), _case(4, 4, 4), _case(8, 1, 3)],
    gradient=Gradient(_case(3, 4, 2), wrt=(0, 1), names=("a", "b")),
    tol=REDUCTION, misconceptions=_variants, rule=RULES[NAME],
    points={"values": 5, "gradient": 3, "contract": 1, "meta": 1},
    contract_case=_case(2, 3, 4), meta_case=_case(5, 3, 4),
)
globals().update(EX.checks())
