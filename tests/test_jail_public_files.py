"""A jail's public files and its tracebacks, probed from inside: the helper files next to the notebook are
imported from the bytecode its session server compiled once (not compiled again in every jail), behave as
Python's own `.pyc` files would (a broken helper raises its SyntaxError, a module the student writes is
compiled as usual), and a student's traceback shows their own lines and no frame of torch's."""
from __future__ import annotations

import os

import pytest
import torch

from autograder.grader import hidden_paths
from autograder.jail.spawn import JailSpec, Zygote
from autograder.judge.client import JailClient
from autograder.judge.feedback import StudentError
from tests._grading import BUNDLE

ISOLATIONS = ["rlimits", pytest.param("namespaces", marks=pytest.mark.skipif(
    os.geteuid() != 0, reason="namespaces need root here: run the suite as root to test them"))]

FILES = {"helper.py": "ANSWER = 41 + 1\n\ndef twice(x):\n    return 2 * x\n",
         "broken.py": "def oops(:\n    pass\n"}

SETUP = r'''
import importlib, importlib._bootstrap_external as _bx, sys
compiled = []
_original = _bx.SourceLoader.source_to_code
def _recording(self, data, path, *a, **k):
    compiled.append(path.rsplit("/", 1)[-1])
    return _original(self, data, path, *a, **k)
_bx.SourceLoader.source_to_code = _recording
import helper

def probe_helper():
    return [helper.ANSWER, helper.twice(21), list(compiled)]

def probe_own_module():
    with open("mine.py", "w") as f:
        f.write("ANSWER = 7\n")
    import mine
    return [mine.ANSWER, list(compiled)]

def probe_broken():
    try:
        import broken
    except SyntaxError as e:
        return ["SyntaxError", e.filename.rsplit("/", 1)[-1], e.lineno]
    return ["imported"]
'''

FAILING = '''import torch

def shaky(x):
    y = x * 2
    return y @ torch.ones(5, 5)          # x is (3,): the shapes do not match
'''


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_helpers_load_from_the_session_bytecode_and_behave_as_python_files(zygote, isolation):
    session = zygote.session(isolation=isolation)
    try:
        for _ in range(2):      # the second jail gets the same bytecode, compiled once by the session server
            client = JailClient(session, JailSpec(cells=[(0, SETUP)], files=dict(FILES),
                                                  hidden=hidden_paths(BUNDLE), cell_timeout=20))
            try:
                client.start()
                assert client.cells[0]["status"] == "ok", client.cells
                assert client.call("probe_helper").value == [42, 42, []]    # read, not compiled
                assert client.call("probe_broken").value == ["SyntaxError", "broken.py", 1]
                assert client.call("probe_own_module").value == [7, ["broken.py", "mine.py"]]   # compiled: no .pyc
            finally:
                client.close()
    finally:
        session.close()


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_students_traceback_shows_their_lines_only(zygote, isolation):
    session = zygote.session(isolation=isolation)
    client = JailClient(session, JailSpec(cells=[(0, "x = 1\n"), (3, FAILING)], hidden=hidden_paths(BUNDLE),
                                          cell_timeout=20))
    try:
        with pytest.raises(StudentError) as err:
            client.call("shaky", torch.ones(3))
        detail = err.value.detail
        assert 'File "<cell 3>", line 5, in shaky' in detail, detail
        assert "return y @ torch.ones(5, 5)" in detail, detail            # the student's own line, shown
        assert "RuntimeError" in detail and "site-packages" not in detail and "torch/" not in detail, detail
    finally:
        client.close()
        session.close()


def test_a_cell_that_fails_shows_its_line(zygote):
    session = zygote.session(isolation="rlimits")
    client = JailClient(session, JailSpec(cells=[(2, "a = 1\nb = a / 0\n")], hidden=[], cell_timeout=20))
    try:
        client.start()
        error = client.cells[0]["error"]
        assert 'File "<cell 2>", line 2, in <module>' in error and "b = a / 0" in error, error
        assert error.rstrip().endswith("ZeroDivisionError: division by zero"), error
    finally:
        client.close()
        session.close()
