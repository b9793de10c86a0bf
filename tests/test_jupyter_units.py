"""The Jupyter side's small pieces, alone: argument parsing, the table's words and escaping, the saved-file
checks, the endpoint's path rules, and that `import autograder` stays light."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.jupyter import grading, magic, serverext, table
from autograder.results import CRASHED, GRADED, TIMEOUT, CheckResult, SubmissionResult
from tests.nbtools import REPO


def _result(**kw) -> SubmissionResult:
    base = dict(student_id="self", assignment="sgd_mnist", exercise_max={"softmax": 10.0, "accuracy": 10.0},
                tests=[CheckResult("softmax: values [cpu]", "softmax", 0.0, 6.0, "failed",
                                   "rows sum to 1 along dim 0 <script>alert(1)</script>"),
                       CheckResult("softmax: contract", "softmax", 4.0, 4.0, "passed", ""),
                       CheckResult("accuracy: values", "accuracy", 10.0, 10.0, "passed", "")])
    base.update(kw)
    return SubmissionResult(**base)


def test_import_autograder_stays_light_and_offers_the_ipython_extension():
    code = ("import sys, autograder; assert callable(autograder.load_ipython_extension); "
            "print(sorted(m for m in sys.modules if m.startswith(('autograder', 'IPython', 'torch', 'jupyter'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['autograder']"


@pytest.mark.parametrize("line, notebooks, exercises", [
    ("", [], ()),
    ("nb.ipynb", ["nb.ipynb"], ()),
    ("softmax accuracy", [], ("softmax", "accuracy")),
    ("'my work.ipynb' softmax", ["my work.ipynb"], ("softmax",)),
])
def test_parse_takes_notebooks_by_their_suffix_and_names_for_the_rest(line, notebooks, exercises, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert magic.parse(line) == ([tmp_path / n for n in notebooks], exercises)


@pytest.mark.parametrize("line, says", [("soft-max", "'soft-max' is neither a notebook (.ipynb) nor an exercise name"),
                                        ("'unclosed", "No closing quotation")])
def test_parse_refuses_what_is_neither(line, says):
    with pytest.raises(magic.Refused, match=re.escape(says)):
        magic.parse(line)


def test_kernel_notebook_prefers_what_the_server_told_the_kernel(tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert magic.kernel_notebook({}) is None
    assert magic.kernel_notebook({"__session__": "/a/b.ipynb"}) == Path("/a/b.ipynb")
    assert magic.kernel_notebook({"__vsc_ipynb_file__": "/c/d.ipynb"}) == Path("/c/d.ipynb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", "course/lesson.ipynb")   # older servers: a path from their root
    assert magic.kernel_notebook({}) == tmp_path / "lesson.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", "console-1")               # a console's session: no notebook
    assert magic.kernel_notebook({}) is None


def test_a_notebook_mid_save_is_not_taken_for_saved(tmp_path):
    nb = tmp_path / "nb.ipynb"
    nb.write_text("")
    assert not magic._written(nb)                       # truncated, not yet written
    nb.write_text(json.dumps({"cells": [], "metadata": {}})[:10])
    assert not magic._written(nb)                       # cut short
    nb.write_text(json.dumps({"cells": [], "metadata": {}}))
    (tmp_path / ".~nb.ipynb").write_text("the backup jupyter_server keeps until the write is done")
    assert not magic._written(nb)
    (tmp_path / ".~nb.ipynb").unlink()
    assert magic._written(nb)


def test_the_table_escapes_every_text_and_names_the_hidden_checks():
    html = table.render_html(_result(), about="nb.ipynb <b>x</b>")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "nb.ipynb &lt;b&gt;x&lt;/b&gt;" in html
    assert ">Hidden checks: 14 / 20 points</b> &mdash; the course&#x27;s grading of your saved notebook, run apart " \
           "from this kernel</p>" in html
    assert html.count('<tr class="ag-row">') == 2 and html.count("<details") == 2
    assert '<div style="width:40.0%' in html and '<div style="width:100.0%' in html   # the bars
    text = table.render_text(_result(), about="nb.ipynb")
    assert text.startswith("Hidden checks: 14 / 20 points (the course's grading of your saved notebook, run apart "
                           "from this kernel)\nnb.ipynb\n\nsgd_mnist: 14 / 20 points\n")


@pytest.mark.parametrize("status, words", [
    (TIMEOUT, "Not graded: your notebook ran past its time limit (an endless loop, or far too slow)."),
    (CRASHED, "Not graded: your code ended the process it ran in (os._exit, a crash, or more memory than allowed)."),
])
def test_a_timeout_or_a_crash_says_so_in_words(status, words):
    result = SubmissionResult.from_error(student_id="self", assignment="sgd_mnist", status=status,
                                         message="the notebook ran for 600 s", exercise_max={"softmax": 10.0})
    html, text = table.render_html(result), table.render_text(result)
    assert f"<b>{words}</b><br>the notebook ran for 600 s" in html
    assert text.splitlines()[1] == words
    assert table.not_graded(_result(status=GRADED)) == ""


@pytest.mark.parametrize("seconds, said", [(0.5, "just now"), (42, "42 s ago"), (190, "3 min ago"),
                                           (5 * 3600 + 1, "5 h ago"), (86400, "1 day ago"), (3 * 86400, "3 days ago")])
def test_age_says_how_long_ago_as_people_do(seconds, said):
    assert grading.age(seconds) == said


def test_the_endpoint_grades_only_notebooks_under_its_root(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "nb.ipynb").write_text("{}")
    assert serverext.notebook_path(str(tmp_path), "a/nb.ipynb") == tmp_path / "a" / "nb.ipynb"
    assert serverext.notebook_path(str(tmp_path), "/a/nb.ipynb") == tmp_path / "a" / "nb.ipynb"
    for path, says in (("../x.ipynb", "outside this Jupyter server's folder"), ("a/nb.py", "not a notebook path"),
                       (None, "not a notebook path"), ("b.ipynb", "no such notebook")):
        with pytest.raises(serverext.NotGradable, match=says):
            serverext.notebook_path(str(tmp_path), path)
    assert serverext.exercise_names(["softmax"]) == ("softmax",) and serverext.exercise_names(None) == ()
    with pytest.raises(serverext.NotGradable):
        serverext.exercise_names(["soft max"])


LABEXT = REPO / "autograder" / "jupyter" / "labextension"


def test_the_prebuilt_labextension_is_built_from_its_source_package():
    built = json.loads((LABEXT / "package.json").read_text())
    source = json.loads((REPO / "jupyterlab-autograder" / "package.json").read_text())
    for key in ("name", "version", "dependencies"):
        assert built[key] == source[key], f"{key} differs: rebuild with `make labextension`"
    assert (LABEXT / built["jupyterlab"]["_build"]["load"]).is_file()
    assert built["name"] == "jupyterlab-autograder" == __import__("autograder.jupyter").jupyter.LABEXTENSION


def test_a_wheel_installs_the_labextension_and_enables_the_server_extension(tmp_path):
    """pip installs the built files where JupyterLab and jupyter-server look (no Node.js involved)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "autograder", tmp_path / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    code = "from setuptools import build_meta as b; print(b.build_wheel('dist'))"
    build = subprocess.run([sys.executable, "-c", code],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    with zipfile.ZipFile(tmp_path / "dist" / build.stdout.strip().splitlines()[-1]) as wheel:
        names = wheel.namelist()
        data = sorted(n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n)
        config = json.loads(wheel.read(next(n for n in names if n.endswith("jupyter_server_config.d/autograder.json"))))
    share = "share/jupyter/labextensions/jupyterlab-autograder/"
    assert data == sorted(["etc/jupyter/jupyter_server_config.d/autograder.json", share + "package.json"]
                          + [share + "static/" + p.name for p in (LABEXT / "static").iterdir()])
    assert config == {"ServerApp": {"jpserver_extensions": {"autograder.jupyter": True}}}
