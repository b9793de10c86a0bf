"""A warm grading server for `autograder check` and `%autograde`, so that a self-learner's check costs a few
hundred milliseconds instead of a fresh `import torch`, the checks' imports and a zygote.

The first check of a bundle starts the server in the background (detached; it exits after `IDLE_SECONDS`
without a request) and waits for it; later checks connect to it. It listens on a Unix socket in a folder only
the user can open, named after the bundle's key (any change to the kit, the checks, the references or the
released files means a new server), and grades exactly as `grader.grade_notebooks` does in-process. When the
server cannot be reached, a one-off child process grades instead (`python -m autograder.server once`), so the
caller never imports the judge itself.
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
from dataclasses import asdict
from pathlib import Path

from autograder.config import GradeOptions
from autograder.coursedir import Bundle, CourseDir
from autograder.results import INTERNAL_ERROR, SubmissionResult

IDLE_SECONDS = 900
START_TIMEOUT = 120.0
MAX_MESSAGE = 64 << 20


def _runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(Path.home(), ".cache")
    folder = Path(base) / "autograder"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def server_key(bundle: Bundle) -> str:
    """Changes whenever the interpreter, the user, the course or anything the bundle's grades depend on does."""
    digest = hashlib.sha256(f"{sys.executable}\0{os.getuid()}\0{Path(bundle.course.root).resolve()}\0"
                            f"{bundle.name}\0{bundle.key()}".encode())
    return digest.hexdigest()[:20]


def socket_path(bundle: Bundle) -> Path:
    return _runtime_dir() / f"check-{server_key(bundle)[:12]}.sock"


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


BROKEN_CHECK = "a hidden check could not run (the instructor sees why with `autograder validate`)"


def _grade_request(bundle: Bundle, req: dict) -> dict:
    """Grade one request; the result as its caller (a student's terminal or kernel) may see it: a broken
    check's traceback (check code) is replaced by a sentence."""
    from autograder.grader import grade_notebooks
    options = GradeOptions(**req.get("options", {}))
    result = grade_notebooks(notebooks=[Path(p) for p in req["notebooks"]], student_id=str(req["student_id"]),
                             bundle=bundle, options=options)
    return dict(result.to_gradescope(), problems=[BROKEN_CHECK] * len(result.problems))


# ---------------------------------------------------------------- server side
def serve(bundle: Bundle, *, idle: float = IDLE_SECONDS) -> None:
    """Run the server in this process until it has been idle for `idle` seconds."""
    from autograder.grader import grader_for
    path = socket_path(bundle)
    grader_for(bundle)                          # warm: zygote, checks, lazy imports
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
                    _send(conn, {"ok": True, "result": _grade_request(bundle, req)})
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


def _command(verb: str, bundle: Bundle) -> list[str]:
    return [sys.executable, "-m", "autograder.server", verb, str(Path(bundle.course.root).resolve()), bundle.name]


def _request(bundle: Bundle, notebooks: list[Path], student_id: str, options: GradeOptions) -> dict:
    return {"op": "grade", "notebooks": [str(Path(p).resolve()) for p in notebooks], "student_id": student_id,
            "options": asdict(options)}


def grade_via_server(*, bundle: Bundle, notebooks: list[Path], student_id: str,
                     options: GradeOptions = GradeOptions()) -> SubmissionResult | None:
    """Grade through the warm server, starting it if needed; None when it cannot be reached."""
    path = socket_path(bundle)
    if len(os.fsencode(path)) > 100:            # Unix socket paths are limited to ~108 bytes
        return None
    sock = _connect(path)
    if sock is None:
        sock = _start_or_wait(bundle, path)
        if sock is None:
            return None
    with sock:
        try:
            _send(sock, _request(bundle, notebooks, student_id, options))
            reply = _recv(sock)
        except (OSError, ConnectionError, ValueError):
            return None
    if not reply.get("ok"):
        return None
    return SubmissionResult.from_gradescope(reply["result"])


def _start_or_wait(bundle: Bundle, path: Path) -> socket.socket | None:
    """Start the server, unless another caller is starting it (a lock file next to the socket: two first
    checks at once start one server, not two), then wait for its socket."""
    import fcntl
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)        # held while the server starts: the next caller finds it up
        sock = _connect(path)
        if sock is not None:
            return sock
        subprocess.Popen(_command("serve", bundle), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        deadline = time.monotonic() + START_TIMEOUT
        while sock is None and time.monotonic() < deadline:
            time.sleep(0.05)
            sock = _connect(path)
        return sock


def grade_elsewhere(*, bundle: Bundle, notebooks: list[Path], student_id: str,
                    options: GradeOptions = GradeOptions()) -> SubmissionResult:
    """Grade in another process than this one: the warm server, else a one-off child."""
    result = grade_via_server(bundle=bundle, notebooks=notebooks, student_id=student_id, options=options)
    if result is not None:
        return result
    done = subprocess.run(_command("once", bundle), input=json.dumps(_request(bundle, notebooks, student_id, options)),
                          capture_output=True, text=True)
    try:
        return SubmissionResult.from_gradescope(json.loads(done.stdout))
    except (ValueError, KeyError, TypeError):
        return SubmissionResult.from_error(student_id=student_id, assignment=bundle.name, status=INTERNAL_ERROR,
                                           message=f"the grading process failed: {done.stderr.strip()[-1500:]}",
                                           exercise_max={})


def stop_server(bundle: Bundle) -> bool:
    sock = _connect(socket_path(bundle))
    if sock is None:
        return False
    with sock:
        _send(sock, {"op": "stop"})
        return bool(_recv(sock).get("ok"))


def main(argv: list[str]) -> None:
    verb, root, assignment = argv[:3]
    bundle = CourseDir(Path(root)).bundle(assignment)
    if verb == "serve":
        serve(bundle)
    elif verb == "once":   # one request on stdin, its result on stdout
        print(json.dumps(_grade_request(bundle, json.loads(sys.stdin.read()))))
    else:
        raise SystemExit(f"usage: python -m autograder.server serve|once COURSE ASSIGNMENT")


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(0)
