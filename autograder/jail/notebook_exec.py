"""Executing notebook code cells headless, as a kernel would, one cell's failure never stopping the next.

IPython syntax (magics, `!shell`) is translated by IPython's own transformer; the magics a lesson uses are
served by a small shim (`%matplotlib` is a no-op, `%time`/`%timeit` run the code once), shell commands are
not run. Each cell gets a time limit enforced with SIGALRM; the supervising judge backs it with a hard kill.
"""
from __future__ import annotations

import io
import linecache
import signal
import sys
import traceback


OUTPUT_CAP = 8_000  # characters of output kept per cell / per call


class CellTimeout(BaseException):
    """Raised into student code when its time limit passes (BaseException: `except Exception` won't catch it)."""


class CappedWriter(io.TextIOBase):
    """A text stream that keeps the first `cap` characters and counts the rest."""

    def __init__(self, cap: int = OUTPUT_CAP):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def write(self, s) -> int:
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def text(self) -> str:
        out = "".join(self.parts)
        return out + (f"\n[... {self.dropped} more characters not kept]" if self.dropped else "")


class _Shell:
    """The part of `get_ipython()` that notebook code calls after translation."""

    def __init__(self, namespace: dict):
        self.ns = namespace
        self.notes: list[str] = []

    def run_line_magic(self, name, line, _stack_depth=1):
        if name in ("time", "timeit"):
            return _exec_source(line, self.ns, "<magic>")
        if name not in ("matplotlib", "load_ext", "autoreload", "config", "reload_ext", "precision"):
            self.notes.append(f"%{name} is not run when grading")

    def run_cell_magic(self, name, line, cell):
        if name in ("time", "timeit", "capture"):
            return _exec_source(cell, self.ns, "<magic>")
        self.notes.append(f"%%{name} cell is not run when grading")

    def system(self, cmd):
        self.notes.append("shell commands (!...) are not run when grading")

    getoutput = system

    def __getattr__(self, name):  # anything else IPython-specific: a harmless no-op
        return lambda *a, **k: None


def _exec_source(source: str, ns: dict, filename: str):
    code = compile(source, filename, "exec")
    exec(code, ns)  # noqa: S102 - this is the jail: running student code is its job


def new_namespace() -> dict:
    ns = {"__name__": "__main__", "__builtins__": __builtins__, "display": lambda *a, **k: None}
    shell = _Shell(ns)
    ns["get_ipython"] = lambda: shell
    return ns


def translate(source: str) -> str:
    """IPython syntax to plain Python. The judge sends cells already translated, so a jail never imports
    IPython (nor does the zygote: ~0.1 s less before the first jail)."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


def student_traceback(exc: BaseException) -> str:
    """The traceback limited to the student's own cells (frames of files named `<cell N>`), each with its line
    of the cell (`run_cell` registers a cell's lines with linecache). The frames are read off the traceback
    directly: `traceback.extract_tb` would read the source of every torch frame too, and look for a file
    named `<cell N>` on each folder of sys.path (~3 ms in a fresh jail)."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith("<cell"):
            entry = linecache.cache.get(code.co_filename)
            lines = entry[2] if entry is not None and len(entry) == 4 else []
            line = lines[tb.tb_lineno - 1] if 0 < (tb.tb_lineno or 0) <= len(lines) else ""
            frames.append(traceback.FrameSummary(code.co_filename, tb.tb_lineno, code.co_name,
                                                 lookup_line=False, line=line.strip()))
        tb = tb.tb_next
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)[-4000:]


class time_limit:
    """SIGALRM-based soft limit: raises CellTimeout in the running Python code after `seconds`."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def _fire(self, signum, frame):
        raise CellTimeout(f"time limit of {self.seconds:g} s exceeded")

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
        return False


def run_cell(index: int, source: str, ns: dict, *, timeout: float, translated: bool = False) -> dict:
    """Run one cell; return its record: index, status (ok/error/timeout), error text, output (capped)."""
    out = CappedWriter()
    record = {"index": index, "status": "ok", "error": "", "output": ""}
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    try:
        code = source if translated else translate(source)
        name = f"<cell {index}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)   # its lines, for tracebacks
        with time_limit(timeout):
            _exec_source(code, ns, name)
    except CellTimeout as exc:
        record.update(status="timeout", error=f"this cell ran past its time limit ({exc})")
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too: the cell failed
        record.update(status="error", error=student_traceback(exc))
    finally:
        sys.stdout, sys.stderr = old
    record["output"] = out.text()
    notes = ns["get_ipython"]().notes
    if notes:
        record["notes"] = sorted(set(notes))
        notes.clear()
    return record
