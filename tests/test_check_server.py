"""`autograder check` through its warm server: same result as grading in process; the server is private to
the user, keyed by the bundle (checks, references, kit), and stops on request; the caller never imports the
judge."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile

from autograder import server
from autograder.check import check_notebooks
from tests._grading import BUNDLE
from tests.nbtools import REPO, variant


def test_server_grades_like_in_process(tmp_path, monkeypatch):
    run_dir = tempfile.mkdtemp(prefix="ag-", dir="/tmp")   # short: Unix socket paths are limited
    monkeypatch.setenv("XDG_RUNTIME_DIR", run_dir)
    nb = variant(tmp_path / "nb.ipynb", replace={"softmax": "def softmax(x):\n    return x.exp() / x.exp().sum(0)\n"})
    try:
        via_server = check_notebooks(paths=[nb], assignment="sgd_mnist", course_root=REPO)[0]
        path = server.socket_path(BUNDLE)
        assert path.exists() and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        again = check_notebooks(paths=[nb], assignment="sgd_mnist", course_root=REPO)[0]
    finally:
        stopped = server.stop_server(BUNDLE)
    in_process = check_notebooks(paths=[nb], assignment="sgd_mnist", course_root=REPO, in_process=True)[0]
    assert stopped
    for r in (via_server, again):
        assert [vars(t) for t in r.tests] == [vars(t) for t in in_process.tests]
    assert in_process.exercise_scores()["softmax"] < 10


def test_cli_check_exit_codes(tmp_path):
    env = dict(os.environ, AUTOGRADER_NO_SERVER="1")
    cli = [sys.executable, "-m", "autograder.cli", "check"]
    full = subprocess.run(cli + [str(REPO / "source/sgd_mnist/sgd_mnist.ipynb")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stdout + full.stderr
    assert "100 / 100" in full.stdout
    stub = subprocess.run(cli + [str(REPO / "release/sgd_mnist/sgd_mnist.ipynb")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert stub.returncode == 1 and "not implemented yet" in stub.stdout


def test_the_caller_never_imports_the_judge(tmp_path):
    """check_notebooks (as `%autograde` calls it) grades elsewhere: the calling process ends up holding no
    judge, grader, checks or references, even when no server can be reached (a one-off child grades)."""
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from autograder.check import check_notebooks\n"
            f"r = check_notebooks(paths=[Path({str(REPO / 'release/sgd_mnist/sgd_mnist.ipynb')!r})], "
            f"course_root=Path({str(REPO)!r}), exercises=('softmax',))[0]\n"
            "held = sorted(m for m in sys.modules if m.startswith(('autograder.judge', 'autograder.grader', "
            "'autograder.checking', 'sgd_mnist', 'solutions')))\n"
            "print(r.score, r.max_score, held)\n")
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / ("x" * 120)))   # too long a path for a socket: no server
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.stdout.strip() == "0.0 10.0 []", out.stdout + out.stderr[-2000:]
