"""Asking the jail, and turning what the student's code raised into a hint in their terms.

`ask(jail.call, "softmax", x, device=device)` is `jail.call(...)` whose `StudentError` (the student's code
raised, hung, crashed, or returned what cannot travel) becomes a `Fail` with a sentence the student can act
on. A check may catch `StudentError` itself to give a better hint for a case it knows.
"""
from __future__ import annotations

from typing import Callable

from autograder.judge.feedback import Fail, StudentError

_DEVICE_MIX = ("is not on the expected device", "Expected all tensors to be on the same device",
               "on different devices", "should be the same device")
_NO_GPU = ("Torch not compiled with CUDA", "no NVIDIA driver", "CUDA driver", "No CUDA GPUs")
_DATA_DEPENDENT = ("meta tensor", "meta device", "on meta", "register_meta", "Cannot copy out of meta",
                   "data-dependent", "can't convert meta")
KEEPDIM_ADVICE = (" When you divide or subtract a sum/max taken over one dimension, keep that dimension: "
                  "`keepdim=True`")


def mixes_devices(err: StudentError) -> bool:
    return any(s in (err.message or "") for s in _DEVICE_MIX)


def asks_for_gpu(err: StudentError) -> bool:
    return any(s in (err.message or "") for s in _NO_GPU)


def data_dependent(err: StudentError) -> bool:
    """True when torch itself raised because the code needs real values (fine on CPU/GPU, impossible on
    `meta`): never when the student's own code raised it (a `raise` in their cell proves nothing)."""
    if err.kind != "exception" or err.raised_in == "cell":
        return False
    return any(s in (err.message or "") for s in _DATA_DEPENDENT)


def explain(err: StudentError, name: str, *, broadcast_advice: str = "") -> str:
    """A student-facing sentence for an error raised by their `name`. `broadcast_advice` is added to the hint
    for shapes that do not broadcast (e.g. KEEPDIM_ADVICE where a missing keepdim is the usual cause)."""
    msg = err.message or ""
    if err.kind == "missing" or (err.exc_type == "NameError" and f"'{name}' is not defined" in msg):
        return f"`{name}` is not defined: its exercise cell must define it (and run without errors)"
    if err.kind == "exception" and err.exc_type == "NotImplementedError" and err.raised_in == "cell":
        return f"`{name}` is not implemented yet (it still raises NotImplementedError)"
    if mixes_devices(err):
        return (f"`{name}` mixes devices: it combines its input with a tensor created on the CPU. Create new "
                f"tensors on the input's device (`torch.zeros(..., device=x.device)`, `torch.ones_like(x)`, ...)")
    if asks_for_gpu(err):
        return (f"`{name}` asks for the GPU itself (`.cuda()` or device='cuda'); use the device its input or "
                f"model already lives on, so the code runs anywhere")
    if "Boolean value of Tensor with more than one" in msg:
        return (f"`{name}` uses a whole tensor in an `if` (or `and`/`or`); that is ambiguous for more than one "
                f"element: use arithmetic or `torch.where` to handle every element at once")
    if "numpy" in msg.lower():
        return (f"`{name}` leaves PyTorch for NumPy; autograd and the GPU cannot follow. Use torch functions "
                f"(torch.log, torch.exp, ...)")
    if "must match the size of tensor" in msg or "Attempting to broadcast" in msg:
        return (f"`{name}` combines tensors whose shapes do not broadcast ({err.exc_type}: {msg})."
                f"{broadcast_advice}")
    if "leaf Variable that requires grad" in msg:
        return (f"`{name}` updates a parameter in place while autograd is recording: wrap the update in "
                f"`with torch.no_grad():`")
    return err.hint()


def ask(call: Callable, name: str, *args, broadcast_advice: str = "", **kwargs):
    """`call(name, *args, **kwargs)` (jail.call); a student error becomes a Fail with `explain`'s hint."""
    try:
        return call(name, *args, **kwargs)
    except StudentError as err:
        raise Fail(explain(err, name, broadcast_advice=broadcast_advice)) from None


def ask_method(jail, spec, method, *args, name: str, broadcast_advice: str = "", **kwargs):
    """`jail.call_method(spec, method, ...)` with `ask`'s translation of errors."""
    try:
        return jail.call_method(spec, method, *args, **kwargs)
    except StudentError as err:
        raise Fail(explain(err, name, broadcast_advice=broadcast_advice)) from None


def check_meta(run: Callable[[], object], name: str) -> object | None:
    """Run a request on PyTorch's `meta` device (shapes only). A CPU tensor made inside the student's code
    raises there, as it would on a GPU. An error that torch raised only because the code needs real values
    (`.item()`, boolean masks) is inconclusive and passes (None): correct code may do that, and the CPU/GPU
    checks grade the values. Anything the student's own code raised fails."""
    try:
        return run()
    except StudentError as err:
        if mixes_devices(err) or asks_for_gpu(err):
            raise Fail(explain(err, name)) from None
        if data_dependent(err):
            return None
        raise Fail(explain(err, name)) from None
