"""The judge process: a fork of the judges' template that grades one submission after another, and dies alone.

The judge runs the checks and talks to the jails; it never runs student code, but it does handle what jails
send back, so it lives in its own process: whatever goes wrong there costs one submission, never the worker.
Judges are forked by the grader's template (`serve_template`): a fork of the zygote taken right after its
`import torch`, which then imported the bundle's checks. Judges and jails thus share one copy of torch's memory
(and torch is imported once per run, not twice), and no judge holds anything of the grader's (its environment,
the roster, earlier results). Forking a fresh judge per submission would cost ~40 ms
each (copying the template's page tables, then copy-on-write faults as the judge warms up again), so one is kept
for as long as it behaves and replaced after a timeout (it is killed, with its jails) or a crash. Its jails come
from one zygote session, which its worker opens and hands over with the judge's pipes.

Worker -> judge: a job (pickled by the worker: trusted). Judge -> worker: JSON lines, its pid first, a note for
every jail it starts (so the worker can kill them if the judge overruns) and then the result.
"""
from __future__ import annotations

import errno
import json
import os
import pickle
import select
import signal
import socket
import struct
import time
import traceback

from autograder.results import CRASHED, INTERNAL_ERROR, TIMEOUT

START_GRACE = 60.0   # seconds for a new judge to say it is there


class TemplateError(RuntimeError):
    """The judges' template could not import the bundle's checks (`collection`: the checks' own fault)."""

    def __init__(self, message: str, *, collection: bool):
        super().__init__(message)
        self.collection = collection


class JudgeTemplate:
    """A grader's line to its judges' template (see `serve_template`), and what the template read of the checks.
    A template that has died (the machine's memory, or the kit's fault) is started again when next needed."""

    def __init__(self, zygote, config: dict):
        self.zygote, self.config = zygote, config   # config["key"]: the bundle's key the grader started with
        self._open(restart=False)

    def _open(self, *, restart: bool) -> None:
        chan = self.zygote.template()
        chan.send(json.dumps(dict(self.config, restart=restart)).encode())
        raw = chan.recv(1 << 20)
        reply = json.loads(raw) if raw else {"error": "the judges' template ended before it had read the checks",
                                             "collection": False}
        if "error" in reply:
            chan.close()
            raise TemplateError(reply["error"], collection=reply.get("collection", False))
        self.chan, self.pid, self.exercise_max = chan, reply["pid"], reply["exercise_max"]

    def fork_judge(self, fds: list[int]) -> None:
        """Have a judge forked with `fds` (its job pipe, its output pipe, its zygote session)."""
        try:
            socket.send_fds(self.chan, [b"judge"], fds)
        except OSError:   # the template is gone: a new one (the checks are read again)
            self.chan.close()
            self._open(restart=True)
            socket.send_fds(self.chan, [b"judge"], fds)


def serve_template(chan: socket.socket) -> None:
    """In the template (a fork of the zygote after its `import torch`): read the bundle's checks as the grader
    asks (`{"root", "name", "hidden", "key", "restart"}`), say what they are worth, then fork a judge for each
    worker that sends its pipes and its zygote session. Ends when the grader hangs up. A template started again
    mid-run refuses checks that are not those the run began with (`key`)."""
    from autograder.grader import CheckCollectionError, JudgeState
    try:
        config = json.loads(chan.recv(1 << 20))
        state = JudgeState.from_config(config)
        if config["restart"] and state.bundle.key() != config["key"]:
            raise TemplateError("the bundle's checks or references changed while it was being graded: "
                                "run `grade` again", collection=False)
        reply = {"exercise_max": state.exercise_max, "pid": os.getpid()}
    except CheckCollectionError as exc:
        reply = {"error": str(exc), "collection": True}
    except TemplateError as exc:
        reply = {"error": str(exc), "collection": False}
    except BaseException:  # noqa: BLE001 - the kit's fault, or the course's: the instructor reads it
        reply = {"error": traceback.format_exc()[-20000:], "collection": False}
    chan.send(json.dumps(reply).encode())
    if "error" in reply:
        return
    from autograder.jail.spawn import freeze_heap
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # its judges are reaped automatically
    freeze_heap()
    while True:
        msg, fds, _, _ = socket.recv_fds(chan, 16, 3)
        if not msg:
            return
        if len(fds) == 3 and os.fork() == 0:
            try:
                chan.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _judge_main(*fds, serve=state.judge_one)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)


def _judge_main(job_fd: int, out_fd: int, session_fd: int, *, serve) -> None:
    """In the judge: jobs in, JSON lines out, until its worker closes the pipe."""
    from autograder.jail.spawn import ZygoteSession, _close_other_fds, die_with_parent
    os.setsid()
    die_with_parent()
    _close_other_fds({job_fd, out_fd, session_fd})
    jobs, out = os.fdopen(job_fd, "rb"), os.fdopen(out_fd, "wb")
    session = ZygoteSession(socket.socket(fileno=session_fd))

    def send(obj) -> None:
        out.write(json.dumps(obj).encode() + b"\n")
        out.flush()
    send({"note": {"pid": os.getpid()}})
    session.on_spawn = lambda init: send({"note": {"jail": [init]}})
    while True:
        head = jobs.read(8)
        if len(head) < 8:
            return
        job = pickle.loads(jobs.read(struct.unpack("<Q", head)[0]))
        try:
            result = serve(session, *job)
        except BaseException:  # noqa: BLE001
            result = {"__error__": INTERNAL_ERROR, "message": traceback.format_exc()[-3000:]}
        finally:
            session.kill_spawned()
        send({"result": result})


class JudgeProcess:
    """A worker's judge, forked for it by the judges' template."""

    def __init__(self, *, zygote, template: JudgeTemplate, isolation: str):
        self.zygote, self.template, self.isolation = zygote, template, isolation
        self.pid, self.pidfd, self.job_w, self.out_r = 0, -1, -1, -1
        self.buf, self.scanned = bytearray(), 0   # the judge's output not yet read as lines
        self.problem = ""   # why the last judge could not be started, when it is known
        self.owner = os.getpid()

    def _start(self) -> bool:
        """Ask the template for a judge; True once it has said it is there (else `problem` may say why)."""
        self.problem = ""
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        self.pid, self.job_w, self.out_r = 0, job_w, out_r
        self.buf, self.scanned = bytearray(), 0
        session = None
        try:
            session = self.zygote.session(isolation=self.isolation)
            self.template.fork_judge([job_r, out_w, session.chan.fileno()])
        except (OSError, TemplateError) as exc:
            self.problem = f": {exc}"
            return False
        finally:
            for fd in (job_r, out_w):
                os.close(fd)
            if session is not None:
                session.chan.close()
        deadline = time.monotonic() + START_GRACE
        while (line := self._line()) is None:
            ready, _, _ = select.select([self.out_r], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(self.out_r, 1 << 16) if ready else b""
            if not chunk:
                return False
            self.buf += chunk
        pid = json.loads(line).get("note", {}).get("pid", 0)
        if not (isinstance(pid, int) and pid > 0):
            return False
        try:   # held from now on: the template reaps its judges, so a bare pid could soon name another process
            self.pidfd = os.pidfd_open(pid)
        except OSError as exc:
            if exc.errno != errno.ENOSYS:   # it is gone already
                return False
            self.pidfd = -1                 # a kernel before 5.3: the bare pid, as good as it gets there
        self.pid = pid
        return True

    def stop(self) -> None:
        """Kill the judge and close its pipes. In a process that inherited this handle through a fork, the judge
        is the parent's: it is never killed, but this process's copies of its pipes and pidfd are closed (the
        parent's judge would otherwise not see its job pipe end while this process lives)."""
        if self.pid and self.owner == os.getpid():
            _kill_judge(self.pid, self.pidfd)
        for fd in (self.job_w, self.out_r, self.pidfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.job_w = self.out_r = self.pidfd = -1
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
        if self.owner != os.getpid():   # inherited through a fork: let go of the parent's judge, start our own
            self.stop()
            self.owner = os.getpid()
        data = pickle.dumps(job)
        if not (self.pid and self._send_job(data)):
            started = self._start()
            if not (started and self._send_job(data)):
                self.stop()
                return {"__error__": INTERNAL_ERROR,
                        "message": "the judge process could not be started" + self.problem}
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


def _kill_judge(pid: int, pidfd: int) -> None:
    """SIGKILL a judge and what it started (its process group), and wait (a little) until it is gone. Through
    its pidfd: the judge is the template's child, reaped there, so its bare pid may be another process's by now."""
    if pidfd < 0:
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
        return
    if select.select([pidfd], [], [], 0)[0]:   # it has ended already: its pid and group are no longer its own
        return
    try:   # alive: the group named by its pid is its own
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    select.select([pidfd], [], [], 1.0)


def _kill_jails(pids: list) -> None:
    for pid in pids:  # PID 1 of each jail's namespace: everything in it dies
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
