"""Starting and killing jails.

A `Zygote` is a fresh Python process that has imported torch and the jail's runtime (never the checks or the
solutions) and runs no torch op; it forks one jail per request, so a jail costs a fork (milliseconds) instead
of a fresh `import torch` (about 2 s). Each jail is:

    zygote -> session server (one per judge; unshares a PID namespace for its next child, makes the jail's
              memory cgroup, forks, setns back)
        -> init (PID 1 of its new PID namespace: joins its cgroup, setsid, its own mount/net/ipc/uts/cgroup
                 namespaces, builds the private root, drops to its own uid, seals the keyrings, sets
                 rlimits, scrubs the environment, runs the notebook, serves requests)

Killing `init` (by its host pid) kills every process the student started inside the namespace. The session
server reaps its jails before each new jail and when it ends: it removes their cgroups (and the fallback's
scratch folders; where key syscalls could not be refused, it clears the uid's keyrings).
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
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.jail import walls


@dataclass
class JailSpec:
    """What one jail runs: the notebook cells (index, source), public files for its scratch folder."""
    cells: list[tuple[int, str]]
    files: dict[str, str] = field(default_factory=dict)      # name -> text (public assignment files)
    hidden: list[str] = field(default_factory=list)         # folders that must not be visible
    cell_timeout: float = 30.0
    limits: walls.Limits = field(default_factory=walls.Limits)
    watch_names: list[str] = field(default_factory=list)    # graded names whose bindings the jail reports
    compiled: dict[str, bytes] = field(default_factory=dict)  # __pycache__ name -> .pyc (see _bytecode)


@dataclass
class JailHandle:
    sock: socket.socket
    init_pid: int
    isolation: str
    cgroup: walls.JailCgroup | None = None   # on the session server's side: removed when the jail is reaped

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


def _jail_main(sock: socket.socket, spec: JailSpec, isolation: str, uid: int, scratch: str,
               report: int = -1) -> None:
    """In the jail's init process. Never returns. `report`: the pipe its server reads until it is closed,
    here, once the walls stand and just before the notebook runs (see fork_jail)."""
    code = 0
    try:
        if isolation == "namespaces":
            walls.build_root(hidden=[Path(h) for h in spec.hidden],
                             files={k: v.encode() for k, v in spec.files.items()}, limits=spec.limits,
                             compiled=spec.compiled)
        else:  # no private filesystem: a scratch folder of its own (removed by the session afterwards)
            for name, text in spec.files.items():
                Path(scratch, os.path.basename(name)).write_text(text)
            walls.write_compiled(scratch, spec.compiled)
            if os.geteuid() == 0:
                os.chown(scratch, uid, uid)
            os.chdir(scratch)
        walls.drop_privileges(uid)
        walls.seal_keyrings()  # before any student code: a fresh session keyring, no key syscalls
        die_with_parent()  # again: changing credentials may clear it
        walls.apply_rlimits(spec.limits)
        walls.scrub_environment()
        walls.quiet_stdio()
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, os.getcwd())  # as in Jupyter: files next to the notebook are importable
        if report >= 0:
            os.close(report)
        from autograder.jail.runtime import serve_submission   # imported by the zygote's warm-up already
        serve_submission(sock)
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


def fork_jail(spec: JailSpec, *, uid: int, pid_ns: walls.PidNamespaces,
              cgroups: walls.JailCgroups | None = None) -> tuple[JailHandle, str]:
    """Fork a jail's init from the calling process (which must have run no torch op): PID 1 of a new PID
    namespace unless `pid_ns` refuses, in a memory cgroup of its own from `cgroups` (the caller removes it,
    `cgroups.remove(handle.cgroup)`, once the jail is reaped). Returns its handle and its scratch folder (''
    with namespaces: its scratch is a tmpfs that dies with it), which the caller removes once it is reaped.
    Where the jail gets no memory cgroup, its isolation string says so.

    It returns once the jail's walls stand (its init closes the report pipe just before the notebook runs):
    the jail could run nothing sooner anyway, and its server's next cgroup migration (`JailCgroups.prepare`,
    right after) then never stalls a jail that is still building its walls."""
    cg, inside = cgroups.for_fork(spec.limits) if cgroups is not None else (None, False)
    parent_sock, child_sock = socket.socketpair()
    report_r, report_w = os.pipe()
    refused = pid_ns.arm()
    try:
        pid = os.fork()
    except BaseException:
        if not refused:
            pid_ns.disarm()
        if cg is not None:
            cgroups.unused(cg, inside=inside)
        raise
    if pid == 0:  # the jail's init
        try:
            # Born in its cgroup (the server moved itself in beforehand: see JailCgroups.prepare), or it joins
            # now, before anything else, so that every page and kernel object from here on is the jail's.
            if cgroups is not None:
                cgroups.in_child()
            joined = "" if cg is None or inside else cg.join()
            parent_sock.close()
            os.close(report_r)
            die_with_parent()
            os.setsid()
            isolation = refused or walls.enter_namespaces()
            scratch = "" if isolation == "namespaces" else tempfile.mkdtemp(prefix="autograder-jail-")
            os.write(report_w, json.dumps({"isolation": isolation, "scratch": scratch, "cgroup": joined}).encode())
            _close_other_fds({child_sock.fileno(), report_w})
            _jail_main(child_sock, spec, isolation, uid, scratch, report_w)   # closes report_w when walled
        finally:
            os._exit(71)
    if not refused:
        pid_ns.disarm()
    if cg is not None:
        cg.close_fds()
    child_sock.close()
    os.close(report_w)
    with os.fdopen(report_r, "rb") as r:
        raw = r.read()
    info = json.loads(raw or b'{"isolation": "failed", "scratch": ""}')
    problem = (info.get("cgroup", "") if cg is not None
               else cgroups.refused if cgroups is not None else "no cgroup was asked for")
    return (JailHandle(sock=parent_sock, init_pid=pid, isolation=_isolation(info["isolation"], problem), cgroup=cg),
            info["scratch"])


def _isolation(level: str, cgroup_problem: str) -> str:
    """The isolation string: the level reached ("namespaces" when every wall holds), and what is missing."""
    if not cgroup_problem:
        return level
    note = f"no jail-wide memory limit: {cgroup_problem}; memory is bounded per process only (RLIMIT_DATA)"
    return f"{level} ({note})" if level == "namespaces" else f"{level}; {note}"


PR_SET_PDEATHSIG = 1
SEND_GRACE = 60.0   # seconds for a fresh jail to take its notebook (it reads it once its walls stand)


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (so no jail outlives the judge that asked for it)."""
    walls._libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def freeze_heap() -> None:
    """Before forking many children: move every object alive now out of the garbage collector's reach. A
    collection in a child would otherwise write to the header of every object it inherited, copying the
    parent's whole heap page by page (copy-on-write). (No collection first: on this heap it takes 0.16 s, for
    a little garbage that then stays.)"""
    gc.freeze()


class Zygote:
    """The jail factory: a fresh `python -m autograder.jail.zygote`, started with a clean environment before the
    grader has read anything of a class, holding torch and the jail's runtime only (never the checks, the
    references, a roster or a result), that runs no torch op and forks jails on request. Each judge opens its
    own `session()`: a private channel served by a per-session fork of the zygote, so a judge killed
    mid-request never leaves the shared channel half-read. It warms up (imports) while its starter does."""

    def __init__(self):
        import subprocess
        self.ctl, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.jail.zygote", str(child.fileno())],
                                     pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, env=clean_environment(),
                                     cwd="/", close_fds=True)
        self.pid = self.proc.pid
        child.close()

    @staticmethod
    def _accept(ctl: socket.socket) -> None:
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
        freeze_heap()
        try:
            while True:
                msg, fds, _, _ = socket.recv_fds(ctl, 64, 1)
                if not msg:
                    break
                if not fds:
                    continue
                if msg == TEMPLATE:
                    _fork_template(ctl, fds[0])
                    continue
                if os.fork() == 0:
                    ctl.close()
                    die_with_parent()
                    _serve_session(socket.socket(fileno=fds[0]), isolation=msg.decode(errors="replace"))
                os.close(fds[0])
        except BaseException:  # noqa: BLE001 - the owner hung up
            pass
        os._exit(0)

    def session(self, *, isolation: str = "namespaces") -> "ZygoteSession":
        """A private line to a new session server. `isolation`: "namespaces" (where the machine allows) or
        "rlimits" (the fallback, asked for explicitly)."""
        mine, theirs = socket.socketpair()
        socket.send_fds(self.ctl, [isolation.encode()], [theirs.fileno()])
        theirs.close()
        return ZygoteSession(mine)

    def template(self) -> socket.socket:
        """A line to a new judges' template (see `autograder.judge.process.serve_template`): a fork of this zygote
        taken right after its `import torch`, before the rest of its warm-up, so that judges (forked from the
        template once it has imported a bundle's checks) and jails share one copy of torch's memory, while the
        zygote itself never holds a check."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        socket.send_fds(self.ctl, [TEMPLATE], [theirs.fileno()])
        theirs.close()
        return mine

    def close(self) -> None:
        try:
            self.ctl.close()
        finally:
            try:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
            except (ProcessLookupError, ChildProcessError):
                pass


# What the zygote's environment keeps of its starter's: where Python finds the kit, which GPUs it may use, and
# where matplotlib keeps its font cache (without it every zygote would rebuild the cache: ~1 s). Nothing else
# (tokens, the instructor's shell) ever reaches a jail's ancestors, not even their stacks.
KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "PYTHONDONTWRITEBYTECODE", "HOME",
                    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR")


def clean_environment() -> dict[str, str]:
    env = {k: os.environ[k] for k in KEPT_ENVIRONMENT if k in os.environ}
    kit_parent = str(Path(__file__).resolve().parents[2])      # the folder holding the `autograder` package
    env.update(PYTHONPATH=kit_parent, PYTHONNOUSERSITE="1", MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1",
               PYTORCH_NVML_BASED_CUDA_CHECK="1")
    return env


TEMPLATE = b"\0template"   # a control message asking for a judges' template (any other: a session's isolation)


def zygote_main(fd: int) -> None:
    """The zygote process: import torch, fork the judges' templates already asked for, warm up the rest
    (imports only), then fork a session server per judge that asks (and a template per grader that asks)."""
    ctl = socket.socket(fileno=fd)
    die_with_parent()
    from autograder.warm import warm_jail, warm_torch
    warm_torch()
    ctl.setblocking(False)
    try:   # the templates asked for so far (a grader asks first thing); anything else waits for the warm-up
        while ctl.recv(len(TEMPLATE), socket.MSG_PEEK) == TEMPLATE:
            _, fds, _, _ = socket.recv_fds(ctl, 64, 1)
            if fds:
                _fork_template(ctl, fds[0])
    except BlockingIOError:
        pass
    ctl.setblocking(True)
    warm_jail()
    Zygote._accept(ctl)


def _fork_template(ctl: socket.socket, fd: int) -> None:
    if os.fork() == 0:
        try:
            ctl.close()
            die_with_parent()
            from autograder.judge.process import serve_template   # only in the template: the zygote never has it
            serve_template(socket.socket(fileno=fd))
        finally:
            os._exit(0)
    os.close(fd)


def _serve_session(chan: socket.socket, *, isolation: str) -> None:
    """One judge's session server: forks a jail for each request (the walls' parameters only: it never sees
    a notebook's cells, which go straight to the jail) and reaps them. Each jail is born in a memory cgroup
    of its own, which this server prepares (and moves into) while the jail before it runs."""
    from autograder import wire
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # this server reaps its own jails (see _reap)
    pid_ns = walls.PidNamespaces(isolation=isolation)
    cgroups = walls.JailCgroups()
    sealed = walls.key_filter_supported()   # jails' key syscalls are refused: no keys of theirs to clear
    jails: dict[int, tuple] = {}   # init pid -> (scratch folder, '' with namespaces; its uid; its cgroup)
    compiled: dict[tuple[str, str], tuple[str, bytes] | None] = {}
    try:
        while True:
            header, _ = wire.recv(chan)
            _reap(jails, cgroups=cgroups, sealed=sealed)
            spec = JailSpec(cells=[], files=header["files"], hidden=header["hidden"],
                            limits=walls.Limits(**header["limits"]), compiled=_bytecode(header["files"], compiled))
            handle, scratch = fork_jail(spec, uid=header["uid"], pid_ns=pid_ns, cgroups=cgroups)
            jails[handle.init_pid] = (scratch, header["uid"], handle.cgroup)
            wire.send(chan, {"init": handle.init_pid, "isolation": handle.isolation})
            socket.send_fds(chan, [b"x"], [handle.sock.fileno()])
            handle.sock.close()
            cgroups.prepare(spec.limits)   # the next jail's cgroup, while this one runs (see JailCgroups)
    except BaseException:  # noqa: BLE001 - the judge hung up
        pass
    cgroups.leave()
    for pid in jails:  # they would die with this process anyway (PDEATHSIG); kill them first to clean up
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(jails, block=True, cgroups=cgroups, sealed=sealed)
    cgroups.unused(None)
    os._exit(0)


def _bytecode(files: dict[str, str], cache: dict) -> dict[str, bytes]:
    """The public .py files compiled once per session, as the `.pyc` files Python would write for them next to
    the notebook (`__pycache__/NAME.cpython-3XY.pyc`, checked against the source's hash when imported): each
    jail's `import` of a helper then reads its bytecode instead of compiling it again (3–4 ms per jail). The
    session server only compiles the instructor's public files (no code runs); a file that does not compile
    gets no .pyc, so the jail's import reports its error as Python would."""
    import importlib.util
    import marshal
    out = {}
    for name, text in files.items():
        base = os.path.basename(name)
        if not base.endswith(".py"):
            continue
        key = (base, text)
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            source = text.encode()
            try:
                code = compile(source, f"{walls.SCRATCH}/{base}", "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                cache[key] = None
            else:   # PEP 552: magic, flags (hash-based, checked), the source's hash, the marshalled code
                cache[key] = (os.path.basename(importlib.util.cache_from_source(base)),
                              importlib.util.MAGIC_NUMBER + (3).to_bytes(4, "little")
                              + importlib.util.source_hash(source) + marshal.dumps(code))
        if cache[key] is not None:
            pyc, data = cache[key]
            out[pyc] = data
    return out


def _reap(jails: dict[int, tuple], *, block: bool = False, cgroups: walls.JailCgroups | None = None,
          sealed: bool = True) -> None:
    """Collect the jails that have ended (killed by their judge, or done) and clean up after them. A jail's pid
    stays reserved until then, so a judge's late kill can never hit another process. Its cgroup is removed
    (with a PID namespace it is empty once its init is reaped). Without a PID namespace (the fallback) a
    jail's detached processes outlive it: as root, every process of its own uid and of its cgroup is killed,
    and its scratch folder is removed. Where its key syscalls were not refused (`sealed` False), the uid's
    keyrings are cleared."""
    for pid in list(jails):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            scratch, uid, *rest = jails.pop(pid)
            if scratch or not sealed:   # one child as that uid does both
                walls._as_uid(uid, kill=bool(scratch), keys=not sealed)
            if cgroups is not None:
                cgroups.remove(rest[0] if rest else None, kill=bool(scratch))
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


class ZygoteSession:
    """One judge's private line to the zygote."""

    def __init__(self, chan: socket.socket):
        self.chan = chan
        self.count = 0
        self.spawned: list[int] = []   # init pids
        self.on_spawn = None  # callback(init_pid), e.g. to tell a supervisor

    def _next_uid(self) -> int:
        """The next jail's uid: one of this judge's own (`walls.jail_uid`: no judge alive with it shares it)."""
        return walls.jail_uid(os.getpid(), self.count)

    def spawn(self, spec: JailSpec) -> JailHandle:
        from autograder import wire
        self.count += 1
        uid = self._next_uid()
        wire.send(self.chan, {"files": spec.files, "hidden": spec.hidden, "limits": asdict(spec.limits), "uid": uid})
        info, _ = wire.recv(self.chan)
        _, fds, _, _ = socket.recv_fds(self.chan, 1, 1)
        handle = JailHandle(sock=socket.socket(fileno=fds[0]), init_pid=info["init"], isolation=info["isolation"])
        # the notebook goes straight to the jail: no process jails are forked from ever holds a student's code
        try:
            wire.send(handle.sock, {"cells": [list(c) for c in spec.cells], "cell_timeout": spec.cell_timeout,
                                    "watch_names": list(spec.watch_names)}, deadline=time.monotonic() + SEND_GRACE)
        except (OSError, wire.WireError):
            handle.kill()   # it died, or stopped reading, before it took its notebook
            raise
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


__all__ = ["JailSpec", "JailHandle", "Zygote", "ZygoteSession", "fork_jail", "clean_environment"]
