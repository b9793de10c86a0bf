"""The engine package holds no assignment (bundle issue, acceptance 3): no file of `autograder/` names an
assignment of this course, and no engine code branches on, or keys a table by, an exercise's name. (Docstrings
and comments may use an exercise as an example; the rules library names PyTorch's own functions, as sets.)"""
from __future__ import annotations

import ast

import nbformat
import pytest

from autograder.coursedir import CourseDir
from tests.nbtools import REPO

COURSE = CourseDir(REPO)
ENGINE = REPO / "autograder"
ASSIGNMENTS = COURSE.assignments()


def _exercises() -> set[str]:
    names = set()
    for a in ASSIGNMENTS:
        nb = nbformat.read(COURSE.source(a) / f"{a}.ipynb", as_version=4)
        names |= {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("solution")}
    return names - {None}


EXERCISES = _exercises()


def _engine_files():
    return [p for p in ENGINE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_the_course_has_what_this_test_looks_for():
    assert set(ASSIGNMENTS) >= {"sgd_mnist", "mnist_basics"} and {"softmax", "mean_image", "BasicOptim"} <= EXERCISES


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_engine_file_names_an_assignment(assignment):
    named = [str(p.relative_to(REPO)) for p in _engine_files()
             if assignment.encode() in p.read_bytes()]
    assert named == [], f"{assignment} is named in the engine package"


def _string_uses(tree: ast.AST):
    """String constants the code acts on: compared with (==, !=, in), matched in a case, or a dict's key."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                elts = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                yield from (e for e in elts if isinstance(e, ast.Constant))
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
            yield node.value
        elif isinstance(node, ast.Dict):
            yield from (k for k in node.keys if isinstance(k, ast.Constant))


def test_no_engine_code_branches_on_an_exercise_name():
    found = []
    for path in ENGINE.rglob("*.py"):
        for const in _string_uses(ast.parse(path.read_text(encoding="utf-8"))):
            if const.value in EXERCISES:
                found.append(f"{path.relative_to(REPO)}:{const.lineno}: {const.value!r}")
    assert found == []


def test_the_scan_sees_a_branch_on_an_exercise_name():
    planted = 'def f(name):\n    return {"softmax": 1}.get(name) if name == "LogReg" else 0\n'
    assert {c.value for c in _string_uses(ast.parse(planted))} == {"softmax", "LogReg"}
