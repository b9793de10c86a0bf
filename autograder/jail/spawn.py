"""Starting and killing jails.

A `Zygote` is a process forked from a parent that has imported torch but run no torch op (forking after
thread pools start is unsafe). It forks one jail per request, so a jail costs a fork (milliseconds) instead
of a fresh `import torch` (about 2 s). Each jail is:

    zygote -> middle (setsid, unshare: new mount/pid/net/ipc/uts namespaces)
                -> init (PID 1 of its namespace: builds the private root, drops to its own uid,
                         sets rlimits, scrubs the environment, runs the notebook, serves requests)

Killing `init` (by its host pid) kills every process the student started inside the namespace.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.jail import walls
from autograder.jail.runtime import serve_submission


@dataclass
class JailSpec:
    """What one jail runs: the notebook cells (index, source), public files for its scratch folder."""
    cells: list[tuple[int, str]]
    files: dict[str, str] = field(default_factory=dict)      # name -> text (public assignment files)
    hidden: list[str] = field(default_factory=list)         # folders that must not be visible
    cell_timeout: float = 30.0
    limits: walls.Limits = field(default_factory=walls.Limits)


@dataclass
class JailHandle:
    sock: socket.socket
    init_pid: int
    middle_pid: int
    isolation: str

    def kill(self) -> None:
        for pid in (self.init_pid, self.middle_pid):
            if pid > 0:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.init_pid > 0 and not self.isolation.startswith("namespaces"):
            try:  # without a pid namespace, the process group is the best handle we have
                os.killpg(self.init_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.sock.close()
        except OSError:
            pass


def _jail_main(sock: socket.socket, spec: JailSpec, isolation: str, uid: int) -> None:
    """In the jail's init process. Never returns."""
    code = 0
    try:
        if isolation == "namespaces":
            walls.build_root(hidden=[Path(h) for h in spec.hidden],
                             files={k: v.encode() for k, v in spec.files.items()}, limits=spec.limits)
        else:
            import tempfile
            scratch = tempfile.mkdtemp(prefix="jail-")
            for name, text in spec.files.items():
                Path(scratch, os.path.basename(name)).write_text(text)
            os.chdir(scratch)
        walls.drop_privileges(uid)
        walls.apply_rlimits(spec.limits)
        walls.scrub_environment()
        walls.quiet_stdio()
        import torch
        torch.set_num_threads(1)
        serve_submission(sock, spec.cells, cell_timeout=spec.cell_timeout)
    except BaseException:  # noqa: BLE001 - report what we can, then exit
        code = 70
        try:
            from autograder import wire
            wire.send(sock, {"event": "jail_error", "message": traceback.format_exc()[-2000:]})
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code)


def _close_other_fds(keep: set[int]) -> None:
    for fd in range(3, 1024):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def fork_jail(spec: JailSpec, *, uid: int) -> JailHandle:
    """Fork middle+init directly from the calling process (which must have run no torch op)."""
    parent_sock, child_sock = socket.socketpair()
    report_r, report_w = os.pipe()
    middle = os.fork()
    if middle == 0:  # middle
        try:
            parent_sock.close()
            os.close(report_r)
            os.setsid()
            isolation = walls.try_namespaces()
            init = os.fork()
            if init == 0:
                os.close(report_w)
                _close_other_fds({child_sock.fileno()})
                _jail_main(child_sock, spec, isolation, uid)
            os.write(report_w, json.dumps({"init": init, "isolation": isolation}).encode())
            os.close(report_w)
            child_sock.close()
            _, status = os.waitpid(init, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        except BaseException:  # noqa: BLE001
            os._exit(71)
    child_sock.close()
    os.close(report_w)
    with os.fdopen(report_r, "rb") as r:
        raw = r.read()
    info = json.loads(raw or b'{"init": -1, "isolation": "failed"}')
    return JailHandle(sock=parent_sock, init_pid=info["init"], middle_pid=middle, isolation=info["isolation"])


class Zygote:
    """A process that forks jails on request, so that its parent may go on to run torch ops."""

    def __init__(self):
        self.ctl, child = socket.socketpair()
        self.pid = os.fork()
        if self.pid == 0:
            self.ctl.close()
            self._serve(child)
        child.close()
        self.count = 0

    @staticmethod
    def _serve(ctl: socket.socket) -> None:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # middles are reaped automatically
        from autograder import wire
        try:
            while True:
                header, _ = wire.recv(ctl)
                spec = JailSpec(cells=[tuple(c) for c in header["cells"]], files=header["files"],
                                hidden=header["hidden"], cell_timeout=header["cell_timeout"],
                                limits=walls.Limits(**header["limits"]))
                handle = fork_jail(spec, uid=header["uid"])
                wire.send(ctl, {"init": handle.init_pid, "middle": handle.middle_pid,
                                "isolation": handle.isolation})
                socket.send_fds(ctl, [b"x"], [handle.sock.fileno()])
                handle.sock.close()
        except BaseException:  # noqa: BLE001 - the judge hung up
            pass
        os._exit(0)

    def spawn(self, spec: JailSpec) -> JailHandle:
        from autograder import wire
        self.count += 1
        uid = walls.JAIL_UID_BASE + (os.getpid() * 64 + self.count) % 100_000
        wire.send(self.ctl, {"cells": [list(c) for c in spec.cells], "files": spec.files, "hidden": spec.hidden,
                             "cell_timeout": spec.cell_timeout, "limits": asdict(spec.limits), "uid": uid})
        info, _ = wire.recv(self.ctl)
        _, fds, _, _ = socket.recv_fds(self.ctl, 1, 1)
        sock = socket.socket(fileno=fds[0])
        return JailHandle(sock=sock, init_pid=info["init"], middle_pid=info["middle"],
                          isolation=info["isolation"])

    def close(self) -> None:
        try:
            self.ctl.close()
        finally:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


__all__ = ["JailSpec", "JailHandle", "Zygote", "fork_jail", "sys"]
