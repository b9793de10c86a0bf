"""The walls around a jail process: namespaces, a private filesystem view, no network, dropped privileges,
resource limits and a scrubbed environment.

Linux with root (or unprivileged user namespaces) gets real isolation through unshare(2) and mount(2)
called via ctypes (Python 3.11 has no os.unshare). Elsewhere the jail degrades to rlimits + timeouts +
process-group kill, and `Walls.isolation` says so.

Limits that hold for the jail as a whole, not per process (rlimits are per process: shared mappings and a
few children add up):
- memory: a cgroup per jail (`JailCgroups`), a child of this process's own memory cgroup, cgroup v1
  (`memory.limit_in_bytes`, and `memory.memsw.limit_in_bytes` where swap is accounted) or v2 (`memory.max`,
  `memory.swap.max`), with `pids.max` where the pids controller can be used; the jail's init joins it
  before anything else, and it is removed once the jail is reaped. Where no cgroup can be made, the jail's
  isolation string says so (`... no jail-wide memory limit: <why> ...`) and only the per-process rlimits hold;
- files: every tmpfs of the jail has an inode limit (`nr_inodes`) besides its size;
- kernel state: nothing outlives a jail for the next one with the same uid: keyrings are out of reach (a
  fresh session keyring, the key syscalls refused by a seccomp filter, /proc/keys masked; where no filter
  can be installed, the uid's keyrings are cleared before its code runs and when it is reaped); SysV IPC and
  POSIX message queues live in the jail's IPC namespace, abstract sockets in its network namespace, /dev/shm
  is one of its own tmpfs mounts; all die with it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import re
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38

JAIL_UID_BASE = 200_000     # each jail runs as its own unprivileged uid (RLIMIT_NPROC counts per uid)
UIDS_PER_JUDGE = 64         # a judge's jails cycle through 64 uids of their own
PID_SPACE = 1 << 22         # Linux's largest pid_max: judges alive together never share a uid
SCRATCH = "/workspace"      # the jail's working directory: a small tmpfs

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one jail. Every default is defined here, once."""
    memory_bytes: int = 3 << 30       # RLIMIT_DATA: heap + private writable mappings, per process
    jail_memory_bytes: int = 3 << 30  # the jail's memory cgroup: all its processes, shared memory, tmpfs files
    cpu_seconds: int = 600            # RLIMIT_CPU for the whole jail life
    processes: int = 32               # RLIMIT_NPROC for the jail's own uid (threads count)
    file_bytes: int = 32 << 20        # RLIMIT_FSIZE
    open_files: int = 256             # RLIMIT_NOFILE
    scratch_bytes: int = 64 << 20     # size of the tmpfs scratch and /tmp
    scratch_inodes: int = 4096        # files (and folders, links) in each of them: ~1 KiB of kernel memory each


def jail_uid(judge_pid: int, count: int) -> int:
    """The uid of a judge's `count`-th jail: it cycles through `UIDS_PER_JUDGE` uids of its own, which no
    other judge alive at the same time uses (pids are unique while alive, and below `PID_SPACE`)."""
    return JAIL_UID_BASE + (judge_pid % PID_SPACE) * UIDS_PER_JUDGE + count % UIDS_PER_JUDGE


def jail_uids(judge_pid: int) -> range:
    """Every uid a judge's jails can get."""
    first = jail_uid(judge_pid, 0)
    return range(first, first + UIDS_PER_JUDGE)


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


def namespaces_refused(isolation: str = "namespaces") -> str:
    """'' when this process can give its jails namespaces, else the isolation level it falls back to.
    `isolation="rlimits"` asks for the fallback (the command line's AUTOGRADER_ISOLATION=rlimits)."""
    if isolation == "rlimits":
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

    def __init__(self, *, isolation: str = "namespaces"):
        self.refused = namespaces_refused(isolation)
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
    """In the jail's init (PID 1 of its new PID namespace): its own mount, network, IPC and UTS namespaces,
    and a cgroup namespace rooted at its own cgroup (joined just before: /proc/self/cgroup shows only "/").
    Returns the isolation level reached."""
    try:
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    except OSError as exc:
        return f"rlimits-only (unshare refused: {exc.strerror})"
    try:
        unshare(CLONE_NEWCGROUP)
    except OSError:
        pass   # kernels before 4.6: the jail sees its cgroup's path, nothing more
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


MASKED_PROC = ("keys", "key-users")   # as Docker masks them


def build_root(*, hidden: list[Path], files: dict[str, bytes], limits: Limits,
               compiled: dict[str, bytes] | None = None) -> None:
    """In the jail's PID-1 process: a fresh tmpfs root with read-only system binds, /proc, minimal /dev,
    a writable scratch with the assignment's public files (and their bytecode, `compiled`); then chroot into
    it."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    base = "/mnt" if os.path.isdir("/mnt") else "/tmp"
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=16,mode=755")
    root = base + "/root"
    os.makedirs(root)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=4096,mode=755")
    for sub in ("proc", "dev", "tmp", SCRATCH.strip("/")):
        os.makedirs(f"{root}/{sub}", exist_ok=True)
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID, "size=1m,nr_inodes=256,mode=755")
    gpus = tuple(n for n in os.listdir("/dev") if n.startswith("nvidia"))
    for node in ("null", "zero", "random", "urandom") + gpus:
        _bind(f"/dev/{node}", root, writable=True)
    for masked in MASKED_PROC:  # kernel-wide lists (keys of every uid) read through the jail's own /proc
        if os.path.exists(f"{root}/proc/{masked}"):
            mount(f"{root}/dev/null", f"{root}/proc/{masked}", None, MS_BIND)
    if gpus:  # the CUDA driver reads PCI topology from /sys (read-only here); untested without a GPU
        _bind("/sys", root)
    os.makedirs(f"{root}/dev/shm", exist_ok=True)
    scratch_opts = f"size={limits.scratch_bytes},nr_inodes={limits.scratch_inodes},mode=1777"
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
            mount("tmpfs", root + h, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,nr_inodes=2,mode=555")
    for name, data in files.items():
        Path(f"{root}{SCRATCH}/{os.path.basename(name)}").write_bytes(data)
    write_compiled(f"{root}{SCRATCH}", compiled or {})
    os.chroot(root)
    os.chdir(SCRATCH)


def write_compiled(folder: str, compiled: dict[str, bytes]) -> None:
    """The public files' bytecode into `folder`/__pycache__. Like the helpers themselves it is root's: the jail
    reads it and cannot replace it (where a helper is changed anyway, its hash no longer matches and Python
    compiles the source, as it would with any stale .pyc)."""
    if compiled:
        os.makedirs(f"{folder}/__pycache__", exist_ok=True)
        for name, data in compiled.items():
            Path(f"{folder}/__pycache__/{os.path.basename(name)}").write_bytes(data)


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
    _as_uid(uid, kill=True, keys=False)


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


# ---------------------------------------------------------------- kernel keyrings
# Keys are kernel objects of a uid, not of a process: a key linked into a uid's user keyring outlives the jail
# that made it, and the next jail given that uid could read it. So a jail gets a fresh session keyring and the
# key syscalls are refused (a seccomp filter: ENOSYS, as on a kernel without keys); /proc/keys is masked.
# Where no filter can be installed, the uid's keyrings are cleared before its code runs and once it is reaped.
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR, KEYCTL_GET_PERSISTENT = 1, 7, 22
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -3, -4, -5
# arch -> (AUDIT_ARCH_*, (add_key, request_key, keyctl), seccomp, first number of a foreign ABI sharing it)
_SYSCALLS = {"x86_64": (0xC000003E, (248, 249, 250), 317, 0x40000000),
             "aarch64": (0xC00000B7, (217, 218, 219), 277, None)}
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1, 4
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
ENOSYS = 38


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def key_filter_supported() -> bool:
    """Whether `seal_keyrings` can refuse the key syscalls here (a known architecture, a kernel with seccomp)."""
    if platform.machine() not in _SYSCALLS:
        return False
    try:
        with open("/proc/self/status") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


def _key_filter_program() -> list[tuple[int, int, int, int]]:
    """cBPF: any other ABI than this machine's native one, or add_key/request_key/keyctl -> ENOSYS; else allow."""
    arch, numbers, _, foreign = _SYSCALLS[platform.machine()]
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    tests = ([(jge, foreign)] if foreign is not None else []) + [(jeq, n) for n in numbers]
    deny = 3 + len(tests) + 1              # index of the last instruction
    prog = [(ld_abs, 0, 0, 4), (jeq, 0, deny - 2, arch), (ld_abs, 0, 0, 0)]
    for op, k in tests:   # each jumps to the last instruction when it matches
        prog.append((op, deny - (len(prog) + 1), 0, k))
    prog += [(ret, 0, 0, SECCOMP_RET_ALLOW), (ret, 0, 0, SECCOMP_RET_ERRNO | ENOSYS)]
    return prog


_KEYCTL_ELSEWHERE = {"i686": 288, "armv7l": 311, "ppc64le": 271, "s390x": 280, "riscv64": 219}


def _keyctl(*args) -> int:
    machine = platform.machine()
    number = _SYSCALLS[machine][1][2] if machine in _SYSCALLS else _KEYCTL_ELSEWHERE.get(machine, -1)
    if number < 0:
        return -1
    return _libc.syscall(number, *(ctypes.c_long(a) for a in args))


def clear_keyrings(*, persistent: bool) -> None:
    """As the jail's uid: empty its user and user-session keyrings (and its persistent keyring: asking for
    it creates one, so only where keys were not refused)."""
    _keyctl(KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING)
    _keyctl(KEYCTL_CLEAR, KEY_SPEC_USER_SESSION_KEYRING)
    if persistent:
        ring = _keyctl(KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_SESSION_KEYRING)
        if ring > 0:
            _keyctl(KEYCTL_CLEAR, ring)


def seal_keyrings() -> bool:
    """In the jail, after dropping privileges (no_new_privs set), before student code: a fresh session keyring
    (no reach into the server's), then the key syscalls refused. True when the filter holds; where it cannot,
    the uid's keyrings are cleared instead (and `clear_uid_keys` clears them again once it is reaped)."""
    _keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
    if key_filter_supported() and _install_key_filter():
        return True
    clear_keyrings(persistent=True)
    return False


def _install_key_filter() -> bool:
    prog = _key_filter_program()
    filters = (_SockFilter * len(prog))(*(_SockFilter(*ins) for ins in prog))
    fprog = _SockFprog(len(prog), filters)
    seccomp = _SYSCALLS[platform.machine()][2]
    # SPEC_ALLOW: a filter would otherwise turn on the speculative-store-bypass mitigation for the jail, which
    # slows numeric code; the jail holds no secret of its own to protect from itself.
    for flags in (SECCOMP_FILTER_FLAG_SPEC_ALLOW, 0):
        if _libc.syscall(seccomp, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog)) == 0:
            return True
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def _as_uid(uid: int, *, kill: bool, keys: bool) -> None:
    """As root: a child that becomes `uid` and SIGKILLs all its processes and/or clears its keyrings."""
    if os.geteuid() != 0 or uid < JAIL_UID_BASE:
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            if kill:
                os.kill(-1, signal.SIGKILL)
            if keys:
                clear_keyrings(persistent=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def clear_uid_keys(uid: int) -> None:
    """As root: empty every keyring of `uid` (for jails whose key syscalls could not be refused)."""
    _as_uid(uid, kill=False, keys=True)


# ---------------------------------------------------------------- a memory cgroup per jail
CGROUP_PREFIX = "autograder-jail"


@dataclass
class JailCgroup:
    """One jail's cgroups (one folder per hierarchy used) and, until the jail's init is in them, the open
    `cgroup.procs` of each."""
    dirs: list[str]
    procs: list[int] = field(default_factory=list)

    def join(self) -> str:
        """In a process about to become a jail, as root: move this process in ('0': the writer). '' when
        done, else why not."""
        return self.attach(0)

    def attach(self, pid: int) -> str:
        """Move process `pid` (0: the caller) in, then close the fds: '' when done, else why not. (A cgroup
        migration is the dear part of a jail's cgroup: ~0.1-0.4 ms, more on a busy machine.)"""
        problem = ""
        for fd in self.procs:
            try:
                os.write(fd, str(pid).encode())
            except OSError as exc:
                problem = problem or f"joining its cgroup failed ({exc.strerror})"
        self.close_fds()
        return problem

    def close_fds(self) -> None:
        for fd in self.procs:
            try:
                os.close(fd)
            except OSError:
                pass
        self.procs = []


class JailCgroups:
    """Makes a cgroup per jail under this process's own cgroups: memory (v1 or v2) and pids where usable.

    `refused` is '' when jails get a memory cgroup, else why not (then only the per-process rlimits bound a
    jail's memory). Folders are named `autograder-jail-<this pid>-<n>`; the ones a dead session server left
    (killed before it could reap) are removed when the next one starts.

    Moving a process into a cgroup (a write to cgroup.procs) waits for a kernel RCU grace period: 0.2 ms on
    an idle machine, 3-6 ms per hierarchy on a busy one, and the moved process is stalled meanwhile. So the
    session server moves *itself* into the next jail's cgroup (`prepare`) while its judge talks to the current
    jail, and forks that jail from inside it: the jail is born in its cgroup, nothing is moved on the way to
    it (`for_fork`), and the server moves on to the following one. Where that could not be prepared, the
    jail's init joins its cgroup first thing (`JailCgroup.join`)."""

    def __init__(self, *, proc_cgroup: str | None = None, mountinfo: str | None = None):
        self.count = 0
        self.pending: list[str] = []   # cgroups that could not be removed yet (tasks still exiting)
        self.ahead: JailCgroup | None = None   # the next jail's cgroup, this process already in it
        self.ahead_limits: Limits | None = None
        self.inside: JailCgroup | None = None  # the cgroup this process is in, when it is a jail's
        try:
            proc_cgroup = proc_cgroup if proc_cgroup is not None else _read("/proc/self/cgroup")
            mountinfo = mountinfo if mountinfo is not None else _read("/proc/self/mountinfo")
        except OSError:
            proc_cgroup, mountinfo = "", ""
        self.places = cgroup_places(proc_cgroup, mountinfo)   # controller -> (version, parent folder)
        self.refused = "" if os.geteuid() == 0 else "cgroups need root here"
        if not sys.platform.startswith("linux"):
            self.refused = "not Linux: no cgroups"
        if not self.refused and "memory" not in self.places:
            self.refused = "no memory cgroup controller is mounted here"
        if not self.refused:
            self.refused = self._prepare()
        if not self.refused:
            self._sweep()

    @property
    def version(self) -> str:
        return f"v{self.places['memory'][0]}" if "memory" in self.places else ""

    def _prepare(self) -> str:
        version, parent = self.places["memory"]
        if not os.access(parent, os.W_OK):
            return f"this process's memory cgroup {parent} is not writable"
        if version == 2:   # v2: children get a controller only if their parent hands it down
            for ctl in [c for c, (v, p) in self.places.items() if v == 2 and p == parent]:
                if not _v2_delegates(parent, ctl):
                    if ctl == "memory":
                        return (f"cgroup v2: {parent} cannot hand the memory controller to children (it holds "
                                "processes; run the grader in a delegated cgroup whose processes sit in a leaf)")
                    del self.places[ctl]
        return ""

    def _sweep(self) -> None:
        pattern = re.compile(rf"{CGROUP_PREFIX}-(\d+)-\d+")
        for _, parent in set(self.places.values()):
            try:
                names = os.listdir(parent)
            except OSError:
                continue
            for name in names:
                m = pattern.fullmatch(name)
                if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                    try:
                        os.rmdir(os.path.join(parent, name))
                    except OSError:
                        pass

    def create(self, limits: Limits) -> JailCgroup | None:
        """A jail's cgroups with its limits set, before its fork (about 0.2 ms); None where refused."""
        if self.refused:
            return None
        self.count += 1
        name = f"{CGROUP_PREFIX}-{os.getpid()}-{self.count}"
        cg = JailCgroup(dirs=[])
        try:
            for ctl, (version, parent) in sorted(self.places.items()):
                if ctl not in ("memory", "pids"):
                    continue
                path = os.path.join(parent, name)
                if path not in cg.dirs:
                    os.mkdir(path, 0o755)
                    cg.dirs.append(path)
                for file, value in _limit_files(ctl, version, limits):
                    _write_if_present(path, file, value, required=file in ("memory.limit_in_bytes", "memory.max"))
            for path in cg.dirs:
                cg.procs.append(os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            cg.close_fds()
            self.remove(cg)
            if not cg.dirs or exc.errno in (13, 1, 30):   # EACCES, EPERM, EROFS: it will not work next time
                self.refused = f"creating a cgroup failed ({exc.strerror})"
            return None
        return cg

    @staticmethod
    def in_child() -> None:
        """In a jail's init, first thing: the OOM killer's first choice, always (oom_score_adj 1000, which its
        processes inherit). Its server spends a moment in each jail's cgroup and must never be the one killed
        there; on the whole machine too, a jail goes before anything of the grader's. (Raising it needs no
        privilege; making the server immune instead would need CAP_SYS_RESOURCE.)"""
        try:
            _write_if_present("/proc/self", "oom_score_adj", "1000", required=True)
        except OSError:
            pass

    def prepare(self, limits: Limits) -> None:
        """Make the next jail's cgroup and move this process into it (out of the cgroup of the jail it has just
        forked). Where that fails, this process goes back to its own cgroups, and the next jail joins its
        cgroup itself."""
        if self.refused or self.ahead is not None:
            return
        cg = self.create(limits)
        if cg is not None and not cg.attach(0):
            self.ahead, self.ahead_limits, self.inside = cg, limits, cg
            return
        if cg is not None:
            self.remove(cg)
        self.leave()

    def for_fork(self, limits: Limits) -> tuple[JailCgroup | None, bool]:
        """The cgroup for a jail about to be forked, and whether this process is in it already (the child is
        then born inside; else it joins with the fds kept open in it). None where refused."""
        cg = self.ahead
        if cg is not None:
            self.ahead = None
            if limits != self.ahead_limits:
                try:
                    for ctl, (version, parent) in sorted(self.places.items()):
                        path = next(d for d in cg.dirs if os.path.dirname(d) == parent)
                        for file, value in _limit_files(ctl, version, limits):
                            _write_if_present(path, file, value, required=False)
                except (OSError, StopIteration):
                    self.unused(cg, inside=True)
                    cg = None
            if cg is not None:
                return cg, True
        self.leave()
        return self.create(limits), False

    def unused(self, cg: JailCgroup | None, *, inside: bool = False) -> None:
        """A cgroup no jail will use (a fork that failed; at the end, the one prepared ahead): this process
        leaves it, and it goes."""
        cg = cg if cg is not None else self.ahead
        if cg is self.ahead:
            self.ahead = None
        if cg is not None and (inside or cg is self.inside):
            self.leave()
        self.remove(cg)

    def leave(self) -> None:
        """Move this process back to its own cgroups (the jails' cgroups' parents)."""
        if self.inside is None:
            return
        for parent in dict.fromkeys(p for _, p in self.places.values()):
            try:
                _write_if_present(parent, "cgroup.procs", "0", required=True)
            except OSError:
                pass
        self.inside = None

    def remove(self, cg: JailCgroup | None, *, kill: bool = False) -> None:
        """Once the jail is reaped: its cgroups go (with a PID namespace they are empty by then; `kill`: SIGKILL
        whatever is still in them first, for jails without one). Retried later when tasks are still exiting."""
        if cg is None:
            return
        cg.close_fds()
        for path in cg.dirs + self.pending:
            if kill:
                _kill_members(path)
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                if path not in self.pending:
                    self.pending.append(path)
                continue
            if path in self.pending:
                self.pending.remove(path)
        cg.dirs = []

    def note(self) -> str:
        """What the isolation string adds where jails get no memory cgroup."""
        return "" if not self.refused else (f"no jail-wide memory limit: {self.refused}; memory is bounded per "
                                            "process only (RLIMIT_DATA)")


def _limit_files(ctl: str, version: int, limits: Limits) -> list[tuple[str, str]]:
    if ctl == "memory" and version == 1:   # memsw (memory + swap) exists only where swap is accounted
        return [("memory.limit_in_bytes", str(limits.jail_memory_bytes)),
                ("memory.memsw.limit_in_bytes", str(limits.jail_memory_bytes))]
    if ctl == "memory":
        return [("memory.max", str(limits.jail_memory_bytes)), ("memory.swap.max", "0"),
                ("memory.oom.group", "1")]   # v2: an OOM kill takes the whole jail, not one of its processes
    return [("pids.max", str(limits.processes + 1))]   # + the session server, in it until the jail has started


def _write_if_present(folder: str, file: str, value: str, *, required: bool) -> None:
    try:
        fd = os.open(os.path.join(folder, file), os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if required:
            raise
        return
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _kill_members(path: str) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in _read(os.path.join(path, "cgroup.procs")).split() if int(p) != os.getpid()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.002)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _v2_delegates(folder: str, ctl: str) -> bool:
    """Whether children of `folder` (cgroup v2) get `ctl`: it is in its subtree_control, or can be put there."""
    try:
        if ctl in _read(os.path.join(folder, "cgroup.subtree_control")).split():
            return True
        if ctl not in _read(os.path.join(folder, "cgroup.controllers")).split():
            return False
        _write_if_present(folder, "cgroup.subtree_control", f"+{ctl}", required=True)
        return True
    except OSError:
        return False


def cgroup_places(proc_cgroup: str, mountinfo: str) -> dict[str, tuple[int, str]]:
    """controller -> (cgroup version, this process's folder in it), from /proc/self/cgroup and
    /proc/self/mountinfo. A controller bound to a v1 hierarchy is used there; else v2's, when it offers it."""
    v1_paths, v2_path = {}, None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, ctls, path = parts
        if hid == "0" and ctls == "":
            v2_path = path
        else:
            for ctl in ctls.split(","):
                v1_paths[ctl] = path
    v1_mounts, v2_mount = {}, None
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        pre, post = line.split(" - ", 1)
        fstype, _source, options = (post.split() + ["", "", ""])[:3]
        root, mountpoint = pre.split()[3], _unescape(pre.split()[4])
        if fstype == "cgroup":
            for ctl in options.split(","):
                v1_mounts.setdefault(ctl, (root, mountpoint))
        elif fstype == "cgroup2" and v2_mount is None:
            v2_mount = (root, mountpoint)
    places: dict[str, tuple[int, str]] = {}
    for ctl in ("memory", "pids"):
        if ctl in v1_paths and ctl in v1_mounts:
            folder = _inside_mount(v1_paths[ctl], *v1_mounts[ctl])
            if folder:
                places[ctl] = (1, folder)
        elif v2_path is not None and v2_mount is not None:
            folder = _inside_mount(v2_path, *v2_mount)
            try:
                offered = _read(os.path.join(folder, "cgroup.controllers")).split() if folder else []
            except OSError:
                offered = []
            if ctl in offered:
                places[ctl] = (2, folder)
    return places


def _inside_mount(path: str, root: str, mountpoint: str) -> str:
    """The folder of cgroup `path` under a mount of the hierarchy's `root` at `mountpoint` ('' if outside)."""
    root = root.rstrip("/")
    if root and not (path == root or path.startswith(root + "/")):
        return ""
    rel = path[len(root):].lstrip("/")
    return os.path.join(mountpoint, rel) if rel else mountpoint


def _unescape(field_: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)
