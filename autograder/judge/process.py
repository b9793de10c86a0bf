"""The judge process: a fork of the grader that grades one submission after another, and dies alone.

The judge runs the checks and talks to the jails; it never runs student code, but it does handle what jails
send back, so it lives in its own process: whatever goes wrong there costs one submission, never the worker.
Forking a fresh judge per submission would cost ~40 ms each (copying the grader's page tables, then
copy-on-write faults as the judge warms up again), so one is kept for as long as it behaves and replaced after
a timeout (it is killed, with its jails) or a crash. Its jails come from one zygote session, opened once.

Parent -> judge: a job (pickled by our own parent: trusted). Judge -> parent: JSON lines, a note for every jail
it starts (so the parent can kill them if the judge overruns) and then the result.
"""
from __future__ import annotations

import json
import os
import pickle
import select
import signal
import struct
import time
import traceback

from autograder.results import CRASHED, INTERNAL_ERROR, TIMEOUT


class JudgeProcess:
    """A forked judge serving `serve(session, job) -> dict` for the process that started it."""

    def __init__(self, *, zygote, serve, isolation: str):
        self.zygote, self.serve, self.isolation = zygote, serve, isolation
        self.pid = 0
        self.owner = os.getpid()

    def _start(self) -> None:
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(job_w)
                os.close(out_r)
                os.setsid()
                from autograder.jail.spawn import _close_other_fds, die_with_parent
                die_with_parent()
                # nothing of the worker's stays open here (e.g. the gradebook writer's stdin, which must see EOF)
                _close_other_fds({job_r, out_w, self.zygote.ctl.fileno()})
                self._loop(job_r, out_w)
            finally:
                os._exit(0)
        os.close(job_r)
        os.close(out_w)
        self.pid, self.job_w, self.out_r = pid, job_w, out_r
        self.buf, self.scanned = bytearray(), 0

    def _loop(self, job_fd: int, out_fd: int) -> None:
        """In the judge: jobs in, JSON lines out, until the parent closes the pipe."""
        jobs, out = os.fdopen(job_fd, "rb"), os.fdopen(out_fd, "wb")
        session = self.zygote.session(isolation=self.isolation)

        def send(obj) -> None:
            out.write(json.dumps(obj).encode() + b"\n")
            out.flush()
        session.on_spawn = lambda init: send({"note": {"jail": [init]}})
        while True:
            head = jobs.read(8)
            if len(head) < 8:
                return
            job = pickle.loads(jobs.read(struct.unpack("<Q", head)[0]))
            try:
                result = self.serve(session, *job)
            except BaseException:  # noqa: BLE001
                result = {"__error__": INTERNAL_ERROR, "message": traceback.format_exc()[-3000:]}
            finally:
                session.kill_spawned()
            send({"result": result})

    def stop(self) -> None:
        if self.pid and self.owner == os.getpid():
            _kill_tree(self.pid)
            for fd in (self.job_w, self.out_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pid = 0

    def _send_job(self, job: bytes) -> bool:
        try:
            os.write(self.job_w, struct.pack("<Q", len(job)))
            view = memoryview(job)
            while view:
                view = view[os.write(self.job_w, view):]
            return True
        except OSError:          # it died between two submissions
            self.stop()
            return False

    def _line(self) -> bytes | None:
        """The next complete line of the buffer, or None. Scans each byte once (no quadratic re-scanning)."""
        end = self.buf.find(b"\n", self.scanned)
        if end < 0:
            self.scanned = len(self.buf)
            return None
        line = bytes(self.buf[:end])
        del self.buf[:end + 1]
        self.scanned = 0
        return line

    def grade(self, job: tuple, *, timeout: float) -> dict:
        """The judge's JSON-able result for `job`, or {"__error__": status, "message"}."""
        if self.owner != os.getpid():   # inherited through a fork: that judge belongs to the parent
            self.pid, self.owner = 0, os.getpid()
        data = pickle.dumps(job)
        if not (self.pid and self._send_job(data)):
            self._start()
            if not self._send_job(data):
                return {"__error__": INTERNAL_ERROR, "message": "the judge process could not be started"}
        jails, deadline = [], time.monotonic() + timeout
        while True:
            line = self._line()
            while line is not None:
                msg = json.loads(line)
                if "note" in msg:
                    jails += msg["note"].get("jail", [])[:1]
                else:
                    result = msg["result"]
                    if "__error__" in result or result.get("recycle"):
                        self.stop()   # a judge that failed, or ran pytest in-process, is not reused
                    return result
                line = self._line()
            ready, _, _ = select.select([self.out_r], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                self.stop()
                _kill_jails(jails)
                return {"__error__": TIMEOUT, "message": f"grading took longer than {timeout:g} s"}
            chunk = os.read(self.out_r, 1 << 20)
            if not chunk:
                self.stop()
                _kill_jails(jails)
                return {"__error__": CRASHED, "message": "the judge process ended unexpectedly"}
            self.buf += chunk


def _kill_tree(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill_jails(pids: list) -> None:
    for pid in pids:  # PID 1 of each jail's namespace: everything in it dies
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
