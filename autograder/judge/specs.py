"""Objects a check asks the jail to build: a placed tensor, the student's module, a known-good torch model,
a loss or an optimizer, a parameter list, a known-good stand-in for a student function.

They travel as plain JSON descriptions plus tensor bytes and are constructed inside the jail from torch itself;
nothing is pickled. The same description builds the same object in the judge (`TorchModel.build()`), so a check
can replay what the jail was given. See docs/instructor-guide.md.
"""
from __future__ import annotations

import functools
import inspect
import textwrap
from dataclasses import dataclass, field

import torch

from autograder import wire
from autograder.judge.feedback import CheckError
from autograder.nnspec import build_layer, layer_class


@dataclass
class T:
    """A tensor placed on `device` (default: the call's device) in the jail."""
    tensor: torch.Tensor
    device: str | None = None
    requires_grad: bool = False


@dataclass
class StudentModule:
    """The student's nn.Module class `name`, built with no arguments, `state` loaded, moved to the device."""
    name: str
    state: dict | None = None


@dataclass(frozen=True)
class Layer:
    """One torch.nn module by its class name and constructor arguments (plain numbers, strings, booleans):
    `Layer("Linear", 784, 10)`, `Layer("LogSoftmax", dim=-1)`."""
    kind: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __init__(self, kind: str, *args, **kwargs):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "kwargs", dict(kwargs))

    def build(self) -> torch.nn.Module:
        return build_layer(self.kind, self.args, self.kwargs)


@dataclass
class TorchModel:
    """A known-good model made of torch.nn parts: `nn.Sequential` of `layers`, `state` loaded (its keys are
    Sequential's: "1.weight", ...), or, with one layer, that layer itself (keys "weight", "bias")."""
    layers: list
    state: dict | None = None

    def build(self) -> torch.nn.Module:
        """The same model in the judge (float32, on the CPU), `state` loaded."""
        model = _assemble([layer.build() for layer in self.layers])
        if self.state is not None:
            model.load_state_dict(self.state)
        return model


def _assemble(modules: list) -> torch.nn.Module:
    return modules[0] if len(modules) == 1 else torch.nn.Sequential(*modules)


@dataclass
class TorchFn:
    """A known-good function of torch.nn.functional by name: `TorchFn("nll_loss")`."""
    name: str


@dataclass
class Ref:
    """Positional argument `index` of the same call (e.g. the model an optimizer updates)."""
    index: int


@dataclass
class Optimizer:
    """torch.optim.<kind> over the parameters of `module` (a Ref), e.g. Optimizer("SGD", Ref(0), lr=0.1)."""
    kind: str
    module: Ref
    options: dict = field(default_factory=dict)

    def __init__(self, kind: str, module: Ref, **options):
        self.kind, self.module, self.options = kind, module, dict(options)


@dataclass
class Params:
    """A list of nn.Parameter, each with its .grad set (None where grads[i] is None); `generator=True` hands
    them over as a generator, consumed once, as `model.parameters()` is."""
    values: list
    grads: list = field(default_factory=list)
    generator: bool = False


@dataclass
class StudentObject:
    """An instance of the student's class `name`, constructed in the jail with `args` (specs and values, Refs to
    the call's arguments included): `StudentObject("BasicOptim", Params(ws, grads), 0.1)`. As the target of
    `call_method`, its constructor's arguments come back as they are after the call (`r.obj_args`)."""
    name: str
    args: tuple = ()

    def __init__(self, name: str, *args):
        self.name, self.args = name, tuple(args)


@dataclass
class ParamsOf:
    """The parameters (a list) of positional argument `index` of the same call, e.g. a TorchModel."""
    index: int


@dataclass
class KnownGood:
    """A known-good function (a reference) passed as an argument, e.g. the loss a training loop is given. Its
    source travels to the jail (see `stand_in_source`)."""
    fn: object


@functools.lru_cache(maxsize=256)
def stand_in_source(fn) -> dict:
    """A known-good function (a reference) as it travels to the jail: its source, compiled there with only
    torch, torch.nn (nn), torch.nn.functional (F) and math in scope. It must be self-contained. The student's
    code could read it while it is swapped in: use references that give nothing away (PyTorch's own
    functions), never a check."""
    name = getattr(fn, "__name__", "")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        compile(source, f"<known-good {name}>", "exec")
    except (OSError, TypeError, SyntaxError) as exc:
        raise CheckError(f"a known-good stand-in must be a function or class with source code that compiles on its "
                         f"own, not {fn!r} ({exc})") from exc
    return {"name": name, "source": source}


def _tensor(t: torch.Tensor, blobs, device, requires_grad=False) -> dict:
    node = wire.encode_tensor(t.detach().cpu(), blobs)
    node["device"] = device
    node["requires_grad"] = requires_grad
    return node


def encode_arg(value, blobs: list[bytes], device: str):
    """Judge-side encoding of one argument: tensors go to `device`, specs become descriptions."""
    if isinstance(value, T):
        return _tensor(value.tensor, blobs, value.device or device, value.requires_grad)
    if isinstance(value, torch.Tensor):
        return _tensor(value, blobs, device)
    if isinstance(value, StudentModule):
        return {"__spec__": "student_module", "name": value.name, "state": _state(value.state, blobs, device)}
    if isinstance(value, TorchModel):
        for layer in value.layers:          # the check's own mistakes are found here, in the judge
            try:
                layer_class(layer.kind, layer.args, layer.kwargs)
            except ValueError as exc:
                raise CheckError(f"TorchModel: {exc}") from None
        return {"__spec__": "torch_model", "state": _state(value.state, blobs, device),
                "layers": [{"kind": l.kind, "args": list(l.args), "kwargs": dict(l.kwargs)} for l in value.layers]}
    if isinstance(value, TorchFn):
        fn = getattr(torch.nn.functional, value.name, None) if value.name.isidentifier() else None
        if value.name.startswith("_") or not callable(fn):
            raise CheckError(f"TorchFn: {value.name!r} is not a function of torch.nn.functional")
        return {"__spec__": "torch_fn", "name": value.name}
    if isinstance(value, Ref):
        return {"__spec__": "ref", "index": value.index}
    if isinstance(value, Optimizer):
        cls = getattr(torch.optim, value.kind, None) if value.kind.isidentifier() else None
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise CheckError(f"Optimizer: {value.kind!r} is not a torch.optim optimizer")
        return {"__spec__": "optimizer", "kind": value.kind, "module": value.module.index,
                "options": {"__dict__": [[k, wire.encode_value(v, blobs)] for k, v in value.options.items()]}}
    if isinstance(value, StudentObject):
        return {"__spec__": "student_object", "name": value.name, "args": [encode_arg(a, blobs, device) for a in value.args]}
    if isinstance(value, ParamsOf):
        return {"__spec__": "params_of", "index": value.index}
    if isinstance(value, KnownGood):
        return {"__spec__": "known_good", "fn": stand_in_source(value.fn)}
    if isinstance(value, Params):
        grads = list(value.grads) + [None] * (len(value.values) - len(value.grads))
        return {"__spec__": "params", "generator": value.generator,
                "values": [_tensor(v, blobs, device) for v in value.values],
                "grads": [None if g is None else _tensor(g, blobs, device) for g in grads]}
    if isinstance(value, (list, tuple)):
        items = [encode_arg(v, blobs, device) for v in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        return {"__dict__": [[k, encode_arg(v, blobs, device)] for k, v in value.items()]}
    return wire.encode_value(value, blobs)


def _state(state, blobs, device):
    if state is None:
        return None
    return {"__dict__": [[k, _tensor(v, blobs, device)] for k, v in state.items()]}
