"""Jails are born with nothing of the grader's (issue #13, cause 1): the process they are forked from is a fresh
interpreter started with a clean environment before the class is read, and no process on their line of
descent ever holds another student's code or result. A hostile student scans everything it can reach (its
frames, every object of its heap, every writable page of its memory, its environment) for canaries planted in
the grader's environment, in a classmate's re-used result and in a classmate's code, and reports what it
found in its own hint."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._grading import BUNDLE
from tests.nbtools import SOURCE_NB, variant

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# The scanner knows only the canaries' shape, never their values (which would put them in its own memory).
SCAN = '''import ctypes, gc, os, re, sys

SHAPE = re.compile(rb"CANA" rb"RY-(env|result|code)-[0-9a-f]{16}")


MINE = "CANA" + "RY-code-" + "0123456789abcdef"   # built at run time: the scan must find this one


def softmax(x):
    found = set()
    texts = []
    frame = sys._getframe()
    while frame is not None:                      # every frame up the stack, and their locals and globals
        texts += [repr(list(frame.f_locals.items())), repr(list(frame.f_globals.items()))]
        frame = frame.f_back
    for obj in gc.get_objects():                  # every object the garbage collector knows
        try:
            texts.append(repr(obj)[:10000] if isinstance(obj, (dict, list, tuple, str, bytes)) else "")
        except Exception:
            pass
    texts.append(repr(dict(os.environ)))
    for text in texts:
        found |= {m.group(0).decode() for m in SHAPE.finditer(text.encode(errors="replace"))}
    for line in open("/proc/self/maps"):          # every writable page: heap, stack, anonymous mappings
        fields = line.split()
        low, high = (int(v, 16) for v in fields[0].split("-"))
        name = fields[5] if len(fields) > 5 else ""
        if not fields[1].startswith("rw") or name in ("[vvar]", "[vsyscall]"):
            continue
        for start in range(low, high, 1 << 24):
            chunk = ctypes.string_at(start, min(1 << 24, high - start))
            found |= {m.group(0).decode() for m in SHAPE.finditer(chunk)}
    raise RuntimeError("SCANNED found=" + repr(sorted(found)))
'''


def test_a_jail_finds_nothing_of_the_grader_or_of_classmates(tmp_path):
    env_canary, result_canary, code_canary = (f"CANARY-{kind}-{secrets.token_hex(8)}"
                                              for kind in ("env", "result", "code"))
    subs = tmp_path / "subs"
    for sid in ("aaa", "bbb"):
        (subs / sid).mkdir(parents=True)
    # aaa's code holds a canary (graded before the hostile student, by the same worker and judge)
    variant(subs / "aaa" / "sgd_mnist.ipynb", append=[f"SECRET_OF_AAA = {code_canary!r}"])
    # bbb's result (re-used on the second run, read by the grader before it grades anyone) holds one
    variant(subs / "bbb" / "sgd_mnist.ipynb",
            replace={"softmax": f"def softmax(x):\n    raise RuntimeError({result_canary!r})\n"})
    env = dict(os.environ, AUTOGRADER_NO_SERVER="1", INSTRUCTOR_TOKEN=env_canary)
    cmd = [sys.executable, "-m", "autograder.cli", "grade", "sgd_mnist", "--submissions", str(subs), "--out",
           str(tmp_path / "out"), "--jobs", "1", "--course-root", str(BUNDLE.course.root)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert result_canary in (tmp_path / "out" / "bbb" / "results.json").read_text()

    (subs / "zzz").mkdir()
    variant(subs / "zzz" / "sgd_mnist.ipynb",
            replace={"softmax": SCAN})
    shutil.rmtree(tmp_path / "out" / "aaa")           # aaa is graded again in the same run, before zzz
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert "reusing 1" in second.stderr, second.stderr[-2000:]
    hint = " ".join(t["output"] for t in json.loads((tmp_path / "out" / "zzz" / "results.json").read_text())["tests"]
                    if t["exercise"] == "softmax")
    assert "SCANNED found=" in hint and "CANARY-code-0123456789abcdef" in hint, hint[:2000]   # the scan works
    assert env_canary not in hint and result_canary not in hint and code_canary not in hint, hint[:2000]
