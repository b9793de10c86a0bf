"""The judge's handle on a jail: start it, ask it questions, survive whatever it does.

Every read from the jail has a deadline, for the whole frame. When the jail overruns one, dies, or breaks the
protocol, it is killed (its whole PID namespace with it) and the next request starts a fresh jail that re-runs
the notebook, skipping cells that hung before. See docs/instructor-guide.md for the calls a check makes.

Nothing the jail says is believed: its runtime caps its output, but a student can write to the jail's socket
directly. So everything is checked here, on receipt, before it is stored: the frame by `wire.recv` (sizes,
counts, nesting, deadline; every string made safe), then each field by type and size (`_cell_record`,
`_reply_error`, `_decode`): at most one record per cell sent, for indexes that were sent, in order; only known
fields, each capped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from autograder import wire
from autograder.jail.spawn import JailHandle, JailSpec, ZygoteSession
from autograder.judge.feedback import StudentError
from autograder.judge.specs import encode_arg, stand_in_source

DEFAULT_CALL_TIMEOUT = 10.0
GRACE = 3.0            # seconds past the jail's own soft limit before the judge kills it
START_GRACE = 30.0     # a fresh jail's first word may be slow on a loaded machine (mounts, first imports)
MAX_RESTARTS = 40      # a safety net; per-function failures are remembered below, so one function that hangs
CRASHES_PER_NAME = 2   # or kills the jail costs its own checks only, and costs them quickly
STOP_GRACE = 1.0       # seconds to hand a jail its "stop" before it is killed anyway

# What is kept of the jail's words (its runtime keeps less; these bound what a forged frame can make us store)
CELL_OUTPUT_CAP = 8_200        # characters of one cell's output (the runtime keeps 8,000 plus a note)
CELL_ERROR_CAP = 4_100         # characters of one cell's error (the runtime keeps a 4,000-character traceback)
CELLS_TEXT_CAP = 1 << 20       # characters of output and errors kept over all of a notebook's cells
NOTES_CAP = 20                 # notes per cell ("%%bash cell is not run when grading"), 200 characters each
DEFINED_CAP = 5_000            # names reported as defined
MAX_CTOR_ARGS = 16             # a student object's constructor arguments sent back
STDOUT_CAP = 10_000
INFO_CAP = 1_000               # parameters and buffers described per module
CELL_STATUSES = ("ok", "error", "timeout")   # what a jail may say of a cell; "crashed" and "skipped" are ours
DEFINED_KINDS = ("class", "function", "module", "other")
ERROR_KINDS = ("exception", "missing", "timeout", "protocol", "bad_output")


@dataclass
class CallResult:
    value: object = None
    args: list = field(default_factory=list)
    grads: list = field(default_factory=list)
    grad_error: str = ""
    stdout: str = ""
    obj_info: dict = field(default_factory=dict)
    obj_state: dict = field(default_factory=dict)
    obj_grads: dict = field(default_factory=dict)
    obj_args: list = field(default_factory=list)   # a StudentObject target's constructor arguments, after
    autograd: dict = field(default_factory=dict)   # a returned tensor's {"requires_grad", "is_leaf"}


class _Dead(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


class JailClient:
    def __init__(self, zygote: ZygoteSession, spec: JailSpec, *, startup_budget: float = 120.0,
                 watch: dict[str, dict] | None = None):
        self.zygote, self.spec = zygote, spec
        self.watch = dict(watch or {})                 # graded name -> what the jail watches in its calls (rules)
        self.notes: dict = {}                          # what one check leaves for another of the same submission
        self._provenance: dict[str, dict] = {}
        self._evidence: dict[str, dict] = {}
        self.startup_budget = startup_budget
        self.handle: JailHandle | None = None
        self.cells: list[dict] = []
        self._defined: dict[str, str] = {}
        self.skip: set[int] = set()
        self.restarts = 0
        self.broken: dict[str, StudentError] = {}   # function -> how it hung or crashed (answered at once)
        self.crashes: dict[str, int] = {}
        self.isolation = ""
        self.last_death = ""
        self._kept = 0       # characters of cell output and errors stored so far (see _keep)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Run the notebook in a fresh jail. A cell that hangs or kills the jail is skipped from then on and
        the notebook re-run without it, so that one bad cell costs only itself."""
        deadline = time.monotonic() + self.startup_budget
        records: dict[int, dict] = {}
        while True:
            cells = [c for c in self.spec.cells if c[0] not in self.skip]
            spec = JailSpec(cells=cells, files=self.spec.files, hidden=self.spec.hidden,
                            cell_timeout=self.spec.cell_timeout, limits=self.spec.limits,
                            watch_names=self.spec.watch_names)
            try:
                self.handle = self.zygote.spawn(spec)
            except (OSError, wire.WireError) as exc:   # the jail died before it took its notebook
                self.handle, self.last_death = None, f"the notebook's process could not be started ({exc})"
                self._set_cells(records)
                return
            self.isolation = self.handle.isolation
            records = {i: r for i, r in records.items() if i in self.skip}  # the rest are reported afresh
            self._kept = 0
            current = None
            first = True
            sent = [c[0] for c in cells]    # the jail reports these cells, in this order, once each
            position = 0
            try:
                while True:
                    limit = self.spec.cell_timeout + GRACE + (START_GRACE if first else 0)
                    first = False
                    budget = min(limit, deadline - time.monotonic())
                    header, _ = self._recv(max(budget, 0.01))
                    event = header.get("event")
                    if event == "cell_start" and current is None:
                        index = header.get("index")
                        if position >= len(sent) or index != sent[position] or type(index) is not int:
                            raise _Dead("protocol",
                                        "the notebook's process broke the protocol (a cell it was not given)")
                        position += 1
                        current = index
                    elif event == "cell_done" and current is not None:
                        records[current] = self._cell_record(header.get("record"), current)
                        current = None
                    elif event == "ready" and current is None:
                        self._defined = _defined(header.get("defined"))
                        self._provenance = _provenance(header.get("provenance"), self.spec.watch_names)
                        break
                    elif event == "jail_error":
                        raise _Dead("crash", str(header.get("message", "the jail failed to start"))[-500:])
                    else:
                        raise _Dead("protocol", "the notebook's process broke the protocol")
            except _Dead as dead:
                self.kill()
                self.last_death = dead.message
                if current is None or time.monotonic() >= deadline:
                    self._set_cells(records)
                    return
                self.skip.add(current)
                what = {"timeout": "ran past its time limit",
                        "protocol": "broke the protocol between the notebook's process and the grader"}.get(
                    dead.kind, "ended the process running the notebook (os._exit, a crash or the memory limit)")
                records[current] = {"index": current, "status": "timeout" if dead.kind == "timeout" else "crashed",
                                    "error": f"this cell {what}; it was skipped and the notebook re-run without it",
                                    "output": ""}
                continue
            self._set_cells(records)
            return

    def _cell_record(self, record, index: int) -> dict:
        """A cell's record as the jail reported it, checked: known fields only, each of its type and capped,
        the notebook's total text bounded (a forged frame cannot make the reports any bigger)."""
        if type(record) is not dict or record.get("index") != index:
            raise _Dead("protocol", "the notebook's process broke the protocol (a malformed cell record)")
        status = record.get("status")
        out = {"index": index, "status": status if status in CELL_STATUSES else "error",
               "error": self._keep(record.get("error"), CELL_ERROR_CAP),
               "output": self._keep(record.get("output"), CELL_OUTPUT_CAP)}
        notes = record.get("notes")
        if type(notes) is list:
            kept = [n[:200] for n in notes[:NOTES_CAP] if type(n) is str]
            if kept:
                out["notes"] = kept
        return out

    def _keep(self, text, cap: int) -> str:
        """`text` (a string from the jail, already made safe by the wire) cut to `cap`, within what is left of
        the notebook's budget of kept text."""
        if type(text) is not str or not text:
            return ""
        left = CELLS_TEXT_CAP - self._kept
        room = max(0, min(cap, left))
        if len(text) > room:
            marker = ("\n[... cut]" if room == cap else
                      f"\n[... cut: a notebook's output and errors are kept up to {CELLS_TEXT_CAP >> 10} KiB in all]")
            text = text[:room - len(marker)] + marker if room > len(marker) else ""
        self._kept += len(text)
        return text

    def _set_cells(self, records: dict) -> None:
        self.cells = [records.get(i) or {"index": i, "status": "skipped", "error": "", "output": ""}
                      for i, _ in self.spec.cells]

    def kill(self) -> None:
        if self.handle is not None:
            self.handle.kill()
            self.handle = None

    def close(self) -> None:
        if self.handle is not None:
            try:
                wire.send(self.handle.sock, {"op": "stop"}, deadline=time.monotonic() + STOP_GRACE)
            except (OSError, wire.WireError):
                pass
            self.kill()

    def _ensure(self) -> None:
        if self.handle is None:
            if self.restarts >= MAX_RESTARTS:
                raise StudentError("crash", "the notebook's process was restarted too many times; "
                                   "later requests are not answered")
            self.restarts += 1
            self.start()
            if self.handle is None:
                raise StudentError("crash", self.last_death or "the notebook could not be run")

    def _recv(self, timeout: float, deadline: float | None = None):
        """The jail's next frame, whole within `timeout` seconds (or by `deadline`)."""
        if deadline is None:
            deadline = time.monotonic() + timeout
        try:
            return wire.recv(self.handle.sock, deadline=deadline, untrusted=True)
        except wire.Timeout:
            raise _Dead("timeout", "no answer within the time limit") from None
        except wire.Closed:
            raise _Dead("crash", "the process running the notebook exited") from None
        except (wire.WireError, OSError, ValueError) as exc:
            raise _Dead("protocol", f"unreadable answer ({str(exc)[:200]})") from None

    # ------------------------------------------------------------------ questions
    def defined(self) -> dict[str, str]:
        if self.handle is None and not self._defined:
            self._ensure()
        return dict(self._defined)

    def call(self, name: str, *args, device: str = "cpu", backward: bool = False, grad_output=None,
             seed: int | None = None, timeout: float = DEFAULT_CALL_TIMEOUT,
             known_good: dict | None = None, **kwargs) -> CallResult:
        return self._request({"name": name}, name, args, kwargs, device=device, backward=backward,
                             grad_output=grad_output, seed=seed, timeout=timeout, known_good=known_good)

    def call_method(self, obj, method: str | None, *args, device: str = "cpu", backward: bool = False,
                    grad_output=None, seed: int | None = None,
                    timeout: float = DEFAULT_CALL_TIMEOUT, known_good: dict | None = None, **kwargs) -> CallResult:
        methods = "+".join(method) if isinstance(method, list) else method
        label = f"{getattr(obj, 'name', 'module')}.{methods}" if method else getattr(obj, "name", "module")
        return self._request({"target": obj, "method": method}, label, args, kwargs, device=device,
                             backward=backward, grad_output=grad_output, seed=seed,
                             timeout=timeout, known_good=known_good)

    def _request(self, what: dict, label: str, args, kwargs, *, device, backward, grad_output, seed,
                 timeout, known_good) -> CallResult:
        if label in self.broken:  # it hung (or kept killing the jail) before: the same answer, at once
            raise self.broken[label]
        self._ensure()
        blobs: list[bytes] = []
        graded = label.split(".")[0]
        # Calls on `meta` (shapes only) are not traced: under the tracer they cost ~10x (PyTorch's Python
        # shape rules run), and the values a rule protects come from the traced CPU/GPU calls.
        header = {"op": "call", "device": device, "backward": backward, "seed": seed,
                  "watch": None if device == "meta" else self.watch.get(graded),
                  "timeout": timeout,
                  "known_good": {n: stand_in_source(fn) for n, fn in (known_good or {}).items()},
                  "args": [encode_arg(a, blobs, device) for a in args],
                  "kwargs": {"__dict__": [[k, encode_arg(v, blobs, device)] for k, v in kwargs.items()]}}
        if "name" in what:
            header["name"] = what["name"]
        else:
            header["target"] = encode_arg(what["target"], blobs, device)
            header["method"] = what["method"]
        if grad_output is not None:
            header["grad_output"] = encode_arg(grad_output, blobs, device)
        deadline = time.monotonic() + timeout + GRACE   # the request and its whole answer
        try:
            try:
                wire.send(self.handle.sock, header, blobs, deadline=deadline)
            except wire.Timeout:
                raise _Dead("timeout", "the notebook's process stopped reading its requests") from None
            reply, rblobs = self._recv(timeout + GRACE, deadline)
        except (_Dead, OSError, wire.WireError) as exc:
            self.kill()
            kind = exc.kind if isinstance(exc, _Dead) else "crash"
            message = exc.message if isinstance(exc, _Dead) else str(exc)
            if kind == "protocol":
                kind = "bad_output"
            error = StudentError(kind, message, name=label)
            self.crashes[label] = self.crashes.get(label, 0) + 1
            if kind == "timeout" or self.crashes[label] >= CRASHES_PER_NAME:
                self.broken[label] = error
            raise error from None
        if reply.get("ok") is not True:
            err = reply.get("error")
            kind, message, exc_type, detail = _reply_error(err)
            if kind == "timeout":  # the soft limit fired; the jail is still usable
                self.broken[label] = StudentError("timeout", message[:500], name=label)
                raise self.broken[label]
            if kind == "protocol":
                # The judge checked the request before sending it (specs.encode_arg), so a jail that says it cannot
                # serve it is saying what student code can forge: the student's answer, unreadable.
                raise StudentError("bad_output", f"the notebook's process refused a valid request ({message[:300]})",
                                   name=label)
            raise StudentError(kind, message, name=label, exc_type=exc_type, detail=detail,
                               raised_in="cell" if type(err) is dict and err.get("raised_in") == "cell"
                               else "library")
        result = self._decode(reply, rblobs, label, sent=len(args))
        self._note(graded, reply.get("watched"))
        return result

    # ------------------------------------------------------------------ evidence for the exercises' rules
    def provenance(self, name: str) -> dict | None:
        """What the jail says the graded `name` was when the notebook had run (see jail/evidence.py)."""
        if self.handle is None and not self._provenance:
            try:
                self._ensure()
            except StudentError:
                return None
        return self._provenance.get(name)

    def evidence(self, name: str) -> dict:
        """What the jail saw while `name` ran, over every call so far: forbidden ops, modules, tampering."""
        return dict(self._evidence.get(name, {}))

    def _note(self, name: str, watched) -> None:
        if name not in self.watch or type(watched) is not dict:
            return
        seen = self._evidence.setdefault(name, {"forbidden": [], "modules": [], "tampered": False, "calls": 0})
        seen["calls"] += 1
        for key in ("forbidden", "modules"):
            items = watched.get(key)
            if type(items) is list:
                seen[key] = sorted(set(seen[key]) | {i[:80] for i in items[:20] if type(i) is str})[:20]
        seen["tampered"] = seen["tampered"] or watched.get("tampered") is True

    def _decode(self, reply: dict, blobs, label, *, sent: int) -> CallResult:
        """A successful reply, each field checked by type and size (`sent`: the number of arguments sent)."""
        try:
            d = lambda node: wire.decode_value(node, blobs)  # noqa: E731
            args, grads = (_list(reply.get(k), cap) for k, cap in (("args", sent), ("grads", sent)))
            obj_state, obj_grads = d(reply.get("obj_state")), d(reply.get("obj_grads"))
            return CallResult(
                value=d(reply.get("value")),
                args=[d(a) for a in args],
                grads=[d(g) for g in grads],
                grad_error=_text(reply.get("grad_error"), 500),
                stdout=_text(reply.get("stdout"), STDOUT_CAP),
                obj_info=_plain_info(reply.get("obj_info", {})),
                obj_state=obj_state if type(obj_state) is dict else {},
                obj_grads=obj_grads if type(obj_grads) is dict else {},
                obj_args=[d(a) for a in _list(reply.get("obj_args"), MAX_CTOR_ARGS)],
                autograd=_autograd(reply.get("autograd")),
            )
        except (wire.WireError, TypeError, ValueError, AttributeError) as exc:
            self.kill()
            raise StudentError("bad_output", f"the answer could not be read ({str(exc)[:200]})", name=label) from None


def _autograd(info) -> dict:
    if type(info) is not dict:
        return {}
    return {k: info.get(k) is True for k in ("requires_grad", "is_leaf") if k in info}


def _text(value, cap: int) -> str:
    return value[:cap] if type(value) is str else ""


def _list(value, cap: int) -> list:
    if value is None:
        return []
    if type(value) is not list or len(value) > cap:
        raise wire.WireError("a reply field is not a list of the expected length")
    return value


def _reply_error(err) -> tuple[str, str, str, str]:
    """(kind, message, exception type, traceback) of a failed reply, each checked and capped."""
    err = err if type(err) is dict else {}
    kind = err.get("kind")
    return (kind if kind in ERROR_KINDS else "exception", _text(err.get("message"), 2000),
            _text(err.get("type"), 100), _text(err.get("traceback"), 4000))


def _provenance(info, names) -> dict[str, dict]:
    """The jail's word on each watched name's provenance, checked: known fields, plain types, capped."""
    if type(info) is not dict:
        return {}
    out = {}
    for name in names:
        entry = info.get(name)
        if type(entry) is not dict:
            continue
        cell, rebound = entry.get("cell"), entry.get("rebound")
        out[name] = {"kind": _text(entry.get("kind"), 20), "what": _text(entry.get("what"), 200),
                     "cell": cell if type(cell) is int else None,
                     "rebound": [c for c in rebound[:50] if type(c) is int] if type(rebound) is list else []}
    return out


def _defined(names) -> dict[str, str]:
    """The jail's list of the notebook's names: at most `DEFINED_CAP`, identifiers, of a known kind."""
    if type(names) is not dict:
        return {}
    out = {}
    for name, kind in names.items():
        if len(out) >= DEFINED_CAP:
            break
        if name.isidentifier() and len(name) <= 200:
            out[name] = kind if kind in DEFINED_KINDS else "other"
    return out


def _plain_info(info) -> dict:
    if type(info) is not dict:
        return {}
    out = {}
    for name, meta in list(info.items())[:INFO_CAP]:
        if type(name) is str and type(meta) is dict:
            shape = meta.get("shape")
            shape = shape if type(shape) is list and len(shape) <= wire.MAX_NDIM else []
            out[name[:200]] = {"shape": [s for s in shape if type(s) is int and 0 <= s < 2**31],
                               "dtype": _text(meta.get("dtype"), 40), "device": _text(meta.get("device"), 40),
                               "parameter": meta.get("parameter") is True}
    return out


__all__ = ["JailClient", "CallResult"]
