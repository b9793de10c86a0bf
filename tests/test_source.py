"""The judge's reading of a student's source (`StudentSource`), alone: which definition is graded, what binds a
name again after its exercise cell, and what a definition reads. Its answers are worked out once per
submission and kept, so each question is asked twice here: the second answer must be the first."""
from __future__ import annotations

from autograder.judge.source import StudentSource

CELLS = [
    (0, "import torch\nfrom torch import softmax as sm\n"),
    (1, "def f(x):\n    return sm(x, dim=-1)\n"),
    (2, "# globals() is mentioned only in this comment\ny = 3\n"),
    (3, "def f(x):\n    return torch.softmax(x, dim=1)\n"),
    (4, "vars()['g'] = print\nglobals().update(h=len)\nglobals().update({'k': abs})\n"),
    (5, "def g(x):\n    return x\ng = 1\n"),
]


def test_the_graded_definition_is_the_last_one_and_its_cell():
    src = StudentSource(CELLS, exercise_cells={"f": 1})
    for _ in range(2):
        assert src.cell_index("f") == 3
        assert src.definition("f").body[0].value.func.attr == "softmax"
        assert src.cell("f") == CELLS[3][1]
        assert src.cell_index("g") == 5 and type(src.definition("g")).__name__ == "Assign"  # `g = 1` comes last
        assert src.cell_index("nothing") is None and src.definition("nothing") is None and src.cell("nothing") is None


def test_rebindings_see_defs_assignments_and_the_namespace_writes():
    src = StudentSource(CELLS, exercise_cells={"f": 1, "g": 5, "y": 2, "h": 0, "k": 0})
    for _ in range(2):
        assert src.rebindings("f") == [3]
        assert src.rebindings("y") == []
        assert src.rebindings("h") == [4] and src.rebindings("k") == [4]
    assert StudentSource(CELLS, exercise_cells={"g": 1}).rebindings("g") == [4, 5]


def test_resolved_names_follow_aliases_and_each_answer_is_the_callers_own():
    src = StudentSource(CELLS[:2])
    first = src.resolved_names("f")
    assert first == {"torch.softmax", "x"}
    first.add("mutated by the caller")
    assert src.resolved_names("f") == {"torch.softmax", "x"}


def test_the_walker_visits_what_ast_walk_does_in_the_same_order():
    """`walk` replaces ast.walk in the judge: on the kit's own modules and on every code cell of the course's
    notebooks, the same nodes in the same order."""
    import ast
    import json
    from pathlib import Path

    from autograder.judge.source import walk
    repo = Path(__file__).resolve().parents[1]
    sources = [p.read_text(encoding="utf-8") for p in sorted((repo / "autograder").rglob("*.py"))]
    for nb in sorted(repo.glob("source/*/*.ipynb")):
        sources += ["".join(c["source"]) for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
                    if c["cell_type"] == "code"]
    trees = []
    for text in sources:
        try:
            trees.append(ast.parse(text))
        except SyntaxError:   # a cell with IPython syntax
            pass
    assert len(trees) > 60
    for tree in trees:
        for node in [tree, *tree.body[:3]]:
            assert walk(node) == list(ast.walk(node))
