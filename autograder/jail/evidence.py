"""Evidence the jail gathers for an exercise's rule: where a graded name's object came from, and which
operations a student function ran (traced at torch's dispatcher). The jail is the student's process, so all
of this can be forged or hidden: the judge uses it only to lower a score, never to raise one.
"""
from __future__ import annotations

import functools
import sys
import types

from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

# The aten ops student code runs most: their Python objects (OpOverload) are made once, in the zygote, so that
# a fresh jail's first traced call does not make them (~2 ms); making them runs no torch op.
COMMON_OPS = (
    "add", "sub", "mul", "div", "exp", "log", "sum", "mean", "max", "amax", "min", "amin", "abs", "neg", "pow",
    "sqrt", "where", "gt", "lt", "ge", "le", "eq", "ne", "_softmax", "_log_softmax", "mm", "bmm", "addmm", "view",
    "reshape", "_unsafe_view", "unsqueeze", "squeeze", "expand", "t", "transpose", "permute", "select", "slice",
    "index", "gather", "clone", "detach", "empty", "zeros", "ones", "zeros_like", "ones_like", "empty_like", "full",
    "arange", "lift_fresh", "copy_", "_to_copy", "sigmoid", "tanh", "relu", "clamp", "clamp_min", "argmax",
    "argmin", "sort", "topk", "cat", "stack", "sub_", "add_", "mul_", "div_", "zero_", "fill_", "log1p", "expm1",
    "logsumexp", "nll_loss_forward", "binary_cross_entropy", "masked_fill", "index_select", "new_zeros",
    "new_ones", "alias", "scalar_tensor", "_local_scalar_dense", "any", "all", "isfinite", "isnan", "std", "var",
    "linalg_vector_norm", "dot", "mv", "convolution", "logical_not", "rsub", "reciprocal", "maximum", "minimum",
    "cumsum", "prod", "split", "narrow", "as_strided", "rand", "randn", "randint", "normal_", "uniform_", "addcdiv_",
    "addcmul_", "lerp_", "sqrt_", "mean", "var_mean", "_foreach_add_")


def warm_ops() -> None:
    """In the zygote: make the Python objects of COMMON_OPS' overloads, and trace a few typical expressions on
    PyTorch's `meta` device (shapes only: no data, no kernel, no thread is started), so that each fresh jail's
    first traced call does not pay for them (~2 ms each)."""
    import torch
    for name in COMMON_OPS:
        packet = getattr(torch.ops.aten, name, None)
        for overload in packet.overloads() if packet is not None else ():
            getattr(packet, overload)
    a, b = torch.empty(4, 3, device="meta"), torch.empty(3, 2, device="meta")
    with Watch({"aten": [], "modules": [], "others": []}, {}):
        z = a - a.max(dim=-1, keepdim=True).values
        e = torch.exp(z)
        (e / e.sum(dim=-1, keepdim=True)).log().mean()
        ((a[:, :, None] * b[None, :, :]).sum(dim=1) @ b.T).abs().sum()
        torch.where(a > 0, a, -a)[torch.arange(4, device="meta"), 0]


CELL_PREFIX = "<cell "
KNOWN_GOOD_PREFIX = "<known-good"
MAX_SEEN = 20


def _cell_of(filename: str) -> int | None:
    if filename.startswith(CELL_PREFIX) and filename.endswith(">"):
        try:
            return int(filename[len(CELL_PREFIX):-1])
        except ValueError:
            return None
    return None


def _codes_of(obj) -> list[types.CodeType]:
    """The code objects that make `obj` (a function, or a class's methods)."""
    if isinstance(obj, types.FunctionType):
        return [obj.__code__]
    if isinstance(obj, type):
        return [v.__code__ for v in vars(obj).values() if isinstance(v, types.FunctionType)]
    return []


def provenance(name: str, obj) -> dict:
    """What `obj` (the value of the graded `name`) is: {"kind": "def"|"class"|other, "what": in words,
    "cell": the cell its code was compiled from, "line"}. Decorators that wrap a def (`functools.wraps`) are
    followed to it."""
    inner = obj
    for _ in range(8):
        wrapped = getattr(inner, "__wrapped__", None) if not isinstance(inner, type) else None
        if wrapped is None:
            break
        inner = wrapped
    if isinstance(inner, types.FunctionType):
        code = inner.__code__
        cell = _cell_of(code.co_filename)
        if code.co_name == "<lambda>":
            return {"kind": "lambda", "what": "a lambda", "cell": cell}
        if cell is None:
            module = getattr(inner, "__module__", "") or "a module"
            return {"kind": "other", "what": f"a function of {module}, not a def of a notebook cell"}
        if code.co_name != name:
            return {"kind": "other", "what": f"the function `{code.co_name}` assigned to it", "cell": cell}
        return {"kind": "def", "cell": cell, "line": code.co_firstlineno}
    if isinstance(inner, type):
        cells = {_cell_of(c.co_filename) for c in _codes_of(inner)}
        if inner.__module__ == "__main__" and inner.__qualname__ == name and None not in cells:
            return {"kind": "class", "cell": min(cells) if cells else None}
        return {"kind": "other", "what": f"the class {inner.__module__}.{inner.__qualname__}"}
    if isinstance(inner, functools.partial):
        return {"kind": "other", "what": "a functools.partial"}
    if isinstance(inner, (types.BuiltinFunctionType, types.BuiltinMethodType)) or not hasattr(inner, "__code__"):
        what = f"{getattr(inner, '__module__', None) or 'a library'}'s {getattr(inner, '__name__', 'object')}"
        if callable(inner) and not isinstance(inner, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            what = f"an object of type {type(inner).__name__} (callable through __call__)"
        return {"kind": "other", "what": what}
    return {"kind": "other", "what": f"an object of type {type(inner).__name__}"}


class Bindings:
    """Which cell bound each watched name last, and every cell that rebound it (seen between cells)."""

    def __init__(self, names):
        self.names = [n for n in names if isinstance(n, str)][:200]
        self.last: dict[str, int] = {}
        self.history: dict[str, list[int]] = {}
        self._ids: dict[str, int] = {}

    def after_cell(self, index: int, ns: dict) -> None:
        for name in self.names:
            if name in ns and self._ids.get(name) != id(ns[name]):
                self._ids[name] = id(ns[name])
                self.history.setdefault(name, []).append(index)

    def report(self, ns: dict) -> dict:
        out = {}
        for name in self.names:
            if name in ns:
                info = provenance(name, ns[name])
                info["rebound"] = self.history.get(name, [])[1:]
                out[name] = info
        return out


class Watch(TorchDispatchMode):
    """Counts the aten ops a student function runs, and notes the forbidden ones it ran itself (the nearest
    notebook frame is not one of `others`, the other graded functions, nor a known-good stand-in)."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # False: torch then leaves __torch_dispatch__ as written, instead of wrapping it in
        # `torch._disable_dynamo` (~1.4 us on each of the thousands of ops a submission runs). The wrapper keeps
        # torch.compile from tracing into the mode's hook; a student's torch.compile does not compile at all
        # while this mode is on the stack (dynamo skips every frame then), so the ops are counted as before.
        return False

    def __init__(self, spec: dict, ns: dict):
        super().__init__()
        self.forbidden = {str(op) for op in spec.get("aten", [])}
        self.modules = tuple(f"/{m.replace('.', '/')}/" for m in spec.get("modules", []) if isinstance(m, str))
        self.others = {id(c) for n in spec.get("others", []) if isinstance(n, str) and n in ns
                       for c in _codes_of(ns[n])}
        self.ops = 0
        self.seen: list[str] = []
        self.used_modules: set[str] = set()

    def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
        self.ops += 1
        name = func._opname       # "softmax" of aten::_softmax.default is "_softmax"
        if name in self.forbidden and len(self.seen) < MAX_SEEN and self._theirs(sys._getframe(1)):
            self.seen.append(f"aten::{name}")
        return func(*args, **(kwargs or {}))

    def _theirs(self, frame) -> bool:
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(KNOWN_GOOD_PREFIX):
                return False
            if filename.startswith(CELL_PREFIX):
                return id(frame.f_code) not in self.others
            frame = frame.f_back
        return True   # no notebook frame at all: torch called from a C extension or a hidden thread: theirs

    def profile(self, frame, event, arg):
        """sys.setprofile hook: a call into a forbidden module's code (e.g. torch/optim/)."""
        if event == "call" and self.modules:
            filename = frame.f_code.co_filename
            for m in self.modules:
                if m in filename:
                    self.used_modules.add(m.strip("/").replace("/", "."))

    def __enter__(self):
        super().__enter__()
        if self.modules:
            self._old_profile = sys.getprofile()
            sys.setprofile(self.profile)
        return self

    def __exit__(self, *exc):
        intact = any(m is self for m in _get_current_dispatch_mode_stack())
        if self.modules:
            intact = intact and sys.getprofile() == self.profile
            sys.setprofile(self._old_profile)
        self.intact = intact
        try:
            return super().__exit__(*exc)
        except Exception:  # noqa: BLE001 - the mode stack was emptied under us: that is the evidence
            return False

    def result(self, value, args) -> dict:
        import torch
        fresh = isinstance(value, torch.Tensor) and not any(value is a for a in args)
        return {"forbidden": self.seen, "ops": self.ops, "modules": sorted(self.used_modules),
                "tampered": (not getattr(self, "intact", True)) or (fresh and self.ops == 0)}
