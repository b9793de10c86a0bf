"""A warm grading server for `autograder check`, so that a self-learner's check costs about one
`import torch` instead of three (the grader, its zygote and torch's lazy imports all start warm).

The first `check` starts the server in the background (detached; it exits after `IDLE_SECONDS` without a
request) and waits for it; later checks connect to it. It listens on a Unix socket in a folder only the
user can open, named after the kit's code (any change to the kit or its checks means a new server), and
grades exactly as `grade_notebooks` does in-process. `AUTOGRADER_NO_SERVER=1` (or any failure to reach
the server) grades in the calling process instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from autograder import coursedir
from autograder.results import SubmissionResult

IDLE_SECONDS = 900
START_TIMEOUT = 120.0
MAX_MESSAGE = 64 << 20


def _runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(Path.home(), ".cache")
    folder = Path(base) / "autograder"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def code_key(assignment: str) -> str:
    """Changes whenever the interpreter, the kit, its checks or the solutions change."""
    digest = hashlib.sha256(f"{sys.executable}\0{assignment}\0{os.getuid()}".encode())
    roots = [coursedir.PACKAGE_DIR]
    import importlib.util
    spec = importlib.util.find_spec("solutions")
    if spec and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    for root in roots:
        for path in sorted(Path(root).rglob("*.py")):
            st = path.stat()
            digest.update(f"{path}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return digest.hexdigest()[:20]


def socket_path(assignment: str) -> Path:
    return _runtime_dir() / f"check-{code_key(assignment)[:12]}.sock"


def _send(sock: socket.socket, obj) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack("<I", len(data)) + data)


def _recv(sock: socket.socket):
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    (size,) = struct.unpack("<I", head)
    if size > MAX_MESSAGE:
        raise ConnectionError("message too large")
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(min(1 << 20, size - len(buf)))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return json.loads(buf)


# ---------------------------------------------------------------- server side
def serve(assignment: str, *, idle: float = IDLE_SECONDS) -> None:
    """Run the server in this process until it has been idle for `idle` seconds."""
    from autograder.runner import GradeOptions, grade_notebooks, grader_for
    path = socket_path(assignment)
    grader_for(assignment)                      # warm: zygote, checks, lazy imports
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    listener.bind(str(tmp))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)                       # appear only once ready
    mine = os.stat(path).st_ino
    listener.listen(4)
    listener.settimeout(idle)
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                return
            with conn:
                try:
                    req = _recv(conn)
                    if req.get("op") == "stop":
                        _send(conn, {"ok": True})
                        return
                    options = GradeOptions(course_root=Path(req["course_root"]),
                                           exercises=tuple(req.get("exercises", ())))
                    result = grade_notebooks(notebooks=[Path(p) for p in req["notebooks"]],
                                             student_id=str(req["student_id"]), assignment=assignment,
                                             options=options)
                    _send(conn, {"ok": True, "result": result.to_gradescope()})
                except Exception as exc:  # noqa: BLE001 - one bad request never stops the server
                    try:
                        _send(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
                    except OSError:
                        pass
    finally:
        try:
            if os.stat(path).st_ino == mine:    # a newer server may have taken the name since
                path.unlink()
        except OSError:
            pass


# ---------------------------------------------------------------- client side
def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _start(assignment: str) -> None:
    subprocess.Popen([sys.executable, "-m", "autograder.server", assignment], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                     close_fds=True)


def grade_via_server(*, notebooks: list[Path], student_id: str, assignment: str, course_root: Path,
                     exercises: tuple[str, ...] = ()) -> SubmissionResult | None:
    """Grade through the warm server, starting it if needed; None when it cannot be reached."""
    path = socket_path(assignment)
    if len(os.fsencode(path)) > 100:            # Unix socket paths are limited to ~108 bytes
        return None
    sock = _connect(path)
    if sock is None:
        _start(assignment)
        deadline = time.monotonic() + START_TIMEOUT
        while sock is None and time.monotonic() < deadline:
            time.sleep(0.05)
            sock = _connect(path)
        if sock is None:
            return None
    with sock:
        try:
            _send(sock, {"op": "grade", "notebooks": [str(Path(p).resolve()) for p in notebooks],
                         "student_id": student_id, "course_root": str(Path(course_root).resolve()),
                         "exercises": list(exercises)})
            reply = _recv(sock)
        except (OSError, ConnectionError, ValueError):
            return None
    if not reply.get("ok"):
        return None
    return SubmissionResult.from_gradescope(reply["result"])


def stop_server(assignment: str) -> bool:
    sock = _connect(socket_path(assignment))
    if sock is None:
        return False
    with sock:
        _send(sock, {"op": "stop"})
        return bool(_recv(sock).get("ok"))


if __name__ == "__main__":
    serve(sys.argv[1])
