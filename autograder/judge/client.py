"""The judge's handle on a jail: start it, ask it questions, survive whatever it does.

Every read from the jail has a deadline. When the jail overruns one, dies, or breaks the protocol, it is
killed (its whole PID namespace with it) and the next request starts a fresh jail that re-runs the notebook,
skipping cells that hung before. See docs/engine-api.md for the calls a check makes.
"""
from __future__ import annotations

import select
import time
from dataclasses import dataclass, field

from autograder import wire
from autograder.jail.spawn import JailHandle, JailSpec, ZygoteSession
from autograder.judge.feedback import StudentError
from autograder.judge.specs import encode_arg

DEFAULT_CALL_TIMEOUT = 10.0
GRACE = 3.0            # seconds past the jail's own soft limit before the judge kills it
START_GRACE = 30.0     # a fresh jail's first word may be slow on a loaded machine (mounts, first imports)
MAX_RESTARTS = 40      # a safety net; per-function failures are remembered below, so one function that hangs
CRASHES_PER_NAME = 2   # or kills the jail costs its own checks only, and costs them quickly


@dataclass
class CallResult:
    value: object = None
    args: list = field(default_factory=list)
    grads: list = field(default_factory=list)
    grad_error: str = ""
    trace: list = field(default_factory=list)
    stdout: str = ""
    obj_info: dict = field(default_factory=dict)
    obj_state: dict = field(default_factory=dict)
    obj_grads: dict = field(default_factory=dict)


class _Dead(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


class JailClient:
    def __init__(self, zygote: ZygoteSession, spec: JailSpec, *, startup_budget: float = 120.0):
        self.zygote, self.spec = zygote, spec
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

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Run the notebook in a fresh jail. A cell that hangs or kills the jail is skipped from then on and
        the notebook re-run without it, so that one bad cell costs only itself."""
        deadline = time.monotonic() + self.startup_budget
        records: dict[int, dict] = {}
        while True:
            cells = [c for c in self.spec.cells if c[0] not in self.skip]
            spec = JailSpec(cells=cells, files=self.spec.files, hidden=self.spec.hidden,
                            cell_timeout=self.spec.cell_timeout, limits=self.spec.limits)
            self.handle = self.zygote.spawn(spec)
            self.isolation = self.handle.isolation
            current = None
            first = True
            try:
                while True:
                    limit = self.spec.cell_timeout + GRACE + (START_GRACE if first else 0)
                    first = False
                    budget = min(limit, deadline - time.monotonic())
                    header, _ = self._recv(max(budget, 0.01))
                    event = header.get("event")
                    if event == "cell_start":
                        current = header.get("index")
                    elif event == "cell_done":
                        record = header.get("record", {})
                        records[record.get("index")] = record
                        current = None
                    elif event == "ready":
                        self._defined = {str(k)[:200]: str(v)[:20] for k, v in header.get("defined", {}).items()}
                        break
                    else:
                        raise _Dead("crash", str(header.get("message", "the jail failed to start"))[-500:])
            except _Dead as dead:
                self.kill()
                self.last_death = dead.message
                if current is None or time.monotonic() >= deadline:
                    self._set_cells(records)
                    return
                self.skip.add(current)
                what = ("ran past its time limit" if dead.kind == "timeout"
                        else "ended the process running the notebook (os._exit, a crash or the memory limit)")
                records[current] = {"index": current, "status": "timeout" if dead.kind == "timeout" else "crashed",
                                    "error": f"this cell {what}; it was skipped and the notebook re-run without it",
                                    "output": ""}
                continue
            self._set_cells(records)
            return

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
                wire.send(self.handle.sock, {"op": "stop"})
            except OSError:
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

    def _recv(self, timeout: float):
        sock = self.handle.sock
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            raise _Dead("timeout", "no answer within the time limit")
        sock.settimeout(max(timeout, 1.0))
        try:
            return wire.recv(sock)
        except wire.Closed:
            raise _Dead("crash", "the process running the notebook exited") from None
        except (wire.WireError, OSError, ValueError) as exc:
            raise _Dead("protocol", f"unreadable answer ({exc})") from None
        finally:
            sock.settimeout(None)

    # ------------------------------------------------------------------ questions
    def defined(self) -> dict[str, str]:
        if self.handle is None and not self._defined:
            self._ensure()
        return dict(self._defined)

    def call(self, name: str, *args, device: str = "cpu", backward: bool = False, grad_output=None,
             trace: bool = False, seed: int | None = None, timeout: float = DEFAULT_CALL_TIMEOUT,
             patch: dict | None = None, **kwargs) -> CallResult:
        return self._request({"name": name}, name, args, kwargs, device=device, backward=backward,
                             grad_output=grad_output, trace=trace, seed=seed, timeout=timeout, patch=patch)

    def call_method(self, obj, method: str | None, *args, device: str = "cpu", backward: bool = False,
                    grad_output=None, trace: bool = False, seed: int | None = None,
                    timeout: float = DEFAULT_CALL_TIMEOUT, patch: dict | None = None, **kwargs) -> CallResult:
        label = f"{getattr(obj, 'name', 'module')}.{method}" if method else getattr(obj, "name", "module")
        return self._request({"target": obj, "method": method}, label, args, kwargs, device=device,
                             backward=backward, grad_output=grad_output, trace=trace, seed=seed,
                             timeout=timeout, patch=patch)

    def _request(self, what: dict, label: str, args, kwargs, *, device, backward, grad_output, trace, seed,
                 timeout, patch) -> CallResult:
        if label in self.broken:  # it hung (or kept killing the jail) before: the same answer, at once
            raise self.broken[label]
        self._ensure()
        blobs: list[bytes] = []
        header = {"op": "call", "device": device, "backward": backward, "trace": trace, "seed": seed,
                  "timeout": timeout, "patch": patch or {},
                  "args": [encode_arg(a, blobs, device) for a in args],
                  "kwargs": {"__dict__": [[k, encode_arg(v, blobs, device)] for k, v in kwargs.items()]}}
        if "name" in what:
            header["name"] = what["name"]
        else:
            header["target"] = encode_arg(what["target"], blobs, device)
            header["method"] = what["method"]
        if grad_output is not None:
            header["grad_output"] = encode_arg(grad_output, blobs, device)
        try:
            wire.send(self.handle.sock, header, blobs)
            reply, rblobs = self._recv(timeout + GRACE)
        except (_Dead, OSError) as exc:
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
        if not reply.get("ok"):
            err = reply.get("error", {})
            if err.get("kind") == "timeout":  # the soft limit fired; the jail is still usable
                self.broken[label] = StudentError("timeout", str(err.get("message", ""))[:500], name=label)
                raise self.broken[label]
            raise StudentError(str(err.get("kind", "exception"))[:40], str(err.get("message", ""))[:2000],
                               name=label, exc_type=str(err.get("type", ""))[:100],
                               detail=str(err.get("traceback", ""))[:4000])
        return self._decode(reply, rblobs, label)

    def _decode(self, reply: dict, blobs, label) -> CallResult:
        try:
            d = lambda node: wire.decode_value(node, blobs)  # noqa: E731
            return CallResult(
                value=d(reply.get("value")),
                args=[d(a) for a in reply.get("args", [])],
                grads=[d(g) for g in reply.get("grads", [])],
                grad_error=str(reply.get("grad_error", ""))[:500],
                trace=[str(t)[:200] for t in reply.get("trace", [])][:5000],
                stdout=str(reply.get("stdout", ""))[:10_000],
                obj_info=_plain_info(reply.get("obj_info", {})),
                obj_state=d(reply.get("obj_state")) or {},
                obj_grads=d(reply.get("obj_grads")) or {},
            )
        except (wire.WireError, TypeError, ValueError, AttributeError) as exc:
            self.kill()
            raise StudentError("bad_output", f"the answer could not be read ({exc})", name=label) from None


def _plain_info(info) -> dict:
    if type(info) is not dict:
        return {}
    out = {}
    for name, meta in list(info.items())[:1000]:
        if type(name) is str and type(meta) is dict:
            out[name[:200]] = {"shape": [int(s) for s in meta.get("shape", []) if type(s) is int],
                               "dtype": str(meta.get("dtype", ""))[:40], "device": str(meta.get("device", ""))[:40],
                               "parameter": meta.get("parameter") is True}
    return out


__all__ = ["JailClient", "CallResult"]
