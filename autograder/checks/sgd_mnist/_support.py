"""Shared helpers of the `sgd_mnist` hidden checks: tolerances, input generators, hints.

Points (written once, in each check's `@pytest.mark.points`; every exercise is worth 10, total 100):

| exercise                  | checks (points)                                                              |
|---------------------------|------------------------------------------------------------------------------|
| binary_loss               | values 4, edge probabilities 2, gradient 2, contract 1, meta device 1        |
| categorical_cross_entropy | values 4, edge probabilities 1, gradient 2, contract 1, own code 1, meta 1   |
| softmax                   | values 3, large logits 2, gradient 2, contract 1, own code 1, meta 1         |
| log_softmax               | values 3, large logits 2, gradient 2, contract 1, own code 1, meta 1         |
| matmul                    | values 3, gradient 1, contract 1, rules (no matmul/loops) 4, meta 1          |
| LogReg                    | parameters 2, forward 3, gradient 2, own log_softmax 2, meta 1               |
| fit                       | SGD trajectory 4, Adam trajectory 2, loss falls on MNIST 2, batch device 2   |
| sgd_step                  | update 4, gradients zeroed 3, lr argument 1, contract 1, meta 1              |
| normalize                 | training set 5, validation uses training stats 2, inputs unchanged 2, meta 1 |
| accuracy                  | values 5, Python float 2, batch of one 1, on each device 2                   |

Every exercise module imports only this helper, `solutions` and the engine's seam, never another exercise's
module. The reference (`solutions`) runs here in the judge, in float64 where precision matters.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch

from autograder.judge.feedback import Fail, StudentError

# ---------------------------------------------------------------- tolerances
# Students compute in float32 (on the CPU, or on a GPU with TF32 switched off for grading); the reference is
# float64. float32's machine epsilon is 1.2e-7.
F32_EPS = torch.finfo(torch.float32).eps
# Element-wise results (softmax, log-softmax of moderate logits, a loss of a few terms): a handful of roundings.
TOL = dict(rtol=1e-5, atol=1e-6)
# Sums over up to ~1000 terms (matmul's reduction, means, gradients through them) in any order: CPU and GPU
# kernels and broadcast-then-sum reduce in different orders; error grows like sqrt(k)·eps relative.
TOL_SUM = dict(rtol=1e-4, atol=1e-5)
# Trajectories (fit): a few optimizer steps amplify the ordering differences above.
TOL_TRAJ = dict(rtol=1e-4, atol=1e-5)


def tol_scaled(x: torch.Tensor, base: Mapping = TOL) -> dict:
    """Tolerance for results derived from logits of magnitude M: a correct float32 implementation may round
    once at M (e.g. `x - logsumexp(x)` with |x| ~ 1e4 loses ~M·eps/2 absolutely), so atol grows with M."""
    m = float(x.abs().max()) if x.numel() else 0.0
    return dict(rtol=base["rtol"], atol=base["atol"] + 8 * F32_EPS * m)


# ---------------------------------------------------------------- inputs (CPU, from the check's generator)
def logits(gen: torch.Generator, *shape: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * scale


def extreme_logits(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Logits with |x| up to 1e4 and large gaps inside each row: naive exp overflows, log(softmax) hits -inf."""
    x = (torch.rand(*shape, generator=gen) * 2 - 1) * 1e4
    x[..., 0] = 1e4 - 1.0           # one huge logit per row, and one close to it so two classes share the mass
    x[..., -1] = 1e4 - 2.5
    return x


def probs(gen: torch.Generator, *shape: int, lo: float = 0.05, hi: float = 0.95) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=gen)


def edge_probs(gen: torch.Generator, n: int) -> torch.Tensor:
    """Probabilities close to 0 and to 1 (1e-6 .. 1e-3 from either edge), representable in float32."""
    d = 10 ** (-3 - 3 * torch.rand(n, generator=gen))
    side = torch.rand(n, generator=gen) < 0.5
    return torch.where(side, d, 1 - d).float()


def targets01(gen: torch.Generator, *shape: int) -> torch.Tensor:
    y = (torch.rand(*shape, generator=gen) < 0.5).float()
    y.view(-1)[0], y.view(-1)[-1] = 1.0, 0.0     # both classes present
    return y


def class_probs(gen: torch.Generator, n: int, c: int) -> torch.Tensor:
    """(n, c) rows that sum to 1: softmax of moderate logits."""
    return torch.softmax(logits(gen, n, c, scale=2.0).double(), dim=-1).float()


def classes(gen: torch.Generator, n: int, c: int) -> torch.Tensor:
    return torch.randint(0, c, (n,), generator=gen)


# ---------------------------------------------------------------- talking to the jail
_DEVICE_MIX = ("is not on the expected device", "Expected all tensors to be on the same device",
               "on different devices", "should be the same device")
_NO_GPU = ("Torch not compiled with CUDA", "no NVIDIA driver", "CUDA driver", "No CUDA GPUs")


KEEPDIM_EXERCISES = {"softmax", "log_softmax"}     # where a missing keepdim=True is the usual shape error


def mixes_devices(err: StudentError) -> bool:
    return any(s in (err.message or "") for s in _DEVICE_MIX)


def data_dependent(err: StudentError) -> bool:
    """True when the error only means the code needs real values (fine on CPU/GPU, impossible on `meta`)."""
    msg = err.message or ""
    return any(s in msg for s in ("meta tensor", "meta device", "on meta", "register_meta", "Cannot copy out of meta",
                                  "data-dependent", "can't convert meta"))


def explain(err: StudentError, name: str) -> str:
    """A student-facing sentence for an error raised by their `name`."""
    msg = err.message or ""
    if err.kind == "missing" or (err.exc_type == "NameError" and f"'{name}' is not defined" in msg):
        return f"`{name}` is not defined: its exercise cell must define it (and run without errors)"
    if err.kind == "exception" and err.exc_type == "NotImplementedError" and "meta" not in msg:
        return f"`{name}` is not implemented yet (it still raises NotImplementedError)"
    if mixes_devices(err):
        return (f"`{name}` mixes devices: it combines its input with a tensor created on the CPU. Create new "
                f"tensors on the input's device (`torch.zeros(..., device=x.device)`, `torch.ones_like(x)`, ...)")
    if any(s in msg for s in _NO_GPU):
        return (f"`{name}` asks for the GPU itself (`.cuda()` or device='cuda'); use the device its input or "
                f"model already lives on, so the code runs anywhere")
    if "Boolean value of Tensor with more than one" in msg:
        return (f"`{name}` uses a whole tensor in an `if` (or `and`/`or`); that is ambiguous for more than one "
                f"element: use arithmetic or `torch.where` to handle every element at once")
    if "numpy" in msg.lower():
        return (f"`{name}` leaves PyTorch for NumPy; autograd and the GPU cannot follow. Use torch functions "
                f"(torch.log, torch.exp, ...)")
    if "must match the size of tensor" in msg or "Attempting to broadcast" in msg:
        advice = (" When you divide or subtract a sum/max taken over one dimension, keep that dimension: "
                  "`keepdim=True`" if name in KEEPDIM_EXERCISES else "")
        return f"`{name}` combines tensors whose shapes do not broadcast ({err.exc_type}: {msg}).{advice}"
    if "leaf Variable that requires grad" in msg:
        return (f"`{name}` updates a parameter in place while autograd is recording: wrap the update in "
                f"`with torch.no_grad():`")
    return err.hint()


def ask(call: Callable, name: str, *args, **kwargs):
    """`call(name, *args, **kwargs)` (jail.call or jail.call_method); a student error becomes a Fail."""
    try:
        return call(name, *args, **kwargs)
    except StudentError as err:
        raise Fail(explain(err, name)) from None


def ask_method(jail, spec, method, *args, name: str, **kwargs):
    try:
        return jail.call_method(spec, method, *args, **kwargs)
    except StudentError as err:
        raise Fail(explain(err, name)) from None


def check_meta(run: Callable[[], object], name: str) -> object | None:
    """Run a request on PyTorch's `meta` device (shapes only). A CPU tensor made inside the student's code
    raises there, as it would on a GPU. Errors that only mean "needs real values" (`.item()`, boolean masks)
    are inconclusive and pass: correct code may do that, and the CPU/GPU checks grade the values."""
    try:
        return run()
    except StudentError as err:
        if mixes_devices(err) or any(s in (err.message or "") for s in _NO_GPU):
            raise Fail(explain(err, name)) from None
        if err.kind == "exception" and data_dependent(err):
            return None
        raise Fail(explain(err, name)) from None


# ---------------------------------------------------------------- comparing
def as_tensor(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Fail(f"`{name}` should return a torch.Tensor, not {type(value).__name__}")
    return value


def close(a, b, tol: Mapping = TOL) -> bool:
    """Same shape and values (nan where nan, inf where inf), compared in float64: |a - b| <= atol + rtol·|b|
    element-wise. This is torch.testing.assert_close's rule (it calls torch.isclose too, once shapes,
    dtypes and devices agree, as they do here), minus what assert_close imports on its first call
    (torch.distributed.tensor and sympy: ~0.5 s in every grading process); a test proves they agree."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        return False
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return bool(torch.isclose(a, b, rtol=tol["rtol"], atol=tol["atol"], equal_nan=True).all())


def misconception(value, variants: Mapping[str, Callable[[], torch.Tensor]], tol: Mapping = TOL) -> str | None:
    """The hint of the first known-wrong variant whose output (computed here, in the judge) the student's
    output matches, or None. Variants are thunks, evaluated lazily in float64."""
    if not isinstance(value, torch.Tensor):
        return None
    for hint, make in variants.items():
        try:
            with torch.no_grad():
                wrong = make()
        except Exception:       # a variant that cannot even run on this input cannot be what they did
            continue
        if close(value, wrong, tol):
            return hint
    return None


def expect_close(value, expected: torch.Tensor, *, name: str, what: str, tol: Mapping = TOL,
                 variants: Mapping[str, Callable[[], torch.Tensor]] | None = None) -> None:
    """Fail unless `value` matches `expected`; the hint names a recognised misconception when one matches,
    otherwise says what is wrong (shape, non-finite values, values) for input `what`, never the numbers."""
    value = as_tensor(value, name)
    if close(value, expected, tol):
        return
    hint = misconception(value, variants or {}, tol)
    if hint:
        raise Fail(hint)
    if value.shape != expected.shape:
        raise Fail(f"`{name}` returns shape {tuple(value.shape)} for {what}; "
                   f"the contract's shape here is {tuple(expected.shape)}")
    if not torch.isfinite(value).all() and torch.isfinite(expected).all():
        raise Fail(f"`{name}` returns inf or nan for {what}, where the true result is finite")
    raise Fail(f"`{name}` returns wrong values for {what}")


def check_result_tensor(value, *, name: str, device: str, dtype: torch.dtype | None = torch.float32,
                        shape: Iterable[int] | None = None) -> torch.Tensor:
    """The contract's promises about a returned tensor: its type, device, dtype and (optionally) shape."""
    value = as_tensor(value, name)
    if shape is not None and tuple(value.shape) != tuple(shape):
        if tuple(shape) == ():
            raise Fail(f"`{name}` should return a 0-d tensor (one number: the mean over every element), "
                       f"not shape {tuple(value.shape)}")
        raise Fail(f"`{name}` returns shape {tuple(value.shape)}; expected {tuple(shape)} for that input")
    if value.device.type != torch.device(device).type:
        raise Fail(f"`{name}` returns a tensor on `{value.device.type}` for an input on `{device}`: results "
                   f"must stay on the input's device (a tensor made inside without `device=...` lands on the CPU)")
    if dtype is not None and value.dtype != dtype:
        raise Fail(f"`{name}` returns {str(value.dtype).replace('torch.', '')} for float32 input; keep float32 "
                   f"(no .double() or integer casts)")
    return value


def check_unchanged(before: Iterable[torch.Tensor], after: Iterable, name: str) -> None:
    for b, a in zip(before, after):
        if isinstance(b, torch.Tensor) and isinstance(a, torch.Tensor) and b.device.type != "meta":
            if a.shape != b.shape or not torch.equal(a.cpu(), b):
                raise Fail(f"`{name}` modifies its input in place (e.g. `x -= ...`, `x.sub_(...)`); "
                           f"compute a new tensor and leave the caller's data alone")


def grad_of(r, i: int, name: str, arg: str) -> torch.Tensor:
    g = r.grads[i] if r.grads is not None and len(r.grads) > i else None
    if g is None:
        raise Fail(f"no gradient reaches `{arg}` through `{name}`: something on the way cuts autograd "
                   f"(`.detach()`, `.item()`, `.numpy()`, `.data`, or building a new tensor from values)")
    return g


# ---------------------------------------------------------------- static rules (the source, read in the judge)
def borrowed(source, name: str, banned: Iterable[str]) -> list[str]:
    """Names called in `name`'s definition whose last dotted part is banned (`F.softmax`, `x.softmax`, ...)."""
    banned = set(banned)
    calls = source.calls(name) or set()
    # a bare name the notebook defines itself (their own `softmax`) is not borrowed; `from torch... import` is
    return sorted(c for c in calls if c.split(".")[-1] in banned
                  and ("." in c or source.definition(c) is None))
