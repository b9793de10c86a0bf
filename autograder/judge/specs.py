"""Objects a check asks the jail to build (a module, an optimizer, a parameter list ...).

They travel as plain JSON descriptions plus tensor bytes and are constructed inside the jail from torch
itself; nothing is pickled. See docs/engine-api.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from autograder import wire


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


@dataclass
class TorchModel:
    """A known-good model made of torch.nn parts: "linear" = Sequential(Flatten, Linear(784, 10), LogSoftmax(-1))."""
    kind: str = "linear"
    state: dict | None = None
    in_features: int = 784
    out_features: int = 10


@dataclass
class TorchFn:
    """A known-good torch function by name: nll_loss, cross_entropy."""
    name: str


@dataclass
class Ref:
    """Positional argument `index` of the same call (e.g. the model an optimizer updates)."""
    index: int


@dataclass
class Optimizer:
    """torch.optim.SGD (lr, momentum) or Adam (lr) over the parameters of `module` (a Ref)."""
    kind: str
    module: Ref
    lr: float = 0.1
    momentum: float = 0.0


@dataclass
class Params:
    """A list of nn.Parameter, each with its .grad set (None where grads[i] is None)."""
    values: list
    grads: list = field(default_factory=list)


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
        return {"__spec__": "torch_model", "kind": value.kind, "in": value.in_features,
                "out": value.out_features, "state": _state(value.state, blobs, device)}
    if isinstance(value, TorchFn):
        return {"__spec__": "torch_fn", "name": value.name}
    if isinstance(value, Ref):
        return {"__spec__": "ref", "index": value.index}
    if isinstance(value, Optimizer):
        return {"__spec__": "optimizer", "kind": value.kind, "module": value.module.index,
                "lr": value.lr, "momentum": value.momentum}
    if isinstance(value, Params):
        grads = list(value.grads) + [None] * (len(value.values) - len(value.grads))
        return {"__spec__": "params",
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
