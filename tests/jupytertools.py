"""Shared by the Jupyter tests (tests/test_jupyter_*.py): a self-learner's copy of the course with filled
notebooks, and stopping the warm check servers a test's kernels started."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat

from tests.nbtools import REPO, RELEASE_NB, SOURCE_NB

ASSIGNMENT = "sgd_mnist"
# Two known misconceptions, and the hints `autograder check` gives for them.
SOFTMAX_DIM0 = ("import torch\n\n\ndef softmax(x):\n    e = torch.exp(x)\n"
                "    return e / e.sum(dim=0)          # sums over the batch, not over the classes\n")
BINARY_NO_NEGATIVES = "import torch\n\n\ndef binary_loss(y, p):\n    return -(y * torch.log(p)).mean()\n"
HINT_SOFTMAX = "your softmax normalises along dim 0 (over the batch)"
HINT_BINARY = "the `(1 - y) * log(1 - p)` term is missing"


def solution_cells() -> dict[str, str]:
    """exercise -> the source notebook's solution cell with nbgrader's markers dropped."""
    out = {}
    for cell in nbformat.read(SOURCE_NB, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = "\n".join(line for line in cell.source.splitlines()
                                              if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
    return out


def filled_release(path: Path, *, replace: dict[str, str] | None = None, stubs: bool = False) -> Path:
    """The release notebook as a student hands it in: every exercise cell holding the source's solution, or
    the code `replace` gives for it (`stubs`: untouched)."""
    nb = nbformat.read(RELEASE_NB, as_version=4)
    solutions = solution_cells()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not stubs:
            cell.source = (replace or {}).get(meta["grade_id"], solutions[meta["grade_id"]])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def self_learner_course(root: Path) -> Path:
    """A self-learner's clone of the course, reduced to what `%autograde` needs: the assignment's hidden
    checks and references (solutions/A/) and its released folder (release/A/, with the data loader).
    Returns release/A/, where the student works."""
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("__pycache__"))
    work = root / "release" / ASSIGNMENT
    work.mkdir(parents=True)
    shutil.copy(RELEASE_NB.parent / "mnist_data.py", work / "mnist_data.py")
    return work


def private_runtime() -> Path:
    """A fresh XDG_RUNTIME_DIR for the check servers a test starts (short: Unix socket paths are limited)."""
    return Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))


def kernel_env(runtime: Path) -> dict:
    """The environment of a test's Jupyter processes: the warm check server in `runtime`, CPU only."""
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), CUDA_VISIBLE_DEVICES="")
    env.pop("AUTOGRADER_NO_SERVER", None)   # conftest grades in process; the kernel must not
    env.pop("AUTOGRADER_COURSE", None)
    return env


def stop_check_servers(runtime: Path) -> None:
    """Stop every warm check server started with XDG_RUNTIME_DIR=runtime (whatever its course or code key),
    then remove the folder."""
    from autograder.server import _connect, _recv, _send
    for sock_path in (runtime / "autograder").glob("*.sock"):
        sock = _connect(sock_path)
        if sock is not None:
            with sock:
                _send(sock, {"op": "stop"})
                _recv(sock)
    shutil.rmtree(runtime, ignore_errors=True)
