"""Cell selection (`needed_cells` in autograder/judge/source.py), alone: which code the jail runs when grading. It keeps what the
exercises need (imports, definitions, constants, and whole any cell defining a global they read), blanks the
rest line by line (tracebacks keep their line numbers), and grading with it gives the same results as running
every cell."""
from __future__ import annotations

import json
from dataclasses import replace

import nbformat
import pytest

from _grading import ASSIGNMENT, BUNDLE, REPO
from autograder.judge.source import StudentSource
from autograder.config import GradeOptions
from autograder.grader import grade_notebooks
from autograder.judge.source import needed_cells as select_cells
from catalogue import notebook, write

CONTRACT = ("binary_loss", "categorical_cross_entropy", "softmax", "log_softmax", "matmul", "LogReg", "fit",
            "sgd_step", "normalize", "accuracy")


def _select(*sources: str) -> dict[int, str]:
    cells = list(enumerate(sources))
    return dict(select_cells(cells, StudentSource(cells)))


def test_keeps_definitions_and_blanks_work_keeping_line_numbers():
    cell = ("import torch\n"
            "N = 10\n"
            "x = torch.randn(1000, 1000)\n"
            "def f(a):\n"
            "    return a * N\n"
            "for _ in range(100):\n"
            "    x = x @ x\n"
            "print(f(3))\n")
    out = _select(cell)[0]
    assert out.splitlines() == ["import torch", "N = 10", "", "def f(a):", "    return a * N", "", "", ""]


def test_restores_a_cell_defining_what_a_kept_definition_reads():
    data = "import torch\nW = torch.randn(3, 3)\nfor i in range(3):\n    print(i)\n"
    uses = "def f(x):\n    return x @ W\n"
    other = "import torch\nB = torch.zeros(3)\n"
    out = _select(data, uses, other)
    assert out[0] == data                      # W is read by f: its whole cell runs
    assert out[1] == uses
    assert out[2].splitlines() == ["import torch", ""]   # B is read by nothing kept


def test_cells_that_do_not_parse_are_kept_whole_and_magics_are_translated():
    broken = "def f(:\n    pass\n"
    magic = "%matplotlib inline\nimport torch\n"
    out = _select(broken, magic, "!pip install torch\n")
    assert out[0] == broken                    # the jail reports its syntax error, as Jupyter would
    assert out[1].splitlines()[1] == "import torch" and "%" not in out[1]
    assert 2 not in out                        # a shell command is never run


@pytest.mark.parametrize("folder", ["source", "release"])
def test_the_lesson_notebook_keeps_every_exercise_and_skips_training(folder):
    path = REPO / folder / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    selected = dict(select_cells(cells, StudentSource(cells)))
    source = StudentSource(list(selected.items()))
    assert all(source.definition(name) is not None for name in CONTRACT)
    top_level_calls = {name for i in selected for st in (source.tree(i).body if source.tree(i) else [])
                       for name in [getattr(getattr(getattr(st, "value", None), "func", None), "id", None)] if name}
    assert not top_level_calls & {"fit", "train", "show_digits"}, top_level_calls
    assert len(selected) < len(cells)          # the data, training and plotting cells are not run


def test_grading_with_selection_equals_running_every_cell(tmp_path):
    """The same scores and hints with selection on and off, for a notebook with exploratory cells around the
    exercises (a print loop, a small training run, a plot)."""
    nb = notebook()
    nb.cells.insert(1, nbformat.v4.new_code_cell("xs = torch.randn(64, 784)\nys = torch.randint(0, 10, (64,))\n"
                                                 "for k in range(3):\n    print(k, xs[k].sum())\n"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "model = LogReg()\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "losses = fit(model, [(xs, ys)] * 5, torch.nn.functional.nll_loss, opt)\n"
        "import matplotlib.pyplot as plt\nplt.plot(losses)\n"))
    path = write(nb, tmp_path / "explored.ipynb")
    opts = GradeOptions()
    results = [grade_notebooks(notebooks=[path], student_id="selection", bundle=BUNDLE,
                               options=replace(opts, select_cells=select)) for select in (True, False)]
    assert all(r.status == "graded" for r in results), [r.message for r in results]
    on, off = ([(t.name, t.score, t.output) for t in r.tests] for r in results)
    assert on == off
    assert results[0].score == results[0].max_score
    ran = {c["index"]: c["status"] for c in results[1].cells}
    assert all(s == "ok" for s in ran.values()), results[1].cells
