"""The wire between judge and jail: JSON plus raw tensor bytes, validated and size-capped on receipt.

A frame is `MAGIC | u32 header length | header JSON | blobs`. The header's `"blobs"` lists the byte length of
each blob; tensors in the JSON tree are `{"__tensor__": i, "dtype", "shape", "device"}` pointing at blob i.
Nothing is ever unpickled: decoding builds tensors with `torch.frombuffer` from validated dtype and shape.
"""
from __future__ import annotations

import json
import math
import re
import socket
import struct

import torch

MAGIC = b"AGW1"
MAX_HEADER = 4 << 20          # JSON header: 4 MiB
MAX_BLOBS = 256 << 20         # all tensor bytes in one frame: 256 MiB (an MNIST batch is ~25 MiB)
MAX_BLOB_COUNT = 4096
MAX_DEPTH = 24
MAX_STR = 20_000
MAX_NDIM = 8

DTYPES = {
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
    "float64": torch.float64, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_DEVICE_RE = re.compile(r"^(cpu|meta|cuda(:[0-9]{1,2})?|mps)$")


class WireError(Exception):
    """A frame that breaks the protocol: too big, malformed, or of an unknown kind."""


class Closed(WireError):
    """The other side closed the connection (for the jail: it exited or was killed)."""


# ---------------------------------------------------------------- framing
def send(sock: socket.socket, header: dict, blobs: list[bytes] = ()) -> None:
    header = dict(header, blobs=[len(b) for b in blobs])
    data = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    if len(data) > MAX_HEADER:
        raise WireError(f"header of {len(data)} bytes exceeds {MAX_HEADER}")
    if sum(len(b) for b in blobs) > MAX_BLOBS:
        raise WireError("tensor data exceeds the frame limit")
    sock.sendall(MAGIC + struct.pack("<I", len(data)) + data)
    for b in blobs:
        sock.sendall(b)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise Closed("connection closed")
        got += k
    return bytes(buf)


def recv(sock: socket.socket) -> tuple[dict, list[bytes]]:
    head = _recv_exact(sock, 8)
    if head[:4] != MAGIC:
        raise WireError("bad frame magic")
    (size,) = struct.unpack("<I", head[4:])
    if size > MAX_HEADER:
        raise WireError(f"header of {size} bytes exceeds {MAX_HEADER}")
    try:
        header = json.loads(_recv_exact(sock, size))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("header is not an object")
    sizes = header.get("blobs", [])
    if (not isinstance(sizes, list) or len(sizes) > MAX_BLOB_COUNT
            or not all(type(s) is int and s >= 0 for s in sizes) or sum(sizes) > MAX_BLOBS):
        raise WireError("bad blob table")
    return header, [_recv_exact(sock, s) for s in sizes]


# ---------------------------------------------------------------- values
def tensor_meta(t: torch.Tensor) -> dict:
    return {"dtype": DTYPE_NAMES.get(t.dtype, str(t.dtype)), "shape": list(t.shape), "device": str(t.device)}


def encode_tensor(t: torch.Tensor, blobs: list[bytes]) -> dict:
    """Plain bytes of a tensor (any subclass is read through the base class)."""
    with torch._C.DisableTorchFunctionSubclass():
        t = torch.Tensor.as_subclass(t, torch.Tensor)
        meta = tensor_meta(t)
        if t.dtype not in DTYPE_NAMES:
            raise WireError(f"tensors of dtype {t.dtype} cannot be sent")
        if t.device.type == "meta":
            return {"__tensor__": -1, **meta}
        data = t.detach().to("cpu").contiguous()
        raw = data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b""
    blobs.append(raw)
    return {"__tensor__": len(blobs) - 1, **meta}


def decode_tensor(node: dict, blobs: list[bytes], *, place: bool = True) -> torch.Tensor:
    """Rebuild a tensor from validated metadata; `place` moves it to its device when that device exists here."""
    dtype = DTYPES.get(node.get("dtype"))
    shape = node.get("shape")
    device = node.get("device", "cpu")
    if dtype is None:
        raise WireError(f"unknown dtype {node.get('dtype')!r}")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(type(s) is int and 0 <= s < 2**31 for s in shape)):
        raise WireError("bad tensor shape")
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise WireError("bad device")
    idx = node.get("__tensor__")
    if device == "meta" or idx == -1:
        return torch.empty(shape, dtype=dtype, device="meta")
    if type(idx) is not int or not 0 <= idx < len(blobs):
        raise WireError("bad blob index")
    raw = blobs[idx]
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != math.prod(shape) * itemsize:
        raise WireError("tensor byte count does not match its shape")
    t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
    t = t.reshape(shape)
    if place and device != "cpu" and _device_available(device):
        t = t.to(device)
    return t


def _device_available(device: str) -> bool:
    if device.startswith("cuda"):
        return torch.cuda.is_available()
    return device == "mps" and torch.backends.mps.is_available()


def decode_value(node, blobs: list[bytes], *, depth: int = 0, place: bool = True):
    """JSON tree -> Python values and tensors. Only plain data comes out."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if node is None or type(node) in (bool, int, float):
        return node
    if type(node) is str:
        return node[:MAX_STR]
    if type(node) is list:
        return [decode_value(v, blobs, depth=depth + 1, place=place) for v in node]
    if type(node) is dict:
        if "__tensor__" in node:
            return decode_tensor(node, blobs, place=place)
        if "__tuple__" in node:
            items = node["__tuple__"]
            if type(items) is not list:
                raise WireError("bad tuple")
            return tuple(decode_value(v, blobs, depth=depth + 1, place=place) for v in items)
        if "__dict__" in node:
            pairs = node["__dict__"]
            if type(pairs) is not list or not all(type(p) is list and len(p) == 2 and type(p[0]) is str
                                                  for p in pairs):
                raise WireError("bad dict")
            return {k[:MAX_STR]: decode_value(v, blobs, depth=depth + 1, place=place) for k, v in pairs}
        if "__special__" in node:
            return _SPECIALS.get(node["__special__"], None)
        raise WireError("unknown object in a value")
    raise WireError(f"unexpected JSON type {type(node).__name__}")


_SPECIALS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class Unsendable(Exception):
    """A value that has no wire form (an arbitrary object, a too-long list, ...)."""


def encode_value(value, blobs: list[bytes], *, depth: int = 0, budget: list[int] | None = None):
    """Python values and tensors -> JSON tree. Exact builtin types only: subclasses are read as their base."""
    budget = budget if budget is not None else [200_000]
    budget[0] -= 1
    if budget[0] < 0:
        raise Unsendable("the result holds too many items")
    if depth > MAX_DEPTH:
        raise Unsendable("the result is nested too deeply")
    if value is None or type(value) is bool:
        return value
    if isinstance(value, torch.Tensor):
        return encode_tensor(value, blobs)
    if isinstance(value, bool):
        return bool.__bool__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        f = float.__float__(value)
        if math.isfinite(f):
            return f
        return {"__special__": "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")}
    if isinstance(value, str):
        return str.__str__(value)[:MAX_STR]
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return encode_value(value.item(), blobs, depth=depth + 1, budget=budget)
    if type(value) is list:
        return [encode_value(v, blobs, depth=depth + 1, budget=budget) for v in list.__iter__(value)]
    if type(value) is tuple:
        return {"__tuple__": [encode_value(v, blobs, depth=depth + 1, budget=budget) for v in tuple.__iter__(value)]}
    if type(value) is dict:
        pairs = []
        for k, v in dict.items(value):
            if type(k) is not str:
                raise Unsendable("a returned dict has a non-string key")
            pairs.append([k, encode_value(v, blobs, depth=depth + 1, budget=budget)])
        return {"__dict__": pairs}
    raise Unsendable(f"an object of type {type(value).__name__!s:.60} cannot be sent back")
