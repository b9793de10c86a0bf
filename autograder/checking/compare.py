"""Comparing a student's result with the reference's, in the judge, under named tolerances.

Students compute in float32 (on the CPU, or on a GPU with TF32 switched off for grading, which the jail does);
references run in float64. float32's machine epsilon is 1.2e-7; each tolerance below says which errors it
allows and why, so a check names the one that fits instead of inventing numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from autograder.judge.feedback import Fail

F32_EPS = torch.finfo(torch.float32).eps


@dataclass(frozen=True)
class Tol:
    """`|a - b| <= atol + rtol * |b|`, element-wise (torch.testing.assert_close's rule)."""
    rtol: float
    atol: float
    why: str = ""

    def scaled(self, magnitude: float) -> "Tol":
        """For results derived from inputs of magnitude M: a correct float32 implementation may round once at
        M (e.g. `x - logsumexp(x)` with |x| ~ 1e4 loses ~M·eps/2 absolutely), so atol grows with M."""
        return Tol(self.rtol, self.atol + 8 * F32_EPS * float(magnitude), self.why + " (scaled to the inputs)")


ELEMENTWISE = Tol(1e-5, 1e-6, "a handful of float32 roundings per element (softmax, a loss of a few terms)")
REDUCTION = Tol(1e-4, 1e-5, "sums of up to ~1000 float32 terms in any order (CPU and GPU kernels, broadcast "
                            "then sum, reduce in different orders; the error grows like sqrt(k)·eps)")
TRAJECTORY = Tol(1e-4, 1e-5, "a few optimizer steps amplify the ordering differences of REDUCTION")
EXACT = Tol(0.0, 0.0, "integers, booleans, counts")


def as_tol(tol) -> Tol:
    return tol if isinstance(tol, Tol) else Tol(float(tol["rtol"]), float(tol["atol"]))


def scaled_to(x: torch.Tensor, tol: Tol = ELEMENTWISE) -> Tol:
    """`tol` scaled to the largest magnitude in `x` (see Tol.scaled)."""
    return as_tol(tol).scaled(float(x.abs().max()) if x.numel() else 0.0)


def close(a, b, tol: Tol = ELEMENTWISE) -> bool:
    """Same shape and values (nan where nan, inf where inf), compared in float64: |a - b| <= atol + rtol·|b|.
    This is torch.testing.assert_close's rule (it calls torch.isclose too, once shapes, dtypes and devices
    agree, as they do here), minus what assert_close imports on its first call (torch.distributed.tensor
    and sympy: ~0.5 s in every grading process); a test proves they agree."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        return False
    tol = as_tol(tol)
    if a.dtype == torch.bool or b.dtype == torch.bool:
        return a.dtype == b.dtype and bool(torch.equal(a.cpu(), b.cpu()))
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return bool(torch.isclose(a, b, rtol=tol.rtol, atol=tol.atol, equal_nan=True).all())


Variants = Mapping[str, Callable[[], object]]


def misconception(value, variants: Variants | None, tol: Tol = ELEMENTWISE) -> str | None:
    """The hint of the first known-wrong variant whose output (computed here, in the judge) the student's
    output matches, or None. Variants are thunks, evaluated lazily (in float64 where it matters); a variant
    may return a tensor or a Python number."""
    if not isinstance(value, (torch.Tensor, int, float)) or isinstance(value, bool):
        return None
    for hint, make in (variants or {}).items():
        try:
            with torch.no_grad():
                wrong = make()
        except Exception:       # a variant that cannot even run on this input cannot be what they did
            continue
        if _same(value, wrong, tol):
            return hint
    return None


def _same(value, wrong, tol: Tol) -> bool:
    if isinstance(value, torch.Tensor) or isinstance(wrong, torch.Tensor):
        as_t = lambda v: v if isinstance(v, torch.Tensor) else torch.tensor(float(v))  # noqa: E731
        return close(as_t(value), as_t(wrong), tol)
    return close(torch.tensor(float(value)), torch.tensor(float(wrong)), tol)


def expect_close(value, expected, *, name: str, what: str, tol: Tol = ELEMENTWISE,
                 variants: Variants | None = None) -> None:
    """Fail unless `value` matches `expected`; the hint names a recognised misconception when one matches,
    otherwise says what is wrong (shape, non-finite values, values) for input `what`, never the numbers."""
    from autograder.checking.contract import as_tensor
    value = as_tensor(value, name)
    if close(value, expected, tol):
        return
    hint = misconception(value, variants, tol)
    if hint:
        raise Fail(hint)
    if value.shape != expected.shape:
        raise Fail(f"`{name}` returns shape {tuple(value.shape)} for {what}; "
                   f"the contract's shape here is {tuple(expected.shape)}")
    if value.dtype != torch.bool and not torch.isfinite(value).all() and torch.isfinite(expected).all():
        raise Fail(f"`{name}` returns inf or nan for {what}, where the true result is finite")
    raise Fail(f"`{name}` returns wrong values for {what}")
