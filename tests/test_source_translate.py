"""What the judge hands the jail: plain Python as written, IPython syntax translated."""
from __future__ import annotations

import ast

import pytest

from autograder.judge.source import translate

PLAIN = ["\n\nimport torch\nx = 1  # a comment\n", "def f(x):\n    return x % 2\n", "", "print('%time', '!ls')"]
IPYTHON = ["%matplotlib inline\nimport torch\n", "!pip install torch\nx = 1\n", "x = 1\nx?\n",
           "files = !ls\n", "%%time\ny = 2\n", "  x = 1\n"]


@pytest.mark.parametrize("source", PLAIN)
def test_plain_python_is_kept_as_written(source):
    assert translate(source) == source      # line numbers in tracebacks match the notebook's


@pytest.mark.parametrize("source", IPYTHON)
def test_ipython_syntax_becomes_python(source):
    out = translate(source)
    assert out != source
    ast.parse(out)


def test_a_translation_is_worked_out_once_per_source(monkeypatch):
    """A class's notebooks share their instructor's cells: IPython translates each distinct one once per judge,
    and the same source always gets the same code (a syntax error included)."""
    from autograder.judge import source as src
    calls = []
    real = src.TransformerManager

    class Counting(real):
        def transform_cell(self, cell):
            calls.append(cell)
            return super().transform_cell(cell)
    monkeypatch.setattr(src, "TransformerManager", Counting)
    monkeypatch.setattr(src, "_TRANSLATED", {})
    cell, broken = "%matplotlib inline\nimport math\n", "x = (\n%time y\n"
    first = [translate(cell), translate(broken)]
    assert [translate(cell), translate(broken)] == first == [
        "get_ipython().run_line_magic('matplotlib', 'inline')\nimport math\n", broken]
    assert calls == [cell, broken]
    monkeypatch.setattr(src, "_TRANSLATED_MAX", 1)   # full: it starts again rather than growing
    translate("%time z = 1\n")
    assert list(src._TRANSLATED) == ["%time z = 1\n"]
