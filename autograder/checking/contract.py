"""The contract's promises about a result, checked in the judge: its type, device, dtype and shape; inputs left
unchanged; a gradient that reaches each input. Each failure is a `Fail` with a hint in the student's terms."""
from __future__ import annotations

from typing import Iterable

import torch

from autograder.judge.feedback import Fail


def as_tensor(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Fail(f"`{name}` should return a torch.Tensor, not {type(value).__name__}")
    return value


def check_result_tensor(value, *, name: str, device: str, dtype: torch.dtype | None = torch.float32,
                        shape: Iterable[int] | None = None) -> torch.Tensor:
    """The contract's promises about a returned tensor: its type, device, dtype and (optionally) shape."""
    value = as_tensor(value, name)
    if shape is not None and tuple(value.shape) != tuple(shape):
        if tuple(shape) == ():
            raise Fail(f"`{name}` should return a 0-d tensor (one number), not shape {tuple(value.shape)}")
        raise Fail(f"`{name}` returns shape {tuple(value.shape)}; expected {tuple(shape)} for that input")
    if value.device.type != torch.device(device).type:
        raise Fail(f"`{name}` returns a tensor on `{value.device.type}` for an input on `{device}`: results "
                   f"must stay on the input's device (a tensor made inside without `device=...` lands on the CPU)")
    if dtype is not None and value.dtype != dtype:
        raise Fail(f"`{name}` returns {str(value.dtype).replace('torch.', '')} where the contract asks for "
                   f"{str(dtype).replace('torch.', '')} (no .double(), .float() or integer casts on the way)")
    return value


def check_unchanged(before: Iterable, after: Iterable, name: str) -> None:
    """Every tensor argument is as it was before the call (the jail sends them back after it)."""
    for b, a in zip(before, after):
        if isinstance(b, torch.Tensor) and isinstance(a, torch.Tensor) and b.device.type != "meta":
            if a.shape != b.shape or not torch.equal(a.cpu(), b):
                raise Fail(f"`{name}` modifies its input in place (e.g. `x -= ...`, `x.sub_(...)`); "
                           f"compute a new tensor and leave the caller's data alone")


def grad_of(r, i: int, name: str, arg: str) -> torch.Tensor:
    """The gradient that reached positional argument `i` of a call made with `backward=True`."""
    g = r.grads[i] if r.grads is not None and len(r.grads) > i else None
    if g is None:
        raise Fail(f"no gradient reaches `{arg}` through `{name}`: something on the way cuts autograd "
                   f"(`.detach()`, `.item()`, `.numpy()`, `.data`, or building a new tensor from values)")
    return g
