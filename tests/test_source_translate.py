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
