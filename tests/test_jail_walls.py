"""The walls of the jail, probed from inside by student code: files, network, environment, privileges,
processes, memory, output. Each probe runs in a real jail and reports what it could do."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from autograder.jail.spawn import JailSpec, Zygote
from autograder.judge.client import JailClient
from autograder.judge.feedback import StudentError
from autograder.grader import hidden_paths
from tests._grading import BUNDLE
from tests.nbtools import REPO

ROOT = os.geteuid() == 0
# The namespace walls need root here (CI and graders run as root in a container); the rlimits fallback is what
# a student's laptop gets, and its tests run as anyone.
needs_root = pytest.mark.skipif(not ROOT, reason="namespaces need root here: run the suite as root to test them")

PROBE = r'''
import os, glob, socket, subprocess, sys

def probe_files(paths):
    seen = {}
    for p in paths:
        try:
            with open(p, "rb") as f:
                seen[p] = "read %d bytes" % len(f.read(100))
        except Exception as e:
            seen[p] = "refused: " + type(e).__name__
    return seen

def probe_write(paths):
    out = {}
    for p in paths:
        try:
            with open(p, "w") as f:
                f.write("x")
            out[p] = "written"
        except Exception as e:
            out[p] = "refused: " + type(e).__name__
    return out

def probe_glob(pattern):
    return sorted(glob.glob(pattern, recursive=True))[:50]

def probe_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return "connected"
    except Exception as e:
        return "refused: " + type(e).__name__ + " " + str(e)

def probe_env():
    return dict(os.environ)

def probe_ids():
    return [os.getuid(), os.geteuid(), os.getpid()]

def probe_modules():
    return sorted(m for m in sys.modules if m.startswith(("solutions", "sgd_mnist", "autograder.checking",
                                                          "autograder.judge", "autograder.grader")))

def probe_spawn(n):
    started = 0
    for _ in range(n):
        try:
            subprocess.Popen(["sleep", "1000"], start_new_session=True)
            started += 1
        except Exception:
            pass
    return started

def probe_cwd():
    return os.getcwd()

def probe_memory():
    try:
        b = bytearray(8 * 1024 ** 3)
        return "allocated %d" % len(b)
    except MemoryError:
        return "MemoryError"
'''


@pytest.fixture(scope="module")
def zygote():
    os.environ["AUTOGRADER_TEST_SECRET"] = "s3cret-value"   # the grader's environment: the jail must not see it
    z = Zygote()
    yield z
    z.close()


@pytest.fixture
def jail(zygote):
    session = zygote.session()
    client = JailClient(session, JailSpec(cells=[(0, PROBE)], hidden=hidden_paths(BUNDLE), cell_timeout=20))
    client.start()
    assert client.cells[0]["status"] == "ok", client.cells
    yield client
    client.close()
    session.close()


@needs_root
def test_isolation_is_real(jail):
    assert jail.isolation == "namespaces"
    uid, euid, pid = jail.call("probe_ids").value
    assert uid >= 200_000 and euid >= 200_000   # not root
    assert pid == 1                             # its own PID namespace


@needs_root
def test_cannot_read_course_checks_or_solutions(jail):
    secret_files = [str(REPO / "source/sgd_mnist/sgd_mnist.ipynb"), str(REPO / "solutions/sgd_mnist/reference.py"),
                    str(REPO / "solutions/sgd_mnist/test_softmax.py"), "/etc/shadow",
                    f"/proc/{os.getppid()}/environ"]
    seen = jail.call("probe_files", secret_files).value
    assert all(v.startswith("refused") for v in seen.values()), seen
    found = jail.call("probe_glob", f"{REPO}/*/*/*.ipynb").value + jail.call("probe_glob", f"{REPO}/*/*").value
    assert all("/.venv/" in f for f in found), found    # of the course folder, only the Python install shows
    assert jail.call("probe_glob", "/workspace/*").value == []   # a fresh scratch, nothing in it
    assert jail.call("probe_modules").value == []   # nothing of the judge's side is in the jail's memory


@needs_root
def test_cannot_write_outside_scratch(jail, tmp_path):
    targets = [str(REPO / "x.txt"), "/etc/x", "/usr/x", str(tmp_path / "x"), "/workspace/ok.txt", "/tmp/ok.txt"]
    out = jail.call("probe_write", targets).value
    assert out["/workspace/ok.txt"] == "written" and out["/tmp/ok.txt"] == "written"
    assert all(out[t].startswith("refused") for t in targets[:4]), out
    assert not (REPO / "x.txt").exists() and not (tmp_path / "x").exists()


@needs_root
def test_cannot_reach_host_loopback(jail):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    accepted = []
    t = threading.Thread(target=lambda: accepted.append(_accept(server)))
    t.start()
    answer = jail.call("probe_connect", port).value
    t.join()
    server.close()
    assert answer.startswith("refused"), answer
    assert accepted == [None]


def _accept(server):
    try:
        return server.accept()
    except OSError:
        return None


@needs_root
def test_cannot_see_grader_environment(jail):
    env = jail.call("probe_env").value
    assert "AUTOGRADER_TEST_SECRET" not in env and "s3cret-value" not in str(env)
    assert set(env) <= {"PATH", "HOME", "MPLBACKEND", "LANG", "OMP_NUM_THREADS", "MPLCONFIGDIR"}


@needs_root
def test_process_spray_is_capped_and_leaves_nothing(zygote):
    session = zygote.session()
    client = JailClient(session, JailSpec(cells=[(0, PROBE)], hidden=hidden_paths(BUNDLE), cell_timeout=20))
    started = client.call("probe_spawn", 200, timeout=30).value
    uid = client.call("probe_ids").value[0]
    assert started < 200                               # RLIMIT_NPROC stops the spray
    assert len(_processes_of(uid)) > 10, "the sleeps should be running while the jail lives"
    client.close()
    session.close()
    deadline = time.monotonic() + 5
    while _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_of(uid) == []                    # killing PID 1 of the namespace killed them all


def _processes_of(uid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "uid=,pid=,comm="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split() and int(line.split()[0]) == uid]


@needs_root
def test_memory_hog_is_stopped(jail):
    assert jail.call("probe_memory").value == "MemoryError"
    assert jail.call("probe_ids").value[2] == 1        # and the jail still answers


@needs_root
def test_malicious_reduce_and_tensor_subclass_change_nothing(zygote):
    cells = [(0, "import torch\n"
                 "class Evil:\n"
                 "    def __reduce__(self):\n"
                 "        import os\n"
                 "        return (os.system, ('touch /tmp/pwned',))\n"
                 "def give_evil(x):\n"
                 "    return Evil()\n"
                 "class Liar(torch.Tensor):\n"
                 "    @classmethod\n"
                 "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                 "        return True\n"
                 "def give_liar(x):\n"
                 "    return torch.zeros_like(x).as_subclass(Liar)\n")]
    session = zygote.session()
    client = JailClient(session, JailSpec(cells=cells, hidden=hidden_paths(BUNDLE), cell_timeout=20))
    import torch
    with pytest.raises(StudentError) as err:
        client.call("give_evil", torch.ones(2))
    assert err.value.kind == "bad_output"
    value = client.call("give_liar", torch.ones(3)).value
    assert type(value) is torch.Tensor and torch.equal(value, torch.zeros(3))
    assert not os.path.exists("/tmp/pwned")
    client.close()
    session.close()


def test_fallback_without_namespaces_still_grades_and_says_so():
    """Where namespaces are unavailable (a laptop), the jail degrades to rlimits + timeouts and says so."""
    z = Zygote()
    try:
        session = z.session(isolation="rlimits")      # what AUTOGRADER_ISOLATION=rlimits asks for
        client = JailClient(session, JailSpec(cells=[(0, PROBE)], hidden=hidden_paths(BUNDLE), cell_timeout=20))
        uid = client.call("probe_ids").value[0]
        assert uid >= 200_000 if ROOT else uid == os.geteuid()   # root drops to a jail uid; anyone else stays
        assert client.isolation.startswith("rlimits-only")
        assert "AUTOGRADER_TEST_SECRET" not in client.call("probe_env").value
        assert client.call("probe_memory").value == "MemoryError"
        client.close()
        session.close()
    finally:
        z.close()


def _children_of(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "ppid=,pid=,stat="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split() and int(line.split()[0]) == pid]


@needs_root   # without root the fallback cannot kill a detached process of the same uid: said in the README
@pytest.mark.parametrize("isolation", ["namespaces", "rlimits"])
def test_session_reaps_its_jails_and_their_scratch(isolation):
    """Each jail is one fork of the session server (no middle process): the server reaps the jails its judge
    killed, removes the fallback's scratch folders, and leaves nothing behind when its judge hangs up."""
    z = Zygote()
    try:
        session = z.session(isolation=isolation)
        scratches, spray_uids = [], []
        for _ in range(4):
            client = JailClient(session, JailSpec(cells=[(0, PROBE)], hidden=hidden_paths(BUNDLE), cell_timeout=20))
            assert client.call("probe_spawn", 3, timeout=30).value == 3     # detached sleeps, own sessions
            scratches.append(client.call("probe_cwd").value)
            spray_uids.append(client.call("probe_ids").value[0])
            assert client.isolation.startswith(isolation)
            client.close()
        server = [int(line.split()[1]) for line in _children_of(z.pid)]
        assert len(server) == 1
        # every jail is dead (the last one killed may take a moment: its PID namespace is torn down with it);
        # those killed before the last spawn request but the one just before it are reaped
        deadline = time.monotonic() + 10
        while not all("Z" in c.split()[2] for c in _children_of(server[0])) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all("Z" in c.split()[2] for c in _children_of(server[0])), _children_of(server[0])
        assert len(_children_of(server[0])) <= 2
        session.close()
        deadline = time.monotonic() + 10
        while (_children_of(z.pid) or any(_processes_of(u) for u in spray_uids)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _children_of(z.pid) == []
        assert all(_processes_of(u) == [] for u in spray_uids)
        if isolation == "rlimits":   # on the host's disk: removed; with namespaces: a tmpfs that died with the jail
            assert all(s.startswith(tempfile.gettempdir()) for s in scratches), scratches
            assert not any(os.path.exists(s) for s in scratches)
        else:
            assert scratches == ["/workspace"] * 4
    finally:
        z.close()


@needs_root
def test_the_graders_zygote_holds_no_secrets_either():
    """The CLI's path: the zygote is a fresh interpreter, and the judges' template forked from it imports the
    checks (the grader itself never does). The zygote's jails see none of the judge's modules, nor the checks'
    package."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from autograder.coursedir import CourseDir\n"
        "from autograder.grader import grader_for\n"
        "from autograder.jail.spawn import JailSpec\n"
        "from autograder.judge.client import JailClient\n"
        "g = grader_for(CourseDir(Path('.').resolve()).bundle('sgd_mnist'))\n"
        "assert g.exercise_max and 'sgd_mnist.test_softmax' not in sys.modules   # the judges' template has them\n"
        "s = g.zygote.session()\n"
        f"c = JailClient(s, JailSpec(cells=[(0, {PROBE!r})], hidden=[], cell_timeout=20))\n"
        "print('MODULES', c.call('probe_modules').value, c.isolation)\n"
        "c.close(); s.close()\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "MODULES [] namespaces" in out.stdout, out.stdout + out.stderr[-2000:]