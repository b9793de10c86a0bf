"""A broken hidden check is the instructor's problem: `grade` prints its traceback and exits non-zero, the
result says `check_error`, and the student's feedback blames no code of theirs (nor shows the check's)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "autograder" / "quickstart" / "template"
pytestmark = pytest.mark.slow


def cli(*args, cwd):
    env = dict(os.environ, AUTOGRADER_NO_SERVER="1")
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)


def test_a_broken_check_is_reported_to_the_instructor_not_the_student(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(TEMPLATE, course)
    check = course / "solutions" / "example" / "test_relu.py"
    check.write_text(check.read_text() + '''

@points(2)
def test_a_typo(jail, gen, device):
    """a check with a typo"""
    x = torch.randn(3, generator=gen)
    r = jail.call(NAME, x, device=device)
    return refernce.relu(x)          # NameError: the instructor's typo
''')
    check.write_text(check.read_text().replace("import Case, Forbidden", "import Case, Forbidden, points"))
    sub = tmp_path / "class" / "ann"
    sub.mkdir(parents=True)
    shutil.copy(course / "source" / "example" / "example.ipynb", sub / "example.ipynb")
    graded = cli("grade", "example", "--submissions", str(tmp_path / "class"), "--out", str(tmp_path / "out"),
                 cwd=course)
    assert graded.returncode == 1, graded.stderr[-2000:]
    assert "a hidden check raised an exception" in graded.stderr
    assert "NameError: name 'refernce' is not defined" in graded.stderr and "test_relu.py" in graded.stderr

    result = json.loads((tmp_path / "out" / "ann" / "results.json").read_text())
    assert result["status"] == "check_error"
    broken = [t for t in result["tests"] if t["name"] == "a check with a typo [cpu]"]
    assert broken == [{"name": "a check with a typo [cpu]", "exercise": "relu", "score": 0.0, "max_score": 2.0,
                       "status": "error", "output": "this check could not run; your instructor has been told"}]
    assert all(t["status"] == "passed" for t in result["tests"] if t is not broken[0] and t["max_score"])
    for name in ("feedback.html", "feedback.md"):
        page = (tmp_path / "out" / "ann" / name).read_text()
        assert "this check could not run; your instructor has been told" in page
        assert "refernce" not in page and "NameError" not in page and "Traceback" not in page
        assert "your code" not in page.lower()

    assert cli("release", "example", cwd=course).returncode == 0
    validated = cli("validate", "example", cwd=course)    # the gate fails, with the traceback
    assert validated.returncode == 2 and "NameError: name 'refernce' is not defined" in validated.stdout

    mine = tmp_path / "mine.ipynb"                         # a self-learner's check never shows check code
    shutil.copy(course / "source" / "example" / "example.ipynb", mine)
    checked = cli("check", str(mine), "--assignment", "example", "--course-root", str(course), cwd=tmp_path)
    assert checked.returncode == 1
    assert "refernce" not in checked.stdout + checked.stderr and "could not run" in checked.stdout + checked.stderr
