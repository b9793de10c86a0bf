"""Starting and killing jails.

A `Zygote` is a fresh Python process that has imported torch and the jail's runtime (never the checks or the
solutions) and runs no torch op; it forks one jail per request, so a jail costs a fork (milliseconds) instead
of a fresh `import torch` (about 2 s). Each jail is:

    zygote -> session server (one per judge; unshares a PID namespace for its next child, forks, setns back)
        -> init (PID 1 of its new PID namespace: setsid, its own mount/net/ipc/uts namespaces, builds the
                 private root, drops to its own uid, sets rlimits, scrubs the environment, runs the
                 notebook, serves requests)

Killing `init` (by its host pid) kills every process the student started inside the namespace. The session
server reaps its jails (and removes the fallback's scratch folders) before each new jail and when it ends.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
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
    isolation: str

    def kill(self) -> None:
        # Killing PID 1 of the namespace kills every process in it; its parent (the session server) reaps it.
        if self.init_pid > 0:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not self.isolation.startswith("namespaces"):
                try:  # without a pid namespace, its process group (init is a session leader) is the best handle
                    os.killpg(self.init_pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.sock.close()
        except OSError:
            pass


def _jail_main(sock: socket.socket, spec: JailSpec, isolation: str, uid: int, scratch: str) -> None:
    """In the jail's init process. Never returns."""
    code = 0
    try:
        if isolation == "namespaces":
            walls.build_root(hidden=[Path(h) for h in spec.hidden],
                             files={k: v.encode() for k, v in spec.files.items()}, limits=spec.limits)
        else:  # no private filesystem: a scratch folder of its own (removed by the session afterwards)
            for name, text in spec.files.items():
                Path(scratch, os.path.basename(name)).write_text(text)
            if os.geteuid() == 0:
                os.chown(scratch, uid, uid)
            os.chdir(scratch)
        walls.drop_privileges(uid)
        die_with_parent()  # again: changing credentials may clear it
        walls.apply_rlimits(spec.limits)
        walls.scrub_environment()
        walls.quiet_stdio()
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, os.getcwd())  # as in Jupyter: files next to the notebook are importable
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


def fork_jail(spec: JailSpec, *, uid: int, pid_ns: walls.PidNamespaces) -> tuple[JailHandle, str]:
    """Fork a jail's init from the calling process (which must have run no torch op): PID 1 of a new PID
    namespace unless `pid_ns` refuses. Returns its handle and its scratch folder ('' with namespaces: its
    scratch is a tmpfs that dies with it), which the caller removes once it is reaped."""
    parent_sock, child_sock = socket.socketpair()
    report_r, report_w = os.pipe()
    refused = pid_ns.arm()
    try:
        pid = os.fork()
    except BaseException:
        if not refused:
            pid_ns.disarm()
        raise
    if pid == 0:  # the jail's init
        try:
            parent_sock.close()
            os.close(report_r)
            die_with_parent()
            os.setsid()
            isolation = refused or walls.enter_namespaces()
            scratch = "" if isolation == "namespaces" else tempfile.mkdtemp(prefix="autograder-jail-")
            os.write(report_w, json.dumps({"isolation": isolation, "scratch": scratch}).encode())
            os.close(report_w)
            _close_other_fds({child_sock.fileno()})
            _jail_main(child_sock, spec, isolation, uid, scratch)
        finally:
            os._exit(71)
    if not refused:
        pid_ns.disarm()
    child_sock.close()
    os.close(report_w)
    with os.fdopen(report_r, "rb") as r:
        raw = r.read()
    info = json.loads(raw or b'{"isolation": "failed", "scratch": ""}')
    return JailHandle(sock=parent_sock, init_pid=pid, isolation=info["isolation"]), info["scratch"]


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (so no jail outlives the judge that asked for it)."""
    walls._libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def freeze_heap() -> None:
    """Before forking many children: move every object alive now out of the garbage collector's reach. A
    collection in a child would otherwise write to the header of every object it inherited, copying the
    parent's whole heap page by page (copy-on-write). (No collection first: on this heap it takes 0.16 s, for
    a little garbage that then stays.)"""
    gc.freeze()


SECRET_MODULES = ("solutions", "autograder.checks", "autograder.judge")


def holds_secrets() -> bool:
    """Whether this process has imported anything a jail must not hold (checks, solutions, the judge)."""
    return any(m == p or m.startswith(p + ".") for m in sys.modules for p in SECRET_MODULES)


class Zygote:
    """The jail factory: a process with torch and the jail's runtime imported, never the checks or the
    solutions, that runs no torch op and forks jails on request. Each judge opens its own `session()`: a
    private channel served by a per-session fork of the zygote, so a judge killed mid-request never leaves
    the shared channel half-read.

    `fork=True` forks it from the calling process (which must hold no secrets and have run no torch op): it
    starts with what that process imported (torch) and imports the rest of the jail's needs itself, while
    its parent goes on with its own; otherwise it is a fresh `python -m autograder.jail.zygote`."""

    def __init__(self, *, fork: bool = False):
        self.ctl, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = None
        if fork:
            if holds_secrets():
                raise RuntimeError("refusing to fork a zygote from a process holding checks or solutions")
            self.pid = os.fork()
            if self.pid == 0:
                self.ctl.close()
                die_with_parent()
                _close_other_fds({child.fileno()})  # nothing of the parent's (pipes, sockets) stays open here
                from autograder.runner_warm import warm_jail
                warm_jail()
                self._accept(child)
        else:
            import subprocess
            self.proc = subprocess.Popen([sys.executable, "-m", "autograder.jail.zygote", str(child.fileno())],
                                         pass_fds=[child.fileno()], stdin=subprocess.DEVNULL)
            self.pid = self.proc.pid
        child.close()

    @staticmethod
    def _accept(ctl: socket.socket) -> None:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
        freeze_heap()
        try:
            while True:
                msg, fds, _, _ = socket.recv_fds(ctl, 16, 1)
                if not msg:
                    break
                if not fds:
                    continue
                if os.fork() == 0:
                    ctl.close()
                    die_with_parent()
                    _serve_session(socket.socket(fileno=fds[0]))
                os.close(fds[0])
        except BaseException:  # noqa: BLE001 - the owner hung up
            pass
        os._exit(0)

    def session(self) -> "ZygoteSession":
        mine, theirs = socket.socketpair()
        socket.send_fds(self.ctl, [b"s"], [theirs.fileno()])
        theirs.close()
        return ZygoteSession(mine)

    def close(self) -> None:
        try:
            self.ctl.close()
        finally:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def zygote_main(fd: int) -> None:
    """The zygote process: warm up (imports only), then fork a session server per judge that asks."""
    ctl = socket.socket(fileno=fd)
    die_with_parent()
    from autograder.runner_warm import warm_jail
    warm_jail()
    Zygote._accept(ctl)


def _serve_session(chan: socket.socket) -> None:
    from autograder import wire
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # this server reaps its own jails (see _reap)
    pid_ns = walls.PidNamespaces()
    jails: dict[int, tuple[str, int]] = {}   # init pid -> (scratch folder, '' with namespaces; its uid)
    try:
        while True:
            header, _ = wire.recv(chan)
            _reap(jails)
            spec = JailSpec(cells=[tuple(c) for c in header["cells"]], files=header["files"],
                            hidden=header["hidden"], cell_timeout=header["cell_timeout"],
                            limits=walls.Limits(**header["limits"]))
            handle, scratch = fork_jail(spec, uid=header["uid"], pid_ns=pid_ns)
            jails[handle.init_pid] = (scratch, header["uid"])
            wire.send(chan, {"init": handle.init_pid, "isolation": handle.isolation})
            socket.send_fds(chan, [b"x"], [handle.sock.fileno()])
            handle.sock.close()
    except BaseException:  # noqa: BLE001 - the judge hung up
        pass
    for pid in jails:  # they would die with this process anyway (PDEATHSIG); kill them first to clean up
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(jails, block=True)
    os._exit(0)


def _reap(jails: dict[int, tuple[str, int]], *, block: bool = False) -> None:
    """Collect the jails that have ended (killed by their judge, or done) and clean up after them. A jail's pid
    stays reserved until then, so a judge's late kill can never hit another process. Without a PID namespace
    (the fallback) a jail's detached processes outlive it: as root, every process of its own uid is killed,
    and its scratch folder is removed."""
    for pid in list(jails):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            scratch, uid = jails.pop(pid)
            if scratch:
                walls.kill_uid(uid)
                shutil.rmtree(scratch, ignore_errors=True)


class ZygoteSession:
    """One judge's private line to the zygote."""

    def __init__(self, chan: socket.socket):
        self.chan = chan
        self.count = 0
        self.spawned: list[int] = []   # init pids
        self.on_spawn = None  # callback(init_pid), e.g. to tell a supervisor

    def spawn(self, spec: JailSpec) -> JailHandle:
        from autograder import wire
        self.count += 1
        uid = walls.JAIL_UID_BASE + (os.getpid() * 64 + self.count % 64) % 100_000
        wire.send(self.chan, {"cells": [list(c) for c in spec.cells], "files": spec.files, "hidden": spec.hidden,
                              "cell_timeout": spec.cell_timeout, "limits": asdict(spec.limits), "uid": uid})
        info, _ = wire.recv(self.chan)
        _, fds, _, _ = socket.recv_fds(self.chan, 1, 1)
        handle = JailHandle(sock=socket.socket(fileno=fds[0]), init_pid=info["init"], isolation=info["isolation"])
        self.spawned.append(handle.init_pid)
        if self.on_spawn:
            self.on_spawn(handle.init_pid)
        return handle

    def kill_spawned(self) -> None:
        """SIGKILL every jail spawned so far (each init is PID 1 of its namespace: all in it die). Safe to
        repeat: the session server reaps a jail only when this session next asks it for one."""
        for init in self.spawned:
            try:
                os.kill(init, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.spawned.clear()

    def close(self) -> None:
        self.kill_spawned()
        self.chan.close()


__all__ = ["JailSpec", "JailHandle", "Zygote", "ZygoteSession", "fork_jail"]
