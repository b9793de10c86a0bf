"""`%load_ext autograder`, then `%autograde [NOTEBOOK] [EXERCISE...]` (docs/contract.md §3): the course's hidden
checks on a saved notebook, shown as a table in the notebook.

The student's kernel only sends the work and shows the answer: the grade comes from the notebook *file*, run
in the kit's jail and checked in its judge (through the warm check server, see grading.py), never from this
kernel's state, and this process imports no check, reference or judge module.

Which notebook: NOTEBOOK when given (a path ending in `.ipynb`; every other word is an exercise name), else
the notebook this kernel belongs to: Jupyter's server tells its kernels (`JPY_SESSION_NAME`, which ipykernel
also puts in `__session__`; VS Code sets `__vsc_ipynb_file__`). That notebook is saved first when the
frontend can be asked: a Jupyter server with the kit's server extension marks its kernels
(`AUTOGRADER_JUPYTER_SERVER`), and its JupyterLab extension saves the notebook when the kernel opens a comm
to the target "autograder"; the kernel waits until the file changes on disk. Otherwise the table says
which file was graded and when it was last saved.

Where nobody is looking, `%autograde` grades nothing and prints one line: inside nbgrader's own
autograde/validate runs (nbgrader sets `NBGRADER_EXECUTION` in their kernels), and, without a NOTEBOOK
argument, in a kernel with no frontend (nbclient, nbconvert and papermill run kernels that cannot ask for
input: the kernel's `_allow_stdin` is False for their requests). The kit's jail never runs `%` magics.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

COMM_TARGET = "autograder"           # the JupyterLab extension's comm target (jupyterlab-autograder/src/index.ts)
SERVER_MARK = "AUTOGRADER_JUPYTER_SERVER"   # set by the server extension (serverext.py); its kernels inherit it
SAVE_WAIT_S = 3.0                    # how long to wait for the frontend's save to reach the disk
POLL_S = 0.01
USAGE = "usage: %autograde [NOTEBOOK.ipynb] [EXERCISE ...]"


class Refused(Exception):
    """Nothing to grade here; the message says why and what to do instead (one line)."""


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(autograde, magic_kind="line", magic_name="autograde")


def parse(line: str) -> tuple[list[Path], tuple[str, ...]]:
    """`%autograde` arguments: words ending in `.ipynb` are notebooks, the others exercise names."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise Refused(f"{exc}; {USAGE}") from None
    notebooks = [Path(w).expanduser() for w in words if w.endswith(".ipynb")]
    exercises = tuple(w for w in words if not w.endswith(".ipynb"))
    for word in exercises:
        if not word.isidentifier():
            raise Refused(f"{word!r} is neither a notebook (.ipynb) nor an exercise name; {USAGE}")
    return [p if p.is_absolute() else Path.cwd() / p for p in notebooks], exercises


def kernel_notebook(user_ns: dict) -> Path | None:
    """The notebook this kernel was started for, as its frontend's server told it."""
    for name in (user_ns.get("__session__"), os.environ.get("JPY_SESSION_NAME"), user_ns.get("__vsc_ipynb_file__")):
        if isinstance(name, str) and name.endswith(".ipynb"):
            path = Path(name)
            # jupyter_server before 2.x gave the path from its root; a kernel starts in its notebook's folder
            return path if path.is_absolute() else Path.cwd() / path.name
    return None


def headless(shell) -> str:
    """Why no one could be looking at this kernel's output, or "" when a frontend is attached."""
    run = os.environ.get("NBGRADER_EXECUTION")
    if run:
        return f"nbgrader's {run} is running this notebook"
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return "this is not a Jupyter kernel"
    if not getattr(kernel, "_allow_stdin", True):
        return "this kernel has no frontend (a headless run: nbclient, nbconvert, papermill)"
    return ""


def _stamp(path: Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _written(path: Path) -> bool:
    """The notebook on disk is whole: jupyter_server writes it in place (truncate, write, fsync), keeping a
    backup `.~NAME` beside it until done, so a file seen mid-save is empty or cut short."""
    if (path.parent / f".~{path.name}").exists():
        return False
    try:
        return isinstance(json.loads(path.read_bytes()).get("cells"), list)
    except (OSError, ValueError, AttributeError):
        return False


def ask_frontend_to_save(path: Path, *, wait: float | None = None) -> bool:
    """Ask the JupyterLab extension to save `path`; True once the file has changed on disk and is whole again,
    within `wait` seconds (default SAVE_WAIT_S)."""
    wait = SAVE_WAIT_S if wait is None else wait
    before = _stamp(path)
    try:
        import comm
        channel = comm.create_comm(target_name=COMM_TARGET, data={"op": "save", "path": str(path)})
        channel.close()
    except Exception:  # noqa: BLE001 - no comm machinery: grade the file as it is, and say so
        return False
    deadline = time.monotonic() + wait
    changed = False
    while time.monotonic() < deadline:
        time.sleep(POLL_S)
        changed = changed or _stamp(path) not in (before, None)
        if changed and _written(path):
            return True
    return False


def target(shell, line: str) -> tuple[list[Path], tuple[str, ...], str]:
    """What to grade, and one sentence saying which file(s) and how fresh; raises Refused."""
    from autograder.jupyter.grading import saved_when
    notebooks, exercises = parse(line)
    why = headless(shell)
    if why.startswith("nbgrader"):
        raise Refused(f"%autograde does nothing while {why} (nbgrader grades the notebook itself)")
    own = kernel_notebook(getattr(shell, "user_ns", {}))
    if not notebooks:
        if why:
            raise Refused(f"{why}, so there is no notebook to check here: run `autograder check NOTEBOOK` in "
                          "a terminal, or `%autograde NOTEBOOK`")
        if own is None:
            raise Refused(f"cannot tell which notebook this kernel belongs to: {USAGE}")
        notebooks = [own]
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise Refused(f"no such notebook: {', '.join(missing)}" + (" (renamed since this kernel started? "
                      "give its path)" if own and str(own) in missing else ""))
    about = []
    for path in notebooks:
        if own is not None and not why and path.resolve() == own.resolve():
            if not os.environ.get(SERVER_MARK):
                note = ("not saved first: this kernel's Jupyter server has no autograder extension, so unsaved "
                        "edits are not graded (save, then run this again)")
            elif ask_frontend_to_save(path):
                note = "saved by Jupyter just now"
            else:
                note = (f"Jupyter did not save it within {SAVE_WAIT_S:g} s (reload the page if the autograder "
                        "extension was installed after it opened); unsaved edits are not graded")
            about.append(f"{path.name} ({path}), {note}; graded as {saved_when(path)}")
        else:
            about.append(f"{path.name} ({path}), graded as {saved_when(path)}")
    return notebooks, exercises, "; ".join(about)


def autograde(line: str) -> None:
    """Check a saved notebook against the course's hidden checks: `%autograde [NOTEBOOK] [EXERCISE...]`.

    With no NOTEBOOK, the notebook this kernel belongs to (saved first when Jupyter can be asked). With
    EXERCISE names, only those. The grading runs apart from this kernel, on the saved file."""
    from IPython import get_ipython
    from IPython.display import display
    shell = get_ipython()
    try:
        notebooks, exercises, about = target(shell, line)
    except Refused as exc:
        print(f"autograder: {exc}")
        return
    from autograder.coursedir import CourseError
    from autograder.jupyter.grading import grade
    from autograder.jupyter.table import render_html, render_text
    try:
        result, reused = grade(paths=notebooks, exercises=exercises)
    except CourseError as exc:   # no course or assignment for this notebook: the user's to fix, in one line
        print(f"autograder: {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - a broken kit or setup: one clear line, the traceback on request
        if os.environ.get("AUTOGRADER_DEBUG"):
            raise
        print(f"autograder: could not grade {', '.join(p.name for p in notebooks)}: {type(exc).__name__}: {exc}\n"
              "(set AUTOGRADER_DEBUG=1 to see the traceback)", file=sys.stderr)
        return
    if reused:
        about += "; unchanged since it was last checked, so the same result"
    display({"text/plain": render_text(result, about=about), "text/html": render_html(result, about=about)},
            raw=True)
