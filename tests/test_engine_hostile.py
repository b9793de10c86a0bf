"""Hostile and broken submissions through the real engine: each is contained, costs only itself, and still
gets its honest grade for everything it did not break."""
from __future__ import annotations

import pytest

from dataclasses import replace

from autograder.notebook import read_cells
from autograder.config import GradeOptions
from autograder.grader import grade_notebooks
from tests._grading import BUNDLE
from tests.nbtools import REPO, full, variant

FAST = GradeOptions(cell_timeout=3.0,
                    exercises=("softmax", "log_softmax", "binary_loss", "matmul"))


# Top-level hostility is graded with every cell run: with cell selection on, such cells are not even run
# (they define nothing grading needs), which is safe but would test nothing.
FULL = replace(FAST, select_cells=False)


def grade(path, sid="hostile", options=FAST):
    return grade_notebooks(notebooks=[path], student_id=sid, bundle=BUNDLE, options=options)


WRONG_SOFTMAX = "def softmax(x):\n    return x.exp()\n"


def test_monkeypatched_comparisons_do_not_help_a_wrong_answer(tmp_path):
    patches = ("import torch, numpy, unittest, math\n"
               "torch.testing.assert_close = lambda *a, **k: None\n"
               "torch.allclose = lambda *a, **k: True\n"
               "torch.equal = lambda *a, **k: True\n"
               "torch.Tensor.__eq__ = lambda *a, **k: True\n"
               "numpy.testing.assert_allclose = lambda *a, **k: None\n"
               "numpy.allclose = lambda *a, **k: True\n"
               "unittest.TestCase.assertEqual = lambda *a, **k: None\n"
               "math.isclose = lambda *a, **k: True\n")
    r = grade(variant(tmp_path / "nb.ipynb", replace={"softmax": WRONG_SOFTMAX + patches}))
    assert r.status == "graded"
    assert r.exercise_scores()["softmax"] == 0 or not full(r, "softmax")
    assert full(r, "log_softmax") and full(r, "binary_loss") and full(r, "matmul")


@pytest.mark.parametrize("exit_code", ["import os\nos._exit(0)", "raise SystemExit(0)", "import sys\nsys.exit()"])
def test_exit_at_top_level_costs_only_its_cell(tmp_path, exit_code):
    r = grade(variant(tmp_path / "nb.ipynb", insert_after={"softmax": exit_code}), options=FULL)
    assert r.status == "graded"
    assert all(full(r, e) for e in FAST.exercises), r.exercise_scores()
    assert any(c["status"] in ("crashed", "error") for c in r.cells)


@pytest.mark.parametrize("body", ["import os\n    os._exit(0)", "raise SystemExit(3)",
                                  "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)"])
def test_exit_inside_a_graded_call_costs_only_that_exercise(tmp_path, body):
    r = grade(variant(tmp_path / "nb.ipynb", replace={"softmax": f"def softmax(x):\n    {body}\n"}))
    assert r.status == "graded"
    assert r.exercise_scores()["softmax"] == 0
    assert full(r, "log_softmax") and full(r, "binary_loss") and full(r, "matmul"), r.exercise_scores()


def test_endless_top_level_cell_loses_only_itself(tmp_path):
    loop = "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n"
    path = variant(tmp_path / "nb.ipynb", insert_after={"log_softmax": loop})
    r = grade(path, options=FULL)
    assert r.status == "graded"
    assert all(full(r, e) for e in FAST.exercises), r.exercise_scores()
    loop_index = read_cells(path).index(loop)
    assert {c["index"]: c["status"] for c in r.cells}[loop_index] == "timeout"


def test_endless_function_ignoring_signals_loses_only_its_exercise(tmp_path):
    stubborn = ("import signal\n"
                "def softmax(x):\n"
                "    for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):\n"
                "        signal.signal(s, signal.SIG_IGN)\n"
                "    while True:\n"
                "        try:\n"
                "            pass\n"
                "        except BaseException:\n"
                "            pass\n")
    opts = replace(FAST, exercises=("softmax", "log_softmax"))
    r = grade_notebooks(notebooks=[variant(tmp_path / "nb.ipynb", replace={"softmax": stubborn})],
                        student_id="stubborn", bundle=BUNDLE, options=opts)
    assert r.status == "graded"
    assert r.exercise_scores()["softmax"] == 0
    assert full(r, "log_softmax"), r.exercise_scores()
    assert any("time" in t.output for t in r.tests if t.exercise == "softmax")


def test_memory_hog_and_printing_are_contained(tmp_path):
    hog = ("import torch\n"
           "try:\n"
           "    big = torch.ones(4 * 1024 ** 3)\n"
           "except RuntimeError:\n"
           "    pass\n"
           "for _ in range(300):\n"
           "    print('x' * 1_000_000)\n")
    r = grade(variant(tmp_path / "nb.ipynb", append=[hog]), options=FULL)
    assert r.status == "graded"
    assert all(full(r, e) for e in FAST.exercises)
    assert max(len(c.get("output", "")) for c in r.cells) < 20_000   # 300 MB of output, capped


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"), (b'{"cells": [', "truncated"), (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file"),
    (b'{"hello": 1}', "not a Jupyter notebook")])
def test_broken_files_get_a_clear_status(tmp_path, content, expect):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(content)
    r = grade(path)
    assert r.status == "invalid_notebook" and r.score == 0
    assert expect in r.message or (expect == "truncated" and "JSON" in r.message), r.message
    assert r.max_score > 0 and set(r.exercise_max) == set(FAST.exercises)


def test_deleted_renamed_and_syntax_error_cells_are_explained(tmp_path):
    r = grade(variant(tmp_path / "nb.ipynb", drop=("matmul",),
                      replace={"softmax": "def soft_max(x):\n    return x.softmax(-1)\n",
                               "binary_loss": "def binary_loss(y, p)\n    return 0\n"}))
    assert r.status == "graded"
    assert full(r, "log_softmax")
    for ex in ("matmul", "softmax", "binary_loss"):
        assert r.exercise_scores()[ex] == 0
        hints = " ".join(t.output for t in r.tests if t.exercise == ex)
        assert "not defined" in hints or "SyntaxError" in hints or "syntax" in hints.lower(), (ex, hints)
    assert any("SyntaxError" in c.get("error", "") for c in r.cells)
