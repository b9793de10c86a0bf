"""The instructor's guide's worked example, built as the guide says, word for word from docs/instructor-guide.md:
its notebook cells and bundle files are read out of the guide, released, validated, and a small class graded:
the expected points, the example's own hints, and nothing of the kit's own lessons in the output."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "instructor-guide.md"
TEMPLATE = REPO / "autograder" / "quickstart" / "template"
pytestmark = pytest.mark.slow

# what nbgrader's "Create Assignment" toolbar writes for each cell type the guide names
TOOLBAR = {"autograded answer": dict(solution=True, locked=False), "read-only": dict(solution=False, locked=True)}


def guide_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)


def build_course(root: Path) -> Path:
    cells = []
    for block in guide_blocks():
        first, _, body = block.partition("\n")
        if m := re.fullmatch(r"# cell: (\w+) \(([\w -]+)\)", first):
            meta = {"grade": False, "grade_id": m[1], "schema_version": 3, "task": False, **TOOLBAR[m[2]]}
            cells.append(nbformat.v4.new_code_cell(body.rstrip("\n"), metadata={"nbgrader": meta}))
        elif m := re.fullmatch(r"# file: (\S+)", first):
            path = root / m[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
    assert len(cells) == 5, "the guide's notebook has five cells"
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                        "display_name": "Python 3"}})
    (root / "source" / "vectors").mkdir(parents=True)
    nbformat.write(nb, root / "source" / "vectors" / "vectors.ipynb")
    shutil.copy(TEMPLATE / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def cli(*args, cwd):
    env = dict(os.environ, AUTOGRADER_NO_SERVER="1")
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)


STUDENTS = {
    "summed_nothing": {"dot": "def dot(a, b):\n    return a * b\n"},
    "borrowed": {"dot": "import torch\n\ndef dot(a, b):\n    return torch.dot(a, b)\n"},
    "no_sqrt": {"unit": "def unit(x):\n    return x / (x * x).sum(dim=-1, keepdim=True)\n"},
}


def test_the_guides_example_releases_validates_and_grades(tmp_path):
    course = build_course(tmp_path / "course")
    released = cli("release", "vectors", cwd=course)
    assert released.returncode == 0, released.stderr
    validated = cli("validate", "vectors", cwd=course)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "vectors: ready to hand out" in validated.stdout

    source = course / "source" / "vectors" / "vectors.ipynb"
    release = course / "release" / "vectors" / "vectors.ipynb"
    subs = tmp_path / "class"
    for sid, nb in (("sol", source), ("stub", release)):
        (subs / sid).mkdir(parents=True)
        shutil.copy(nb, subs / sid / "vectors.ipynb")
    for sid, cells in STUDENTS.items():
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in cells:
                cell.source = cells[gid]
        (subs / sid).mkdir(parents=True)
        nbformat.write(nb, subs / sid / "vectors.ipynb")
    graded = cli("grade", "vectors", "--submissions", str(subs), "--out", str(tmp_path / "out"), cwd=course)
    assert graded.returncode == 0, graded.stderr[-3000:]

    rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    points = {sid: (r["dot"], r["unit"], r["total"]) for sid, r in rows.items()}
    assert points == {"sol": ("10", "10", "20"), "stub": ("0", "0", "0"), "summed_nothing": ("0", "10", "10"),
                      "borrowed": ("0", "10", "10"), "no_sqrt": ("10", "0", "10")}

    def hints(sid, exercise):
        data = json.loads((tmp_path / "out" / sid / "results.json").read_text())
        return " ".join(t["output"] for t in data["tests"] if t["exercise"] == exercise)
    assert "without summing them: the dot product is one number" in hints("summed_nothing", "dot")
    assert "`dot` breaks the exercise's rule (no a built-in matrix product)" in hints("borrowed", "dot")
    assert "`torch.dot`" in hints("borrowed", "dot") and "Multiply element by element" in hints("borrowed", "dot")
    assert "divides by the sum of squares, not by its square root" in hints("no_sqrt", "unit")
    everything = released.stdout + validated.stdout + graded.stdout + graded.stderr + "".join(
        p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "sgd_mnist" not in everything and "mnist_basics" not in everything
