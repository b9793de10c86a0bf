"""The walls around a jail process: namespaces, a private filesystem view, no network, dropped privileges,
resource limits and a scrubbed environment.

Linux with root (or unprivileged user namespaces) gets real isolation through unshare(2) and mount(2)
called via ctypes (Python 3.11 has no os.unshare). Elsewhere the jail degrades to rlimits + timeouts +
process-group kill, and `Walls.isolation` says so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38

JAIL_UID_BASE = 200_000     # each jail runs as its own unprivileged uid (RLIMIT_NPROC counts per uid)
SCRATCH = "/workspace"      # the jail's working directory: a small tmpfs

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one jail. Every default is defined here, once."""
    memory_bytes: int = 3 << 30       # RLIMIT_DATA: heap + private writable mappings
    cpu_seconds: int = 600            # RLIMIT_CPU for the whole jail life
    processes: int = 32               # RLIMIT_NPROC for the jail's own uid (threads count)
    file_bytes: int = 32 << 20        # RLIMIT_FSIZE
    open_files: int = 256             # RLIMIT_NOFILE
    scratch_bytes: int = 64 << 20     # size of the tmpfs scratch and /tmp


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(src: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def namespaces_refused() -> str:
    """'' when this process can give its jails namespaces, else the isolation level it falls back to."""
    if os.environ.get("AUTOGRADER_ISOLATION") == "rlimits":
        return "rlimits-only (asked for with AUTOGRADER_ISOLATION=rlimits)"
    if not sys.platform.startswith("linux"):
        return "rlimits-only (not Linux: no namespaces)"
    if os.geteuid() != 0:
        return "rlimits-only (namespaces need root here)"
    return ""


class PidNamespaces:
    """Makes the caller's next child PID 1 of a new PID namespace, one child at a time.

    unshare(CLONE_NEWPID) moves only the caller's future children, and only once: so the caller (the
    session server) unshares, forks the jail's init, and setns()es back to its own namespace, ready for the
    next jail. One fork per jail instead of two (no middle process): ~6 ms less CPU per jail. Where
    namespaces are refused (see `namespaces_refused`), every `arm` says why and children get none."""

    def __init__(self):
        self.refused = namespaces_refused()
        self.home = -1 if self.refused else os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def arm(self) -> str:
        """'' when the next child gets a new PID namespace (then `disarm` after the fork), else why not."""
        if self.refused:
            return self.refused
        try:
            unshare(CLONE_NEWPID)
        except OSError as exc:
            return f"rlimits-only (unshare refused: {exc.strerror})"
        return ""

    def disarm(self) -> None:
        """In the parent, after the fork: children go back to this process's own PID namespace."""
        _check(_libc.setns(self.home, CLONE_NEWPID), "setns")


def enter_namespaces() -> str:
    """In the jail's init (PID 1 of its new PID namespace): its own mount, network, IPC and UTS namespaces.
    Returns the isolation level reached."""
    try:
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    except OSError as exc:
        return f"rlimits-only (unshare refused: {exc.strerror})"
    return "namespaces"


def _bind(src: str, root: str, *, writable: bool = False) -> None:
    if not os.path.exists(src):
        return
    dst = root + src
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    if not writable:
        mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC)


def runtime_paths() -> list[str]:
    """What the jail's filesystem shows, read-only: the system and Python's installation."""
    paths = [p for p in ("/usr", "/lib", "/lib64", "/bin", "/sbin") if not os.path.islink(p)]
    paths += ["/etc", sys.base_prefix, sys.prefix]
    paths += [e for e in sys.path if e and "site-packages" in e and os.path.isdir(e)]
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def build_root(*, hidden: list[Path], files: dict[str, bytes], limits: Limits) -> None:
    """In the jail's PID-1 process: a fresh tmpfs root with read-only system binds, /proc, minimal /dev,
    a writable scratch with the assignment's public files; then chroot into it."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    base = "/mnt" if os.path.isdir("/mnt") else "/tmp"
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    root = base + "/root"
    os.makedirs(root)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    for sub in ("proc", "dev", "tmp", SCRATCH.strip("/")):
        os.makedirs(f"{root}/{sub}", exist_ok=True)
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID, "size=1m,mode=755")
    gpus = tuple(n for n in os.listdir("/dev") if n.startswith("nvidia"))
    for node in ("null", "zero", "random", "urandom") + gpus:
        _bind(f"/dev/{node}", root, writable=True)
    if gpus:  # the CUDA driver reads PCI topology from /sys (read-only here); untested without a GPU
        _bind("/sys", root)
    os.makedirs(f"{root}/dev/shm", exist_ok=True)
    scratch_opts = f"size={limits.scratch_bytes},mode=1777"
    for sub in ("dev/shm", "tmp", SCRATCH.strip("/")):
        mount("tmpfs", f"{root}/{sub}", "tmpfs", MS_NOSUID | MS_NODEV, scratch_opts)
    hidden_real = [os.path.realpath(h) for h in hidden]
    binds = [p for p in runtime_paths() if p not in hidden_real]
    for path in binds:
        _bind(path, root)
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):  # merged-/usr systems: keep the symlinks
        if os.path.islink(link) and not os.path.lexists(root + link):
            os.symlink(os.readlink(link), root + link)
    for h in hidden_real:  # hidden folders that a bind brought in (the kit installed in site-packages, ...)
        if os.path.isdir(root + h) and any(_inside(h, p) for p in binds):
            mount("tmpfs", root + h, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=555")
    for name, data in files.items():
        Path(f"{root}{SCRATCH}/{os.path.basename(name)}").write_bytes(data)
    os.chroot(root)
    os.chdir(SCRATCH)


def drop_privileges(uid: int) -> None:
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid` (a jail's own uid), when this process is root: a child drops to that
    uid and calls kill(-1), which reaches exactly the processes it may signal, i.e. that uid's. Where there
    is no PID namespace to die with its init, this catches what a jail started in sessions of its own."""
    if os.geteuid() != 0 or uid < JAIL_UID_BASE:
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def apply_rlimits(limits: Limits) -> None:
    def cap(which, value):
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
    cap(resource.RLIMIT_DATA, limits.memory_bytes)
    cap(resource.RLIMIT_CPU, limits.cpu_seconds)
    cap(resource.RLIMIT_NPROC, limits.processes)
    cap(resource.RLIMIT_FSIZE, limits.file_bytes)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_CORE, 0)


def scrub_environment() -> None:
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": SCRATCH, "MPLBACKEND": "Agg",
                       "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": "/tmp"})


def quiet_stdio() -> None:
    """fds 0-2 to /dev/null: output written below Python's streams (os.write, subprocesses) goes nowhere."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
