"""The jail's side of the conversation: run the notebook's cells, then answer requests until told to stop.

Runs behind the walls (see spawn.py and walls.py). Holds no check and no expected value: it only builds what
the judge describes (tensors, the student's module, torch.nn models, torch's own optimizers and losses, and
the known-good stand-ins a check sends for one call), calls the student's code and sends back plain data.
"""
from __future__ import annotations

import builtins
import contextlib
import math
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder import wire
from autograder.jail.evidence import Bindings, Watch
from autograder.nnspec import build_layer
from autograder.jail.notebook_exec import (CappedWriter, CellTimeout, new_namespace, run_cell,
                                           student_traceback, time_limit)

_STAND_INS: dict[str, object] = {}   # source -> the compiled known-good function (one compile per jail)


def _stand_in(spec) -> object:
    """A known-good function a check swaps in for a student's own for one call ("one mistake costs once"):
    compiled from the source the judge sent, with only torch, nn, F and math in scope."""
    if type(spec) is not dict or type(spec.get("source")) is not str or type(spec.get("name")) is not str:
        raise RequestError("a known-good stand-in is {name, source}")
    if spec["source"] not in _STAND_INS:
        scope = {"torch": torch, "nn": nn, "F": F, "math": math, "__builtins__": builtins,
                 "__name__": "known_good"}
        try:
            exec(compile(spec["source"], f"<known-good {spec['name']}>", "exec"), scope)  # noqa: S102
        except Exception as exc:  # noqa: BLE001 - the instructor's stand-in is broken
            raise RequestError(f"the known-good {spec['name']} does not compile here: "
                               f"{type(exc).__name__}: {exc}") from None
        if spec["name"] not in scope:
            raise RequestError(f"the known-good source does not define {spec['name']!r}")
        _STAND_INS[spec["source"]] = scope[spec["name"]]
    return _STAND_INS[spec["source"]]


def _torch_fn(name):
    fn = getattr(F, name, None) if type(name) is str and name.isidentifier() and not name.startswith("_") else None
    if not callable(fn):
        raise RequestError(f"{name!r} is not a function of torch.nn.functional")
    return fn


_ABSENT = object()


class _Missing(NameError):
    """A name the judge asked for that the notebook does not define."""


class RequestError(Exception):
    """A request the jail cannot serve (bad spec): reported to the judge as a protocol error."""


# ---------------------------------------------------------------- building arguments
class _Builder:
    def __init__(self, ns: dict, device: str, blobs: list[bytes]):
        self.ns, self.device, self.blobs = ns, device, blobs
        self.built: list = []
        self.ctor_args: dict[int, list] = {}   # id(student object) -> the arguments it was constructed with
        self.streams: dict[int, list] = {}     # id(generator of parameters) -> the parameters it yields

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
            try:
                layers = [build_layer(l["kind"], l["args"], l["kwargs"]) for l in node["layers"]]
            except (ValueError, TypeError, KeyError) as exc:
                raise RequestError(f"bad model description: {exc}") from None
            return self._place(layers[0] if len(layers) == 1 else nn.Sequential(*layers), node.get("state"))
        if kind == "torch_fn":
            return _torch_fn(node["name"])
        if kind == "ref":
            return top[node["index"]]
        if kind == "optimizer":
            cls = getattr(torch.optim, node["kind"], None) if type(node["kind"]) is str else None
            if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
                raise RequestError(f"{node['kind']!r} is not a torch.optim optimizer")
            options = wire.decode_value(node.get("options", {"__dict__": []}), self.blobs)
            return cls(top[node["module"]].parameters(), **options)
        if kind == "student_object":   # the student's class, constructed with these arguments
            cls = self.ns.get(node["name"])
            if cls is None:
                raise _Missing(f"name '{node['name']}' is not defined")
            if not isinstance(cls, type):
                raise TypeError(f"`{node['name']}` is not a class")
            ctor = [self.value(a, top) for a in node.get("args", [])]
            obj = cls(*ctor)
            self.ctor_args[id(obj)] = ctor
            return obj
        if kind == "params_of":       # the parameters of an argument of the same call (a model)
            return list(top[node["index"]].parameters())
        if kind == "known_good":      # a known-good function passed as an argument (e.g. a loss)
            return _stand_in(node["fn"])
        if kind == "params":
            params = []
            for v, g in zip(node["values"], node["grads"]):
                p = nn.Parameter(self.tensor(v))
                if g is not None:
                    p.grad = self.tensor(g)
                params.append(p)
            if node.get("generator"):   # handed over as a generator, consumed once (like model.parameters())
                stream = (p for p in params)
                self.streams[id(stream)] = params
                return stream
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


def _after(arg, blobs, streams=None):
    """What the judge gets back about an argument after the call."""
    if streams and id(arg) in streams:
        arg = streams[id(arg)]
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
    def __init__(self, sock, cells: list[tuple[int, str]], *, cell_timeout: float, watch_names=()):
        self.sock = sock
        self.ns = new_namespace()
        self.cells = cells
        self.sources = dict(cells)
        self.cell_timeout = cell_timeout
        self.bindings = Bindings(watch_names)

    def run_cells(self) -> None:
        for index, source in self.cells:
            wire.send(self.sock, {"event": "cell_start", "index": index})
            record = run_cell(index, source, self.ns, timeout=self.cell_timeout, translated=True)
            self.bindings.after_cell(index, self.ns)
            wire.send(self.sock, {"event": "cell_done", "record": record})
        wire.send(self.sock, {"event": "ready", "defined": self.defined(),
                              "provenance": self.bindings.report(self.ns)})

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
        watch = Watch(req["watch"], self.ns) if type(req.get("watch")) is dict else None
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
                for name, spec in req.get("known_good", {}).items():
                    good = _stand_in(spec)
                    patched[name] = self.ns.get(name, _ABSENT)
                    self.ns[name] = good
                if req.get("seed") is not None:
                    _seed(int(req["seed"]))
                if device.startswith("cuda"):  # the checks' tolerances assume full float32, whatever the notebook set
                    torch.backends.cuda.matmul.allow_tf32 = False
                    torch.backends.cudnn.allow_tf32 = False
                with (watch or contextlib.nullcontext()):
                    value = (fn() if type(req.get("method")) is list else fn(*args, **kwargs)) if fn is not None else None
                grad_error = self._backward(req, value, builder) if req.get("backward") else ""
        except CellTimeout as exc:
            return {"ok": False, "error": {"kind": "timeout", "message": str(exc)}}, []
        except RequestError as exc:
            return {"ok": False, "error": {"kind": "protocol", "message": str(exc)}}, []
        except BaseException as exc:  # noqa: BLE001 - the student's exception, whatever it is
            kind = "missing" if isinstance(exc, _Missing) or (isinstance(exc, NameError)
                                                                and fn_missing(req, self.ns)) else "exception"
            return {"ok": False, "error": {"kind": kind, "type": type(exc).__name__, "message": _safe_str(exc),
                                           "traceback": student_traceback(exc), "raised_in": _raised_in(exc, self.sources)}}, []
        finally:
            sys.stdout, sys.stderr = old_streams
            for name, old in patched.items():
                if old is _ABSENT:
                    self.ns.pop(name, None)
                else:
                    self.ns[name] = old
        return self._reply(value, args, target, grad_error, watch, out, builder)

    def _resolve(self, req, target):
        if target is not None:
            method = req.get("method")
            if type(method) is list:    # several methods called in turn, without arguments: the last one's value
                bound = [getattr(target, m) for m in method if type(m) is str][:20]
                return lambda: [m() for m in bound][-1] if bound else None
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
        if grad.shape != value.shape:   # the check weighs a result of the contract's shape: say so, never raise
            return f"the result's shape {tuple(value.shape)} is not the expected {tuple(grad.shape)}"
        (value * grad).sum().backward()
        return ""

    def _reply(self, value, args, target, grad_error, watch, out, builder):
        blobs: list[bytes] = []
        try:
            reply = {
                "ok": True,
                "value": wire.encode_value(value, blobs),
                "args": [_after(a, blobs, builder.streams) for a in args],
                "grads": [_grad_of(a, blobs) for a in args],
                "grad_error": grad_error,
                "watched": watch.result(value, args) if watch else None,
                "autograd": ({"requires_grad": bool(value.requires_grad), "is_leaf": bool(value.is_leaf)}
                             if isinstance(value, torch.Tensor) else None),
                "stdout": out.text(),
            }
            if isinstance(target, nn.Module):
                reply["obj_info"] = _module_info(target)
                reply["obj_state"] = _after(target, blobs)
                reply["obj_grads"] = {"__dict__": [[n, _grad_of(p, blobs)] for n, p in target.named_parameters()]}
            elif target is not None and id(target) in builder.ctor_args:
                reply["obj_args"] = [_after(a, blobs, builder.streams) for a in builder.ctor_args[id(target)]]
        except BaseException as exc:  # noqa: BLE001 - an unreadable result is the student's problem
            return {"ok": False, "error": {"kind": "bad_output", "message": _safe_str(exc)}}, []
        return reply, blobs


def _seed(seed: int) -> None:
    """torch.manual_seed for the devices a check can use. (torch.manual_seed also queues the seed for every
    accelerator backend not yet initialised, recording a stack trace for each: ~1 ms per call.)"""
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _raised_in(exc: BaseException, sources: dict[int, str]) -> str:
    """"cell" when the student's own `raise` raised it (the innermost frame is a notebook cell, on a line with a
    `raise`), else "library" (torch or Python raised it on their behalf: C++ errors have no frame of their own,
    so their innermost frame is the calling cell line, which has no `raise`)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None or not tb.tb_frame.f_code.co_filename.startswith("<cell "):
        return "library"
    try:
        index = int(tb.tb_frame.f_code.co_filename[len("<cell "):-1])
        line = sources.get(index, "").splitlines()[tb.tb_lineno - 1]
    except (ValueError, IndexError):
        return "cell"
    return "cell" if _RAISE.search(line) else "library"


_RAISE = re.compile(r"\braise\b")


def fn_missing(req, ns) -> bool:
    return bool(req.get("name")) and req["name"] not in ns


def _safe_str(exc) -> str:
    try:
        return str(exc)[:2000]
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return f"<{type(exc).__name__}>"


def serve_submission(sock) -> None:
    """Entry point inside the jail: receive the notebook's cells from the judge, run them, then serve requests
    until the judge hangs up."""
    header, _ = wire.recv(sock)
    cells = [(int(i), str(src)) for i, src in header["cells"]]
    server = Server(sock, cells, cell_timeout=float(header["cell_timeout"]), watch_names=header.get("watch_names", []))
    server.run_cells()
    server.serve()


__all__ = ["serve_submission", "Server"]
