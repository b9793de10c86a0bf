"""The benchmark's class builder (benchmarks/classbuild.py), not its timings: for N=3 it writes valid nbgrader
notebooks, the same files for nbgrader and the kit, and the kit grades the reference student full marks.
(Speed is measured by `make bench`, never asserted in tests.)"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat

from tests._grading import grade

REPO = Path(__file__).resolve().parents[1]


def _classbuild():
    path = REPO / "benchmarks" / "classbuild.py"
    spec = importlib.util.spec_from_file_location("bench_classbuild", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_bench_class_builder(tmp_path):
    cb = _classbuild()
    bc = cb.build(tmp_path, 3)
    assert list(bc.students.values()) == list(cb.MIX[:3])
    reference = next(sid for sid, variant in bc.students.items() if variant == "ada")

    for sid in bc.students:
        path = bc.notebook(sid)
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        meta = [c.metadata["nbgrader"] for c in nb.cells]
        assert all(m["schema_version"] == 3 for m in meta)
        assert [m["grade_id"] for m in meta if m["solution"]] == list(cb.EXERCISES)
        tests = [m for m in meta if m["grade"]]
        assert [m["grade_id"] for m in tests] == [f"test_{ex}" for ex in cb.EXERCISES if ex in cb.TESTS]
        assert all(m["points"] == cb.TEST_POINTS and m["locked"] for m in tests)
        code = "\n".join(c.source for c in nb.cells)
        assert "### BEGIN SOLUTION" not in code and "NotImplementedError" not in code
        assert not any(c.metadata["nbgrader"]["grade_id"] in ("load", "train") for c in nb.cells)

    # the released notebook came from nbgrader itself, and both courses hold the same assignment
    release = bc.nbgrader_course / "release" / cb.ASSIGNMENT / cb.NOTEBOOK
    assert "NotImplementedError" in release.read_text()
    assert (bc.autograder_course / "release" / cb.ASSIGNMENT / cb.NOTEBOOK).read_text() == release.read_text()
    assert (bc.autograder_course / "release" / cb.ASSIGNMENT / "mnist_data.py").is_file()
    assert json.loads(bc.notebook("ben001").read_text()) != json.loads(bc.notebook(reference).read_text())

    result = grade(bc.notebook(reference), reference)
    assert result.score == result.max_score > 0, result.exercise_scores()
