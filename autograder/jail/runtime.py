"""The jail's side of the conversation: run the notebook's cells, then answer requests until told to stop.

Runs inside the sandbox (see sandbox.py). Holds no reference solution, no check, no expected value: it only
builds what the judge describes (tensors, the student's module, torch's own optimizers and losses), calls
the student's code and sends back plain data.
"""
from __future__ import annotations

import contextlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from autograder import wire
from autograder.jail.notebook_exec import (CappedWriter, CellTimeout, new_namespace, run_cell,
                                           student_traceback, time_limit)

# Known-good stand-ins a check may swap in for a student function ("one mistake costs once").
STAND_INS = {
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "matmul": lambda a, b: torch.matmul(a, b),
}
TORCH_FNS = {"nll_loss": F.nll_loss, "cross_entropy": F.cross_entropy}
TRACE_CAP = 2_000


_ABSENT = object()


class _Missing(NameError):
    """A name the judge asked for that the notebook does not define."""


class RequestError(Exception):
    """A request the jail cannot serve (bad spec): reported to the judge as a protocol error."""


class _Trace(TorchFunctionMode):
    """Records the torch functions student code calls (a hint for feedback, never the only evidence)."""

    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if len(self.names) < TRACE_CAP:
            self.names.append(_func_name(func))
        return func(*args, **(kwargs or {}))


def _func_name(func) -> str:
    qual = getattr(func, "__qualname__", "") or getattr(func, "__name__", "") or repr(func)
    name = qual.rsplit(".", 1)[-1]
    if qual.startswith(("TensorBase.", "Tensor.")):
        return "Tensor." + name
    if qual.startswith("_VariableFunctionsClass."):
        return "torch." + name
    module = getattr(func, "__module__", None) or "torch"
    return f"{module}.{name}"


# ---------------------------------------------------------------- building arguments
class _Builder:
    def __init__(self, ns: dict, device: str, blobs: list[bytes]):
        self.ns, self.device, self.blobs = ns, device, blobs
        self.built: list = []

    def tensor(self, node: dict) -> torch.Tensor:
        t = wire.decode_tensor(dict(node, device="cpu"), self.blobs, place=False)
        dev = node.get("device") or self.device
        t = torch.empty(t.shape, dtype=t.dtype, device="meta") if dev == "meta" else t.to(dev)
        if node.get("requires_grad"):
            t.requires_grad_(True)
        return t

    def value(self, node, top: list | None = None):
        if type(node) is dict:
            if "__tensor__" in node:
                return self.tensor(node)
            if "__spec__" in node:
                return self.spec(node, top)
            if "__tuple__" in node:
                return tuple(self.value(v, top) for v in node["__tuple__"])
            if "__dict__" in node:
                return {k: self.value(v, top) for k, v in node["__dict__"]}
            return wire.decode_value(node, self.blobs)
        if type(node) is list:
            return [self.value(v, top) for v in node]
        return wire.decode_value(node, self.blobs)

    def state(self, node):
        return None if node is None else {k: self.tensor(v) for k, v in node["__dict__"]}

    def spec(self, node: dict, top):
        kind = node["__spec__"]
        if kind == "student_module":
            cls = self.ns.get(node["name"])
            if cls is None:
                raise _Missing(f"name '{node['name']}' is not defined")
            module = cls()
            return self._place(module, node.get("state"))
        if kind == "torch_model":
            if node["kind"] != "linear":
                raise RequestError(f"unknown model kind {node['kind']!r}")
            model = nn.Sequential(nn.Flatten(), nn.Linear(node["in"], node["out"]), nn.LogSoftmax(dim=-1))
            return self._place(model, node.get("state"))
        if kind == "torch_fn":
            return TORCH_FNS[node["name"]]
        if kind == "ref":
            return top[node["index"]]
        if kind == "optimizer":
            params = top[node["module"]].parameters()
            if node["kind"] == "sgd":
                return torch.optim.SGD(params, lr=node["lr"], momentum=node["momentum"])
            if node["kind"] == "adam":
                return torch.optim.Adam(params, lr=node["lr"])
            raise RequestError(f"unknown optimizer {node['kind']!r}")
        if kind == "params":
            params = []
            for v, g in zip(node["values"], node["grads"]):
                p = nn.Parameter(self.tensor(v))
                if g is not None:
                    p.grad = self.tensor(g)
                params.append(p)
            return params
        raise RequestError(f"unknown spec {kind!r}")

    def _place(self, module, state_node):
        state = self.state(state_node)
        if state is not None:
            module.load_state_dict({k: v.cpu() if v.device.type != "meta" else v for k, v in state.items()})
        return module.to(self.device)


# ---------------------------------------------------------------- encoding results
def _module_info(module) -> dict:
    info = {}
    for name, p in module.named_parameters():
        info[name] = {**wire.tensor_meta(p), "parameter": isinstance(p, nn.Parameter)}
    for name, b in module.named_buffers():
        info[name] = {**wire.tensor_meta(b), "parameter": False}
    return info


def _after(arg, blobs):
    """What the judge gets back about an argument after the call."""
    if isinstance(arg, torch.Tensor):
        return wire.encode_tensor(arg, blobs)
    if isinstance(arg, nn.Module):
        return {"__dict__": [[k, wire.encode_tensor(v, blobs)] for k, v in arg.state_dict().items()]}
    if type(arg) is list and arg and all(isinstance(p, nn.Parameter) for p in arg):
        return [{"__tuple__": [wire.encode_tensor(p, blobs),
                               None if p.grad is None else wire.encode_tensor(p.grad, blobs)]} for p in arg]
    return None


def _grad_of(t, blobs):
    return None if not isinstance(t, torch.Tensor) or t.grad is None else wire.encode_tensor(t.grad, blobs)


# ---------------------------------------------------------------- the server
class Server:
    def __init__(self, sock, cells: list[tuple[int, str]], *, cell_timeout: float):
        self.sock = sock
        self.ns = new_namespace()
        self.cells = cells
        self.cell_timeout = cell_timeout

    def run_cells(self) -> None:
        for index, source in self.cells:
            wire.send(self.sock, {"event": "cell_start", "index": index})
            record = run_cell(index, source, self.ns, timeout=self.cell_timeout, translated=True)
            wire.send(self.sock, {"event": "cell_done", "record": record})
        wire.send(self.sock, {"event": "ready", "defined": self.defined()})

    def defined(self) -> dict:
        kinds = {}
        for name, value in list(self.ns.items()):
            if name.startswith("__") or name in ("get_ipython", "display"):
                continue
            if isinstance(value, type):
                kinds[name] = "class"
            elif callable(value):
                kinds[name] = "function"
            elif type(value).__name__ == "module":
                kinds[name] = "module"
            else:
                kinds[name] = "other"
        return kinds

    def serve(self) -> None:
        while True:
            try:
                header, blobs = wire.recv(self.sock)
            except wire.Closed:
                return
            op = header.get("op")
            if op == "stop":
                return
            if op == "call":
                reply, out_blobs = self.call(header, blobs)
            elif op == "defined":
                reply, out_blobs = {"ok": True, "defined": self.defined()}, []
            else:
                reply, out_blobs = {"ok": False, "error": {"kind": "protocol", "message": f"unknown op {op!r}"}}, []
            wire.send(self.sock, reply, out_blobs)

    def call(self, req: dict, blobs: list[bytes]):
        device = req.get("device", "cpu")
        out = CappedWriter()
        old_streams = sys.stdout, sys.stderr
        trace = _Trace() if req.get("trace") else None
        patched = {}
        fn = value = None
        grad_error = ""
        args: list = []
        target = None
        try:
            sys.stdout = sys.stderr = out
            with time_limit(float(req.get("timeout", 10))):
                builder = _Builder(self.ns, device, blobs)
                for node in req.get("args", []):
                    args.append(builder.value(node, args))
                kwargs = {k: builder.value(v, args) for k, v in req.get("kwargs", {}).get("__dict__", [])}
                target = builder.value(req["target"], args) if req.get("target") else None
                fn = self._resolve(req, target)
                for name, stand_in in req.get("patch", {}).items():
                    patched[name] = self.ns.get(name, _ABSENT)
                    self.ns[name] = STAND_INS[stand_in]
                if req.get("seed") is not None:
                    _seed(int(req["seed"]))
                if device.startswith("cuda"):  # the checks' tolerances assume full float32, whatever the notebook set
                    torch.backends.cuda.matmul.allow_tf32 = False
                    torch.backends.cudnn.allow_tf32 = False
                with (trace or contextlib.nullcontext()):
                    value = fn(*args, **kwargs) if fn is not None else None
                grad_error = self._backward(req, value, builder) if req.get("backward") else ""
        except CellTimeout as exc:
            return {"ok": False, "error": {"kind": "timeout", "message": str(exc)}}, []
        except RequestError as exc:
            return {"ok": False, "error": {"kind": "protocol", "message": str(exc)}}, []
        except BaseException as exc:  # noqa: BLE001 - the student's exception, whatever it is
            kind = "missing" if isinstance(exc, _Missing) or (isinstance(exc, NameError)
                                                                and fn_missing(req, self.ns)) else "exception"
            return {"ok": False, "error": {"kind": kind, "type": type(exc).__name__,
                                           "message": _safe_str(exc), "traceback": student_traceback(exc)}}, []
        finally:
            sys.stdout, sys.stderr = old_streams
            for name, old in patched.items():
                if old is _ABSENT:
                    self.ns.pop(name, None)
                else:
                    self.ns[name] = old
        return self._reply(value, args, target, grad_error, trace, out)

    def _resolve(self, req, target):
        if target is not None:
            method = req.get("method")
            return getattr(target, method) if method else None
        name = req["name"]
        if name not in self.ns:
            raise NameError(f"name '{name}' is not defined")
        return self.ns[name]

    @staticmethod
    def _backward(req, value, builder) -> str:
        if not isinstance(value, torch.Tensor) or not value.requires_grad:
            return "the result is not connected to the autograd graph"
        g = req.get("grad_output")
        grad = builder.tensor(g) if g else torch.ones_like(value)
        (value * grad).sum().backward()
        return ""

    def _reply(self, value, args, target, grad_error, trace, out):
        blobs: list[bytes] = []
        try:
            reply = {
                "ok": True,
                "value": wire.encode_value(value, blobs),
                "args": [_after(a, blobs) for a in args],
                "grads": [_grad_of(a, blobs) for a in args],
                "grad_error": grad_error,
                "trace": trace.names if trace else [],
                "stdout": out.text(),
            }
            if isinstance(target, nn.Module):
                reply["obj_info"] = _module_info(target)
                reply["obj_state"] = _after(target, blobs)
                reply["obj_grads"] = {"__dict__": [[n, _grad_of(p, blobs)] for n, p in target.named_parameters()]}
        except BaseException as exc:  # noqa: BLE001 - an unreadable result is the student's problem
            return {"ok": False, "error": {"kind": "bad_output", "message": _safe_str(exc)}}, []
        return reply, blobs


def _seed(seed: int) -> None:
    """torch.manual_seed for the devices a check can use. (torch.manual_seed also queues the seed for every
    accelerator backend not yet initialised, recording a stack trace for each: ~1 ms per call.)"""
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def fn_missing(req, ns) -> bool:
    return bool(req.get("name")) and req["name"] not in ns


def _safe_str(exc) -> str:
    try:
        return str(exc)[:2000]
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return f"<{type(exc).__name__}>"


def serve_submission(sock, cells, *, cell_timeout: float) -> None:
    """Entry point inside the jail: run the cells, then serve requests until the judge hangs up."""
    server = Server(sock, cells, cell_timeout=cell_timeout)
    server.run_cells()
    server.serve()


__all__ = ["serve_submission", "Server", "STAND_INS"]
