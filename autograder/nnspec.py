"""torch.nn modules from plain descriptions, built the same way in the judge and in the jail (neither side
ever unpickles the other's objects): a public torch.nn Module class by name, with plain arguments."""
from __future__ import annotations

import torch


def layer_class(kind: str, args, kwargs) -> type:
    """The public torch.nn Module class `kind`, once its arguments are known to be plain; else ValueError."""
    ok_name = isinstance(kind, str) and kind.isidentifier() and not kind.startswith("_")
    cls = getattr(torch.nn, kind, None) if ok_name else None
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ValueError(f"{kind!r} is not a torch.nn module class")
    if type(args) not in (list, tuple) or type(kwargs) is not dict:
        raise ValueError("a layer's arguments are a list and a dict")
    if not all(type(a) in (int, float, bool, str) for a in [*args, *kwargs.values()]):
        raise ValueError(f"arguments of {kind} must be plain numbers, strings or booleans")
    return cls


def build_layer(kind: str, args, kwargs) -> torch.nn.Module:
    """torch.nn.<kind>(*args, **kwargs), for public torch.nn Module classes and plain arguments only."""
    return layer_class(kind, args, kwargs)(*args, **kwargs)
