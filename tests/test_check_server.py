"""`autograder check` through its warm server: same result as grading in process; the server is private to
the user, keyed by the kit's code, and stops on request."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile

from autograder import server
from autograder.check import check_notebooks
from tests.nbtools import REPO, variant


def test_server_grades_like_in_process(tmp_path, monkeypatch):
    run_dir = tempfile.mkdtemp(prefix="ag-", dir="/tmp")   # short: Unix socket paths are limited
    monkeypatch.setenv("XDG_RUNTIME_DIR", run_dir)
    nb = variant(tmp_path / "nb.ipynb", replace={"softmax": "def softmax(x):\n    return x.exp() / x.exp().sum(0)\n"})
    try:
        via_server = check_notebooks(paths=[nb], assignment="sgd_mnist", use_server=True)[0]
        path = server.socket_path("sgd_mnist")
        assert path.exists() and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        again = check_notebooks(paths=[nb], assignment="sgd_mnist", use_server=True)[0]
    finally:
        stopped = server.stop_server("sgd_mnist")
    in_process = check_notebooks(paths=[nb], assignment="sgd_mnist", use_server=False)[0]
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
