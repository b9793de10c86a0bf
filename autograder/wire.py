"""The wire between judge and jail: JSON plus raw tensor bytes, validated and size-capped on receipt.

A frame is `MAGIC | u32 header length | header JSON | blobs`. The header's `"blobs"` lists the byte length of
each blob; tensors in the JSON tree are `{"__tensor__": i, "dtype", "shape", "device"}` pointing at blob i.
Nothing is ever unpickled: decoding builds tensors with `torch.frombuffer` from validated dtype and shape.

The judge believes nothing the jail says about sizes: whatever the jail's own runtime would cap, a student can
forge (the jail's socket is theirs to write). So every limit is enforced here, on receipt:
- a deadline for the whole frame (`recv(sock, deadline=)`: each read gets only the time left, so a sender
  that drips a byte at a time cannot stretch a call);
- the header: at most `MAX_HEADER` bytes, `MAX_CONTAINERS` lists/objects (counted before parsing, so that
  4 MiB of `[]` cannot build a million lists), `MAX_TREE_DEPTH` levels, `MAX_ITEMS` values;
- blobs: at most `MAX_BLOB_COUNT`, `MAX_BLOBS` bytes in all, each backing at most one tensor
  (`Blobs.take`): one 256 MiB blob named N times never becomes N tensors;
- tensors: a known dtype, at most `MAX_NDIM` dimensions, a byte count equal to the shape's, a device that
  exists (a `bool` tensor is rebuilt from its bytes as `!= 0`, so no byte but 0 and 1 ever lands in one);
- from a jail (`untrusted=True`) every string and dict key is made safe once, here (`safetext.clean`:
  no lone surrogate, no control character or terminal escape, no bidi override, at most `MAX_STR`).
"""
from __future__ import annotations

import json
import math
import re
import select
import socket
import struct
import time

import torch

from autograder.safetext import clean

MAGIC = b"AGW1"
MAX_HEADER = 4 << 20          # JSON header: 4 MiB
MAX_BLOBS = 256 << 20         # all tensor bytes in one frame: 256 MiB (an MNIST batch is ~25 MiB)
MAX_BLOB_COUNT = 4096
MAX_DEPTH = 24                # nesting of a value (a tuple in a list in ...)
MAX_TREE_DEPTH = 2 * MAX_DEPTH + 8   # nesting of a header's JSON (a tuple is two levels: {"__tuple__": [...]})
MAX_CONTAINERS = 100_000      # lists + objects in one header from a jail (json.loads builds ~100 B each)
MAX_ITEMS = 400_000           # values of any kind in one header from a jail
MAX_STR = 20_000
MAX_KEY = 200                 # characters of a dict key from a jail
MAX_NDIM = 8

DTYPES = {
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
    "float64": torch.float64, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_ITEMSIZE = {name: torch.empty((), dtype=dt).element_size() for name, dt in DTYPES.items()}
_DEVICE_RE = re.compile(r"^(cpu|meta|cuda(:[0-9]{1,2})?|mps)$")


class WireError(Exception):
    """A frame that breaks the protocol: too big, malformed, or of an unknown kind."""


class Closed(WireError):
    """The other side closed the connection (for the jail: it exited or was killed)."""


class Timeout(WireError):
    """The frame did not arrive in full before its deadline."""


class Blobs(list):
    """The blobs of one received frame (each a fresh `bytearray`). In a frame from a jail (`once`), each blob
    may back one tensor only, and is then used without a copy."""

    def __init__(self, items=(), *, once: bool = False):
        super().__init__(items)
        self.once = once
        self.used: set[int] = set()

    def take(self, index: int):
        if self.once:
            if index in self.used:
                raise WireError(f"blob {index} is used twice in one frame")
            self.used.add(index)
        return self[index]


# ---------------------------------------------------------------- framing
def send(sock: socket.socket, header: dict, blobs: list[bytes] = (), *, deadline: float | None = None) -> None:
    """Send one frame; with `deadline` (a `time.monotonic()` value), raise `Timeout` once it passes (a peer
    that stops reading cannot block the sender for ever)."""
    header = dict(header, blobs=[len(b) for b in blobs])
    data = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    if len(data) > MAX_HEADER:
        raise WireError(f"header of {len(data)} bytes exceeds {MAX_HEADER}")
    if sum(len(b) for b in blobs) > MAX_BLOBS:
        raise WireError("tensor data exceeds the frame limit")
    with _Deadline(sock, deadline) as clock:
        for chunk in (MAGIC + struct.pack("<I", len(data)) + data, *blobs):
            clock.arm()
            try:
                sock.sendall(chunk)
            except socket.timeout:
                raise Timeout("the frame could not be sent before its deadline") from None


class _Deadline:
    """Gives each socket operation only the time left until `deadline`; restores the socket's timeout.

    Receiving, the socket is non-blocking for the frame and waits (poll) only when no byte is there yet, with
    the time left: one poll per wait, not one per read (a timeout socket polls before every read)."""

    def __init__(self, sock: socket.socket, deadline: float | None, *, receiving: bool = False):
        self.sock, self.deadline, self.receiving = sock, deadline, receiving
        self.poller = None

    def __enter__(self):
        if self.deadline is not None:
            self.saved = self.sock.gettimeout()
            if self.receiving:
                self.sock.setblocking(False)
                self.poller = select.poll()
                self.poller.register(self.sock, select.POLLIN)
        return self

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout("the frame's deadline passed")
        return left

    def arm(self) -> None:
        """Before a blocking send: the time left as the socket's timeout."""
        if self.deadline is not None:
            self.sock.settimeout(self.left())

    def wait(self) -> None:
        """Receiving, when no byte is there: wait for one, at most the time left (Timeout once it has passed)."""
        if self.poller is None:   # no deadline: a blocking socket does not get here
            raise Timeout("no deadline to wait for")
        self.poller.poll(max(1, int(self.left() * 1000 + 0.999)))

    def __exit__(self, *exc):
        if self.deadline is not None:
            try:
                self.sock.settimeout(self.saved)
            except OSError:
                pass
        return False


def _recv_exact(sock: socket.socket, n: int, clock: _Deadline) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        try:
            k = sock.recv_into(view[got:], n - got)
        except BlockingIOError:   # only with a deadline (the socket is non-blocking then)
            try:
                clock.wait()
            except Timeout:
                raise Timeout(f"the frame was not complete before its deadline ({got} of {n} bytes)") from None
            continue
        if k == 0:
            raise Closed("connection closed")
        got += k
    return buf


def recv(sock: socket.socket, *, deadline: float | None = None, untrusted: bool = False) -> tuple[dict, Blobs]:
    """One frame: (header, blobs). `deadline` (a `time.monotonic()` value) bounds the whole frame (`Timeout`);
    `untrusted` (a frame from a jail) counts the header's values before and after parsing and makes every
    string safe (see the module docstring)."""
    with _Deadline(sock, deadline, receiving=True) as clock:
        head = _recv_exact(sock, 8, clock)
        if head[:4] != MAGIC:
            raise WireError("bad frame magic")
        (size,) = struct.unpack("<I", head[4:])
        if size > MAX_HEADER:
            raise WireError(f"header of {size} bytes exceeds {MAX_HEADER}")
        raw = _recv_exact(sock, size, clock)
        if untrusted and raw.count(b"[") + raw.count(b"{") > MAX_CONTAINERS:
            raise WireError(f"header holds more than {MAX_CONTAINERS} lists and objects")
        try:
            header = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise WireError(f"header is not JSON: {str(exc)[:200]}") from None
        if not isinstance(header, dict):
            raise WireError("header is not an object")
        if untrusted and not _plain_header(raw):
            header = _safe_tree(header, 0, [MAX_ITEMS])
        sizes = header.get("blobs", [])
        if (not isinstance(sizes, list) or len(sizes) > MAX_BLOB_COUNT
                or not all(type(s) is int and s >= 0 for s in sizes) or sum(sizes) > MAX_BLOBS):
            raise WireError("bad blob table")
        return header, Blobs((_recv_exact(sock, s, clock) for s in sizes), once=untrusted)


_SCALARS = frozenset((int, float, bool, type(None)))
_PLAIN_BYTES = bytes(b for b in range(0x20, 0x7f) if b != 0x5c)   # printable ASCII but the backslash


def _plain_header(raw: bytearray) -> bool:
    """A header that needs no walk: short (no string can pass MAX_STR), shallow (fewer lists and objects than
    MAX_TREE_DEPTH) and printable ASCII without one escape (so no string holds anything `clean` would change).
    Most replies are (a tensor's metadata, no output); checking costs ~2 ns a byte, the walk ~1 us a value.
    (Keys of up to MAX_STR characters get through; what the judge reads by name is capped where it is read.)"""
    return (len(raw) <= MAX_STR and raw.count(b"[") + raw.count(b"{") <= MAX_TREE_DEPTH
            and not raw.translate(None, _PLAIN_BYTES))


def _safe_tree(node, depth: int, budget: list[int]):
    """A parsed header from a jail, checked (depth, number of values) and with every string made safe. Values
    are counted where their container is (a list of a million numbers is one `len`, not a million calls)."""
    kind = type(node)
    if kind is str:
        return clean(node, MAX_STR)
    if kind is not list and kind is not dict:
        return node  # None, bool, int, float: json.loads builds nothing else
    if depth >= MAX_TREE_DEPTH:
        raise WireError("header nested too deeply")
    budget[0] -= len(node)
    if budget[0] < 0:
        raise WireError(f"header holds more than {MAX_ITEMS} values")
    if kind is list:
        if set(map(type, node)) <= _SCALARS:
            return node
        return [_safe_tree(v, depth + 1, budget) for v in node]
    return {clean(k, MAX_KEY): _safe_tree(v, depth + 1, budget) for k, v in node.items()}


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
    """Rebuild a tensor from validated metadata; `place` moves it to its device when that device exists here.
    From a `Blobs` of a jail's frame, each blob backs one tensor (no copy); from a plain list, a copy."""
    name = node.get("dtype")
    dtype = DTYPES.get(name) if type(name) is str else None
    shape = node.get("shape")
    device = node.get("device", "cpu")
    if dtype is None:
        raise WireError(f"unknown dtype {str(name)[:40]!r}")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(type(s) is int and 0 <= s < 2**31 for s in shape)):
        raise WireError("bad tensor shape")
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise WireError("bad device")
    nbytes = math.prod(shape) * _ITEMSIZE[name]
    idx = node.get("__tensor__")
    if device == "meta" or idx == -1:
        if nbytes > MAX_BLOBS:  # no memory now, but whatever later materialises it would pay
            raise WireError("a meta tensor larger than the frame limit")
        return torch.empty(shape, dtype=dtype, device="meta")
    if type(idx) is not int or not 0 <= idx < len(blobs):
        raise WireError("bad blob index")
    raw = blobs.take(idx) if isinstance(blobs, Blobs) else blobs[idx]
    if len(raw) != nbytes:
        raise WireError("tensor byte count does not match its shape")
    owned = isinstance(blobs, Blobs) and blobs.once and type(raw) is bytearray
    buf = raw if owned else bytearray(raw)
    try:
        if not buf:
            t = torch.empty(0, dtype=dtype)
        elif dtype is torch.bool:  # any byte but 0 and 1 in a bool tensor is undefined behaviour: normalise
            t = torch.frombuffer(buf, dtype=torch.uint8).ne(0)
        else:
            t = torch.frombuffer(buf, dtype=dtype)
        t = t.reshape(shape)
        if place and device != "cpu" and _device_available(device):
            t = t.to(device)
    except (RuntimeError, ValueError) as exc:
        raise WireError(f"tensor could not be built: {str(exc)[:200]}") from None
    return t


def _device_available(device: str) -> bool:
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return False
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise WireError(f"no device {device} here")
        return True
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
        if set(map(type, node)) <= _SCALARS:   # a list of numbers: no call per item
            return node[:]
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
            special = node["__special__"]
            if type(special) is not str or special not in _SPECIALS:
                raise WireError("unknown special value")
            return _SPECIALS[special]
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
