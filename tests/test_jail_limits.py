"""Limits that hold for a jail as a whole, attacked from inside: memory (a cgroup per jail, not RLIMIT_DATA per
process), files in its tmpfs (inodes), and kernel state that could outlive it for the next jail with the same
uid (keyrings, SysV IPC, POSIX message queues, /dev/shm). Each attack in more than one way; each time the
judge and the next jail are fine, and honest jails are not touched."""
from __future__ import annotations

import ctypes
import os
import platform
import time
from pathlib import Path

import pytest
import torch

from autograder.jail import walls
from autograder.jail.spawn import JailSpec, Zygote, ZygoteSession
from autograder.judge.client import JailClient
from autograder.judge.feedback import StudentError

REPO = Path(__file__).resolve().parents[1]
HIDDEN = [str(REPO)]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces, cgroups and other uids need root here")
x86_or_arm = pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"),
                                reason="key syscall numbers known for x86_64 and aarch64 only")
MiB = 1 << 20

PROBE = r'''
import ctypes, mmap, os, socket, struct, time
libc = ctypes.CDLL(None, use_errno=True)
MACHINE = os.uname().machine
ADD_KEY, REQUEST_KEY, KEYCTL = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}.get(MACHINE, (-1, -1, -1))

def errno_of(ret):
    return 0 if ret >= 0 else ctypes.get_errno()

def ids():
    return [os.getuid(), os.getpid()]

def shared_hog(mib):
    """One process, a shared anonymous mapping (RLIMIT_DATA does not count it), every page touched."""
    m = mmap.mmap(-1, mib << 20, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    for off in range(0, mib << 20, 4096):
        m[off] = 1
    return "survived"

def children_hog(n, mib):
    """n children, each under RLIMIT_DATA, together over the jail's memory."""
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                b = bytearray(mib << 20)
                for off in range(0, len(b), 4096):
                    b[off] = 1
                time.sleep(30)
            finally:
                os._exit(0)
        pids.append(pid)
    time.sleep(3)
    killed = 0
    for pid in pids:
        done, status = os.waitpid(pid, os.WNOHANG)
        killed += bool(done) and os.WIFSIGNALED(status)
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    return killed

def tmpfs_hog(mib):
    """Files in every tmpfs the jail can write: each under its size (and RLIMIT_FSIZE), together over the
    jail's memory."""
    out = {}
    for folder in ("/dev/shm", "/tmp", "/workspace"):
        try:
            for i in range(0, mib, 30):
                with open("%s/fill%d" % (folder, i), "wb") as f:
                    for _ in range(min(30, mib - i)):
                        f.write(b"\1" * (1 << 20))
            out[folder] = "written"
        except OSError as e:
            out[folder] = "OSError %d" % e.errno
    return out

def many(kind, folder, n):
    """Create up to n files (or folders, links, hard links): how many, and the error that stopped it."""
    made, err = 0, 0
    try:
        if kind == "hardlink":
            open(folder + "/base", "w").close()
        for i in range(n):
            p = "%s/%s%d" % (folder, kind, i)
            if kind == "file":
                open(p, "w").close()
            elif kind == "dir":
                os.mkdir(p)
            elif kind == "symlink":
                os.symlink("/nowhere", p)
            else:
                os.link(folder + "/base", p)
            made += 1
    except OSError as e:
        err = e.errno
    return [made, err]

def leave_keys():
    """Every way to leave a key behind for the uid: user, user-session, session, persistent keyrings."""
    out = {}
    for ring, spec in (("user", -4), ("user_session", -5), ("session", -3)):
        r = libc.syscall(ADD_KEY, b"user", b"left-by-" + ring.encode(), b"SECRET", 6, ctypes.c_long(spec))
        out[ring] = errno_of(r)
    r = libc.syscall(KEYCTL, ctypes.c_long(22), ctypes.c_long(-1), ctypes.c_long(-3))   # GET_PERSISTENT
    out["persistent"] = errno_of(r)
    r = libc.syscall(REQUEST_KEY, b"user", b"anything", b"callout", ctypes.c_long(0))
    out["request_key"] = errno_of(r)
    return out

def look_for_keys(serial):
    buf = ctypes.create_string_buffer(4096)
    out = {}
    for name, spec in (("user", -4), ("user_session", -5), ("serial", serial)):
        r = libc.syscall(KEYCTL, ctypes.c_long(11), ctypes.c_long(spec), buf, ctypes.c_long(4096))  # READ
        out[name] = (r, errno_of(r), buf.raw[:max(r, 0)].hex())
    for f in ("/proc/keys", "/proc/key-users"):
        try:
            out[f] = open(f).read()
        except OSError as e:
            out[f] = "OSError %d" % e.errno
    return out

def leave_ipc():
    out = {}
    out["shm"] = libc.shmget(ctypes.c_int(0x4147), ctypes.c_size_t(4096), ctypes.c_int(0o1000 | 0o666))
    mq = getattr(libc, "mq_open", None)
    if mq is not None:
        mq.restype = ctypes.c_int
        out["mq"] = mq(b"/autograder-left", ctypes.c_int(0o100 | 2), ctypes.c_int(0o666), None)
    open("/dev/shm/left-behind", "w").write("x")
    return out

def find_ipc():
    out = {"shm": libc.shmget(ctypes.c_int(0x4147), ctypes.c_size_t(0), ctypes.c_int(0))}
    mq = getattr(libc, "mq_open", None)
    if mq is not None:
        mq.restype = ctypes.c_int
        out["mq"] = mq(b"/autograder-left", ctypes.c_int(0), ctypes.c_int(0), None)
    out["dev_shm"] = sorted(os.listdir("/dev/shm"))
    out["sysvipc"] = open("/proc/sysvipc/shm").read().splitlines()[1:]
    return out

def my_cgroup():
    return open("/proc/self/cgroup").read()

def work():
    import torch
    x = torch.randn(256, 256)
    return float((x @ x).sum().isfinite()), len(bytearray(200 << 20))
'''


@pytest.fixture(scope="module")
def zygote():
    if os.geteuid() != 0:
        pytest.skip("namespaces, cgroups and other uids need root here")
    z = Zygote()
    yield z
    z.close()


class Jails:
    """Jails of one session, each with the given limits; `uid` forces the uid (to make jails share one)."""

    def __init__(self, zygote, monkeypatch, uid: int | None = None):
        self.session = zygote.session()
        if uid is not None:
            monkeypatch.setattr(ZygoteSession, "_next_uid", lambda self: uid)
        self.clients: list[JailClient] = []

    def new(self, **limits) -> JailClient:
        spec = JailSpec(cells=[(0, PROBE)], hidden=HIDDEN, cell_timeout=60, limits=walls.Limits(**limits))
        client = JailClient(self.session, spec)
        client.start()
        assert client.cells[0]["status"] == "ok", client.cells
        self.clients.append(client)
        return client

    def close(self):
        for c in self.clients:
            c.close()
        self.session.close()


@pytest.fixture
def jails(zygote, monkeypatch):
    made = []

    def make(uid=None):
        j = Jails(zygote, monkeypatch, uid)
        made.append(j)
        return j
    yield make
    for j in made:
        j.close()


def cgroup_of(pid: int, controller: str) -> Path:
    """The folder of `pid`'s cgroup of a v1 controller (this machine's layout: /sys/fs/cgroup/<controller>)."""
    line = next(line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                if controller in line.split(":")[1].split(","))
    return Path(f"/sys/fs/cgroup/{controller}" + line.split(":", 2)[2])


def memory_cgroup_of(pid: int) -> Path:
    return cgroup_of(pid, "memory")


def memory_v1() -> bool:
    places = walls.JailCgroups().places
    return places.get("memory", (0, ""))[0] == 1


# ---------------------------------------------------------------- cgroups found from /proc (no root needed)
HYBRID_CGROUP = "4:memory:/process_api/abc\n8:pids:/\n1:cpu,cpuacct:/x\n0::/\n"
HYBRID_MOUNTS = ("30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
                 "31 25 0:27 / /sys/fs/cgroup/pids rw,relatime shared:10 - cgroup cgroup rw,pids\n"
                 "35 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:4 - cgroup2 cgroup2 rw\n")


def test_cgroup_places_v1_hybrid():
    assert walls.cgroup_places(HYBRID_CGROUP, HYBRID_MOUNTS) == {
        "memory": (1, "/sys/fs/cgroup/memory/process_api/abc"), "pids": (1, "/sys/fs/cgroup/pids")}


def test_cgroup_places_v2_only(tmp_path):
    (tmp_path / "system.slice" / "grader.service").mkdir(parents=True)
    (tmp_path / "system.slice" / "grader.service" / "cgroup.controllers").write_text("cpu memory pids\n")
    mounts = f"35 25 0:31 / {tmp_path} rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    assert walls.cgroup_places("0::/system.slice/grader.service\n", mounts) == {
        "memory": (2, f"{tmp_path}/system.slice/grader.service"),
        "pids": (2, f"{tmp_path}/system.slice/grader.service")}
    (tmp_path / "system.slice" / "grader.service" / "cgroup.controllers").write_text("cpu\n")
    assert walls.cgroup_places("0::/system.slice/grader.service\n", mounts) == {}


def test_cgroup_places_inside_a_cgroup_namespace_or_a_bind_mount():
    mounts = "30 25 0:26 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    assert walls.cgroup_places("4:memory:/docker/c1/app\n", mounts) == {"memory": (1, "/sys/fs/cgroup/memory/app")}
    assert walls.cgroup_places("4:memory:/other\n", mounts) == {}      # not under what is mounted


def test_v2_cgroups_are_made_with_v2_files(tmp_path):
    """cgroup v2 (this machine has v1): the files a jail's cgroup gets, on a stand-in folder."""
    own = tmp_path / "grader"
    own.mkdir()
    (own / "cgroup.controllers").write_text("memory pids\n")
    (own / "cgroup.subtree_control").write_text("memory pids\n")
    mounts = f"35 25 0:31 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    cgroups = walls.JailCgroups(proc_cgroup="0::/grader\n", mountinfo=mounts)
    if os.geteuid() != 0:
        assert cgroups.refused == "cgroups need root here"
        return
    assert cgroups.refused == "" and cgroups.version == "v2"
    real_mkdir = os.mkdir

    def mkdir_with_files(path, mode=0o777):   # what the kernel puts in a new cgroup folder
        real_mkdir(path, mode)
        for f in ("memory.max", "memory.swap.max", "memory.oom.group", "pids.max", "cgroup.procs"):
            Path(path, f).write_text("")
    os.mkdir = mkdir_with_files
    try:
        cg = cgroups.create(walls.Limits(jail_memory_bytes=300 * MiB, processes=17))
    finally:
        os.mkdir = real_mkdir
    assert cg is not None and len(cg.dirs) == 1
    folder = Path(cg.dirs[0])
    assert {f: (folder / f).read_text() for f in ("memory.max", "memory.swap.max", "memory.oom.group", "pids.max")} \
        == {"memory.max": str(300 * MiB), "memory.swap.max": "0", "memory.oom.group": "1", "pids.max": "18"}
    cg.close_fds()
    for f in folder.iterdir():
        f.unlink()
    cgroups.remove(cg)
    assert not folder.exists()


def test_v2_without_delegation_says_why(tmp_path):
    own = tmp_path / "grader"
    own.mkdir()
    (own / "cgroup.controllers").write_text("memory pids\n")
    (own / "cgroup.subtree_control").mkdir()   # unreadable and unwritable, as when the grader's cgroup holds
                                                # processes (the kernel answers EBUSY)
    mounts = f"35 25 0:31 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    cgroups = walls.JailCgroups(proc_cgroup="0::/grader\n", mountinfo=mounts)
    if os.geteuid() == 0:
        assert "cannot hand the memory controller to children" in cgroups.refused
    assert cgroups.create(walls.Limits()) is None
    assert cgroups.note().startswith("no jail-wide memory limit: ")


def test_judges_alive_together_never_share_a_uid():
    seen = {}
    for pid in (1, 2, 1563, 3125, 4126, 100_000, (1 << 22) - 1):
        uids = walls.jail_uids(pid)
        assert len(uids) == 64 and uids[0] >= walls.JAIL_UID_BASE and uids[-1] < 2**32 - 2
        for u in uids:
            assert u not in seen, (pid, seen.get(u))
            seen[u] = pid
    assert walls.jail_uid(1000, 64) == walls.jail_uid(1000, 0)   # a judge's own uids cycle


# ---------------------------------------------------------------- memory: the jail as a whole
@root_only
def test_each_jail_gets_its_own_memory_cgroup_removed_when_reaped(jails):
    j = jails()
    c = j.new()
    assert c.isolation == "namespaces"
    init = c.handle.init_pid
    folder = memory_cgroup_of(init)
    assert folder.name.startswith("autograder-jail-")
    assert int((folder / "memory.limit_in_bytes").read_text()) == walls.Limits().jail_memory_bytes
    assert c.call("my_cgroup").value.count(":/\n") >= 1   # the jail sees its cgroup as "/": no host path
    assert "autograder-jail" not in c.call("my_cgroup").value
    server = int(Path(f"/proc/{init}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert Path(f"/proc/{init}/oom_score_adj").read_text().strip() == "1000"     # the OOM killer's first choice
    assert int(Path(f"/proc/{server}/oom_score_adj").read_text()) < 1000         # its server is not
    j.close()
    deadline = time.monotonic() + 5
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists()


@root_only
@pytest.mark.parametrize("attack,args,limits", [
    ("shared_hog", (400,), {}), ("children_hog", (3, 150), {}), ("tmpfs_hog", (90,), {"scratch_bytes": 100 * MiB})])
def test_memory_beyond_the_jails_total_is_refused(jails, attack, args, limits):
    """RLIMIT_DATA is per process: a shared mapping, a few children, or tmpfs files each stay under it. The
    jail's cgroup (256 MiB here) holds them all; the jail dies or the allocation fails, nothing else."""
    j = jails()
    c = j.new(jail_memory_bytes=256 * MiB, **limits)
    folder = memory_cgroup_of(c.handle.init_pid)
    try:
        outcome = c.call(attack, *args, timeout=60).value
    except StudentError as err:
        outcome = err.kind
    peak = int((folder / "memory.max_usage_in_bytes").read_text())
    oom = dict(line.split() for line in (folder / "memory.oom_control").read_text().splitlines())
    hits = int((folder / "memory.failcnt").read_text()) + int(oom.get("oom_kill", 0))
    assert peak <= 256 * MiB and hits > 0, (attack, outcome, peak >> 20)
    if attack == "shared_hog":
        assert outcome == "crash"              # the OOM killer ended it: the call says so
    elif attack == "children_hog":
        assert outcome == "crash" or outcome >= 1
    else:
        assert outcome == "crash" or "OSError" in str(outcome), outcome
    assert torch.ones(3).sum().item() == 3     # the judge (this process) is fine
    nxt = j.new(jail_memory_bytes=256 * MiB)   # and so is the next jail
    assert nxt.call("ids").value[1] == 1


@root_only
def test_honest_jails_are_unaffected(jails):
    c = jails().new()
    assert c.call("work", timeout=60).value == (1.0, 200 * MiB)
    assert c.isolation == "namespaces"


# ---------------------------------------------------------------- files: inodes of its tmpfs
@root_only
@pytest.mark.parametrize("kind,folder", [("file", "/tmp"), ("dir", "/workspace"), ("symlink", "/dev/shm"),
                                         ("hardlink", "/tmp")])
def test_tmpfs_inodes_are_bounded(jails, kind, folder):
    """300,000 empty files cost 300 MiB of kernel memory nobody counted. Now each tmpfs holds 4,096 inodes."""
    j = jails()
    c = j.new()
    made, err = c.call("many", kind, folder, 20_000, timeout=60).value
    assert err == 28 and 4_000 < made <= 4_096, (made, err)      # ENOSPC
    assert c.call("ids").value[1] == 1                            # and the jail goes on


# ---------------------------------------------------------------- kernel state between jails of one uid
FORCED_UID = walls.JAIL_UID_BASE + (1 << 28) + 1_000     # beyond every judge's own uids


def _as_uid(uid, fn):
    """Run fn() in a child that has become `uid`; return what it wrote to a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.write(w, repr(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return eval(out)  # noqa: S307 - our own child's repr of ints and strings


_libc = ctypes.CDLL(None, use_errno=True)


def _keyctl(*args):
    return _libc.syscall({"x86_64": 250, "aarch64": 219}[platform.machine()], *(ctypes.c_long(a) for a in args))


def _plant():
    serial = _libc.syscall({"x86_64": 248, "aarch64": 217}[platform.machine()], b"user", b"planted", b"PLANTED",
                           7, ctypes.c_long(-4))
    _keyctl(5, serial, 0x3F3F3F3F)     # SETPERM: anyone may view and read it
    return serial


def _read_user_keyring():
    buf = ctypes.create_string_buffer(4096)
    return _keyctl(11, -4, ctypes.addressof(buf), 4096)   # bytes of key ids linked in it


@root_only
@x86_or_arm
def test_a_key_left_by_one_jail_is_invisible_to_the_next_with_its_uid(jails):
    j = jails(uid=FORCED_UID)
    first = j.new()
    assert first.call("ids").value[0] == FORCED_UID
    left = first.call("leave_keys").value
    assert left == {"user": 38, "user_session": 38, "session": 38, "persistent": 38, "request_key": 38}  # ENOSYS
    first.close()
    second = j.new()
    assert second.call("ids").value[0] == FORCED_UID        # the same uid, forced
    seen = second.call("look_for_keys", 1).value
    assert seen["/proc/keys"] == "" and seen["/proc/key-users"] == ""
    assert all(seen[k][1] == 38 for k in ("user", "user_session", "serial"))
    assert _as_uid(FORCED_UID, _read_user_keyring) <= 0      # nothing was left for the uid outside either


@root_only
@x86_or_arm
def test_a_key_planted_for_the_uid_outside_any_jail_stays_out_of_reach(jails):
    """Planted with open permissions (as a jail without the filter could): readable by that uid outside a
    jail, so the test can fail; from the jail: neither by its keyrings, its serial, nor /proc/keys."""
    serial = _as_uid(FORCED_UID + 1, _plant)
    assert serial > 0
    assert _as_uid(FORCED_UID + 1, _read_user_keyring) == 4   # there: one key id in the uid's user keyring
    seen = jails(uid=FORCED_UID + 1).new().call("look_for_keys", serial).value
    assert "planted" not in str(seen) and seen["/proc/keys"] == ""
    assert seen["serial"][1] == 38 and seen["user"][1] == 38
    walls.clear_uid_keys(FORCED_UID + 1)                      # the fallback's clearing, when reaped
    assert _as_uid(FORCED_UID + 1, _read_user_keyring) == 0


@root_only
def test_ipc_and_shared_memory_die_with_the_jail(jails):
    j = jails(uid=FORCED_UID + 2)
    made = j.new().call("leave_ipc").value
    assert made["shm"] >= 0 and made.get("mq", 0) >= 0        # it could make them, in its own namespace
    j.clients[0].close()
    found = j.new().call("find_ipc").value
    assert found["shm"] == -1 and found.get("mq", -1) == -1 and found["dev_shm"] == [] and found["sysvipc"] == []


# ---------------------------------------------------------------- cost
@root_only
def test_a_jails_cgroup_costs_nothing_on_its_way():
    """Moving a process into a cgroup waits for a kernel grace period (0.2 ms idle, 3-6 ms per hierarchy on a
    busy machine, the moved process stalled meanwhile): a jail joining its own cgroup made each jail start
    ~15 ms slower here under load. So the session server moves itself into the next jail's cgroup while its
    judge works (`prepare`), and the jail is born inside it (`for_fork`: no migration on the way)."""
    cgroups = walls.JailCgroups()
    if cgroups.refused:
        pytest.skip(cgroups.refused)
    own = walls.JailCgroups().places["memory"][1]
    n, prepared, on_the_way, removed = 20, 0.0, 0.0, 0.0
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            cgroups.prepare(walls.Limits())
            t1 = time.perf_counter()
            cg, inside = cgroups.for_fork(walls.Limits())
            t2 = time.perf_counter()
            assert inside and cg is not None
            pid = os.fork()
            if pid == 0:
                time.sleep(0.05)
                os._exit(0)
            assert memory_cgroup_of(pid) == Path(next(d for d in cg.dirs if d.startswith(own)))  # born in it
            limit = int((memory_cgroup_of(pid) / "memory.limit_in_bytes").read_text())
            assert limit == walls.Limits().jail_memory_bytes
            cgroups.leave()
            os.waitpid(pid, 0)
            t3 = time.perf_counter()
            cgroups.remove(cg)
            removed += time.perf_counter() - t3
            prepared += t1 - t0
            on_the_way += t2 - t1
            assert cgroups.pending == []
    finally:
        cgroups.unused(None)
    ms = [x / n * 1000 for x in (prepared, on_the_way, removed)]
    print(f"a jail's cgroup: {ms[1]:.3f} ms on its way (for_fork), {ms[0]:.2f} ms while its judge works "
          f"(prepare: mkdir, limits, moving the server), {ms[2]:.2f} ms when reaped")
    assert ms[1] < 0.5
    assert [n for n in os.listdir(own) if n.startswith(f"autograder-jail-{os.getpid()}-")] == []


@root_only
def test_other_limits_update_the_prepared_cgroup(jails):
    """A jail whose limits differ from the one prepared for gets its own values (written, not migrated)."""
    j = jails()
    first = j.new()
    second = j.new(jail_memory_bytes=200 * MiB, processes=20)
    folder = memory_cgroup_of(second.handle.init_pid)
    assert int((folder / "memory.limit_in_bytes").read_text()) == 200 * MiB
    if "pids" in walls.JailCgroups().places:
        assert (cgroup_of(second.handle.init_pid, "pids") / "pids.max").read_text().strip() == "21"
    assert first.call("ids").value[1] == 1 and second.call("ids").value[1] == 1
