"""`%load_ext autograder` / `%autograde` in a real kernel (nbclient, the kit's own environment): the same
table as `autograder check`, graded from the saved file through the warm check server, never in the kernel,
and nothing at all where no one is looking (headless runs, nbgrader's own kernels, the kit absent)."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.jupytertools import (BINARY_NO_NEGATIVES, HINT_BINARY, HINT_SOFTMAX, SOFTMAX_DIM0, filled_release,
                                kernel_env, private_runtime, self_learner_course, stop_check_servers)
from tests.nbtools import REPO, RELEASE_NB

pytestmark = pytest.mark.slow

RECORD = """import socket
_received = []
_recv = socket.socket.recv
def _recording_recv(self, *args, **kwargs):
    data = _recv(self, *args, **kwargs)
    if self.family == socket.AF_UNIX:
        _received.append(bytes(data))
    return data
socket.socket.recv = _recording_recv"""
# Only these may be (or lie under) modules of the kernel that ran %autograde.
FORBIDDEN_MODULES = ("autograder.judge", "autograder.grader", "autograder.warm", "autograder.runner", "autograder.jail",
                     "autograder.checking", "solutions", "torch")
# What the kernel may receive: the table's data (the check server's reply around a results.json).
REPLY_KEYS = {"ok", "result", "error"}
RESULT_KEYS = {"score", "max_score", "status", "output", "tests", "schema", "schema_version", "student_id",
               "assignment", "exercise_max", "notebook_sha256", "key", "isolation", "seconds", "cells", "problems"}
ROW = re.compile(r"^(\w+) +(\d+(?:\.\d+)?) / (\d+) *(ok)?$", re.MULTILINE)   # a row of autograder check's table
TEST_KEYS = {"name", "exercise", "score", "max_score", "status", "output"}


def _run(cells: list[str], *, cwd: Path, env: dict) -> list:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(cwd)}}).execute(env=env)
    return nb.cells


def _stream(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _display(cell) -> dict:
    shown = [o["data"] for o in cell.outputs if o.output_type == "display_data"]
    assert len(shown) == 1, f"expected one table, got {cell.outputs}"
    return shown[0]


def kernel_session(base: Path) -> dict:
    """One kernel of the kit's environment runs `%autograde` on three notebooks, and more; then
    `autograder check` on the same three."""
    work = self_learner_course(base / "clone")
    full = filled_release(work / "full.ipynb")
    stubs = filled_release(work / "stubs.ipynb", stubs=True)
    mis = filled_release(work / "sgd_mnist.ipynb",
                         replace={"softmax": SOFTMAX_DIM0, "binary_loss": BINARY_NO_NEGATIVES})
    runtime = private_runtime()
    env = kernel_env(runtime)
    cells = {
        "record": RECORD,
        "load": "%load_ext autograder",
        "full": f"%autograde {full}",
        "stubs": f"%autograde {stubs}",
        "mis": f"%autograde {mis}",
        "mis softmax": f"%autograde {mis} softmax",
        # the kernel's own state changes nothing: a correct softmax and binary_loss defined here, after the fact
        "rebind": "def softmax(x):\n    m = x.max(-1, keepdim=True).values\n    e = (x - m).exp()\n"
                  "    return e / e.sum(-1, keepdim=True)\n"
                  "def binary_loss(y, p):\n    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()\n",
        # a change grading reads (the notebook's metadata), so that the next %autograde grades again
        "touch": f"import json, pathlib\np = pathlib.Path({str(mis)!r})\nnb = json.loads(p.read_text())\n"
                 "nb['metadata']['touched'] = True\np.write_text(json.dumps(nb))",
        "mis again": f"%autograde {mis}",
        "mis unchanged": f"%autograde {mis}",
        "modules": "import json, sys\nprint(json.dumps({'modules': {k: str(getattr(v, '__file__', None)) for k, v in "
                   "sys.modules.items()}, 'received': [b.hex() for b in _received]}))",
        # no NOTEBOOK: headless here (nbclient asks for no input), so it grades nothing
        "headless": "%autograde",
        # ... unless a frontend is attached: the notebook this kernel belongs to, said which file and how old
        "own": "get_ipython().kernel._allow_stdin = True\n"
               f"__session__ = {str(mis)!r}\n"
               "get_ipython().run_line_magic('autograde', 'softmax')",
        "own, no save": "import os, autograder.jupyter.magic as m\nm.SAVE_WAIT_S = 0.3\n"
                        "os.environ[m.SERVER_MARK] = '1'\n"
                        "get_ipython().kernel._allow_stdin = True\n"
                        "get_ipython().run_line_magic('autograde', 'softmax')",
        "no such": "%autograde no_such.ipynb",
        "bad name": "%autograde sgd-mnist",
        "nbgrader": "os.environ['NBGRADER_EXECUTION'] = 'autograde'\n"
                    f"get_ipython().run_line_magic('autograde', {str(mis)!r})",
    }
    try:
        out = dict(zip(cells, _run(list(cells.values()), cwd=work, env=env), strict=True))
        cli = {}
        for name, path in (("full", full), ("stubs", stubs), ("mis", mis)):
            cli[name] = subprocess.run([sys.executable, "-m", "autograder.cli", "check", str(path)], cwd=work,
                                       env=env, capture_output=True, text=True, timeout=300)
    finally:
        stop_check_servers(runtime)
    return {"cells": out, "cli": cli, "mis": mis}


def _rows(text: str) -> dict[str, tuple[float, float]]:
    return {m[1]: (float(m[2]), float(m[3])) for m in ROW.finditer(text)}


def same_table_as_autograder_check(session, name):
    shown, cli = _display(session["cells"][name]), session["cli"][name]
    assert cli.returncode == (0 if name == "full" else 1), cli.stderr
    rows = _rows(cli.stdout)
    assert len(rows) == 10 and all(most == 10 for _, most in rows.values())
    lost = sorted(ex for ex, (got, most) in rows.items() if got < most)
    if name == "full":
        assert lost == [] and "sgd_mnist: 100 / 100 points" in cli.stdout
    elif name == "stubs":
        assert all(got == 0 for got, _ in rows.values()) and "sgd_mnist: 0 / 100 points" in cli.stdout
    else:
        assert lost == ["binary_loss", "softmax"]
        assert HINT_SOFTMAX in cli.stdout and HINT_BINARY in cli.stdout
    total = re.search(r"^sgd_mnist: (\d+) / 100 points$", cli.stdout, re.MULTILINE)[1]
    text = shown["text/plain"]
    assert text.startswith(f"Hidden checks: {total} / 100 points (the course's grading of your saved notebook, "
                           "run apart from this kernel)\n")
    assert text.endswith(cli.stdout.rstrip("\n") + "\n"), "the text form is autograder check's table"
    html = shown["text/html"]
    assert html.startswith('<div class="autograder-result"') and "<table" in html
    assert re.search(rf'<b class="ag-total"[^>]*>Hidden checks: {total} / 100 points</b>', html)
    assert len(re.findall(r'<tr class="ag-row">', html)) == 10
    if name == "mis":
        assert "your softmax normalises along dim 0 (over the batch)" in html
        assert "the `(1 - y) * log(1 - p)` term is missing" in html


def exercise_names_grade_only_those(session):
    text = _display(session["cells"]["mis softmax"])["text/plain"]
    assert list(_rows(text)) == ["softmax"]
    got, most = _rows(text)["softmax"]
    assert text.startswith(f"Hidden checks: {got:g} / {most:g} points") and most == 10 and got < 10
    assert HINT_SOFTMAX in text and HINT_BINARY not in text


def the_grade_comes_from_the_saved_notebook_not_the_kernel(session):
    before, after = _display(session["cells"]["mis"]), _display(session["cells"]["mis again"])
    assert "unchanged since it was last checked" not in after["text/plain"], "graded again, not reused"
    assert before["text/plain"].splitlines()[2:] == after["text/plain"].splitlines()[2:]  # all but the file's age
    lost = sorted(ex for ex, (got, most) in _rows(after["text/plain"]).items() if got < most)
    assert lost == ["binary_loss", "softmax"]


def an_unchanged_notebook_gets_its_last_result_again_and_is_told_so(session):
    again, unchanged = _display(session["cells"]["mis again"]), _display(session["cells"]["mis unchanged"])
    assert unchanged["text/plain"].splitlines()[1].endswith("; unchanged since it was last checked, so the same result")
    assert again["text/plain"].splitlines()[2:] == unchanged["text/plain"].splitlines()[2:]


def _frames(data: bytes) -> list:
    """The check server's replies as sent: a 4-byte length, then JSON."""
    frames = []
    while data:
        (size,) = struct.unpack("<I", data[:4])
        frames.append(json.loads(data[4:4 + size]))
        data = data[4 + size:]
    return frames


def _check_sources() -> list[str]:
    """Distinctive lines of the hidden checks and references: none may reach the kernel."""
    lines = set()
    for path in (REPO / "solutions").rglob("*.py"):
        lines.update(line.strip() for line in path.read_text().splitlines() if len(line.strip()) > 30)
    return sorted(lines)


def the_kernel_imports_no_check_and_receives_only_the_table(session):
    seen = json.loads(_stream(session["cells"]["modules"]))
    modules = seen["modules"]
    assert "autograder.jupyter.magic" in modules
    assert [m for m in modules if m.startswith(FORBIDDEN_MODULES)] == []
    assert [f for f in modules.values() if "/solutions/" in f or Path(f).name.startswith("test_")] == []
    frames = _frames(b"".join(bytes.fromhex(h) for h in seen["received"]))
    assert len(frames) == 5, "one reply per %autograde that graded (full, stubs, mis, mis softmax, mis again)"
    for reply in frames:
        assert set(reply) <= REPLY_KEYS and reply["ok"] is True
        assert set(reply["result"]) <= RESULT_KEYS
        assert reply["result"].get("problems", []) == [], "check tracebacks are the instructor's, not the kernel's"
        for test in reply["result"]["tests"]:
            assert set(test) == TEST_KEYS
            assert all(isinstance(test[k], (int, float)) for k in ("score", "max_score"))
    received = json.dumps(frames)
    leaked = [line for line in _check_sources() if line in received]
    assert leaked == [], f"check or reference code reached the kernel: {leaked[:3]}"


def with_no_notebook_it_grades_the_kernels_own_and_says_which_file_and_how_old(session):
    cells = session["cells"]
    assert _stream(cells["headless"]) == (
        "autograder: this kernel has no frontend (a headless run: nbclient, nbconvert, papermill), so there is no "
        "notebook to check here: run `autograder check NOTEBOOK` in a terminal, or `%autograde NOTEBOOK`\n")
    assert not [o for o in cells["headless"].outputs if o.output_type == "display_data"]
    mis = session["mis"]
    plain = _display(cells["own"])["text/plain"].splitlines()
    assert plain[0] == _display(cells["mis softmax"])["text/plain"].splitlines()[0]  # %autograde NOTEBOOK softmax
    assert re.fullmatch(rf"sgd_mnist\.ipynb \({re.escape(str(mis))}\), not saved first: this kernel's Jupyter server "
                        r"has no autograder extension, so unsaved edits are not graded \(save, then run this again\); "
                        r"graded as saved \d\d:\d\d:\d\d, (just now|\d+ s ago|\d+ min ago)", plain[1]), plain[1]
    waited = _display(cells["own, no save"])["text/plain"].splitlines()[1]
    assert "Jupyter did not save it within 0.3 s (reload the page if the autograder extension was installed after " \
           "it opened); unsaved edits are not graded; graded as saved" in waited


def it_does_nothing_inside_nbgrader_and_says_what_is_wrong_in_one_line(session):
    cells = session["cells"]
    assert _stream(cells["no such"]) == f"autograder: no such notebook: {session['mis'].parent / 'no_such.ipynb'}\n"
    assert _stream(cells["bad name"]) == ("autograder: 'sgd-mnist' is neither a notebook (.ipynb) nor an exercise "
                                         "name; usage: %autograde [NOTEBOOK.ipynb] [EXERCISE ...]\n")
    assert _stream(cells["nbgrader"]) == ("autograder: %autograde does nothing while nbgrader's autograde is running "
                                         "this notebook (nbgrader grades the notebook itself)\n")
    for name in ("no such", "bad name", "nbgrader"):
        assert [o.output_type for o in cells[name].outputs] == ["stream"]


ASPECTS = (exercise_names_grade_only_those, the_grade_comes_from_the_saved_notebook_not_the_kernel,
           an_unchanged_notebook_gets_its_last_result_again_and_is_told_so,
           the_kernel_imports_no_check_and_receives_only_the_table,
           with_no_notebook_it_grades_the_kernels_own_and_says_which_file_and_how_old,
           it_does_nothing_inside_nbgrader_and_says_what_is_wrong_in_one_line)


def test_autograde_in_a_kernel_of_the_kit(tmp_path, subtests):
    """One kernel session (a kernel and a warm check server, the costly part), every aspect a subtest."""
    session = kernel_session(tmp_path)
    for name in ("full", "stubs", "mis"):
        with subtests.test(msg=f"same table as autograder check: {name}"):
            same_table_as_autograder_check(session, name)
    for aspect in ASPECTS:
        with subtests.test(msg=aspect.__name__.replace("_", " ")):
            aspect(session)


NO_KIT = """import sys
class NoKit:  # as if the kit were not installed: `import autograder` fails
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "autograder":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
assert "autograder" not in sys.modules
no_kit = NoKit()
sys.meta_path.insert(0, no_kit)"""


def _self_check_cell() -> str:
    cells = [c for c in nbformat.read(RELEASE_NB, as_version=4).cells
             if c.metadata.get("nbgrader", {}).get("grade_id") == "self_check"]
    assert len(cells) == 1 and cells[0] is not None
    return cells[0].source


def test_the_release_notebooks_self_check_cell_is_harmless_headless(tmp_path):
    """With the kit: one line (no frontend). Without it (a student's laptop): one line on how to get it."""
    env = kernel_env(tmp_path)   # no check server starts: nothing is graded here
    cell = _self_check_cell()
    cells = _run([NO_KIT, cell, "sys.meta_path.remove(no_kit)", cell], cwd=tmp_path, env=env)
    without, with_kit = cells[1], cells[3]
    assert _stream(without) == ("To check your work here, install the autograder kit (see the course README), "
                                "then re-run this cell.\n")
    assert _stream(with_kit).startswith("autograder: this kernel has no frontend (a headless run")
    for cell in (without, with_kit):
        assert [o.output_type for o in cell.outputs] == ["stream"]
