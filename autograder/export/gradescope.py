"""`autograder export gradescope`: the kit as a Gradescope autograder zip.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once to build its image, then, for each
submission, runs `run_autograder` with the student's files in /autograder/submission and uploads
/autograder/results/results.json. The zip holds:

    setup.sh          installs CPU PyTorch (pinned) and the kit shipped under kit/
    run_autograder    grades the submitted notebook(s) with the shipped kit (python -m autograder.export.gradescope_run)
    gradescope.json   what to grade: assignment, visibility of the checks' details, versions
    kit/              the kit's source tree: autograder/ (engine + hidden checks), solutions/, pyproject.toml
    course/           release/<assignment>/ (the files released with the notebooks, e.g. the data loader)

`run_autograder` honours AUTOGRADER_ROOT (default /autograder) and AUTOGRADER_PYTHON (default python3), so
a test can unpack the zip into a temporary folder standing in for /autograder.
"""
from __future__ import annotations

import io
import json
import zipfile
from importlib import metadata
from pathlib import Path

from autograder import __version__
from autograder.coursedir import PACKAGE_DIR, CourseDir, checks_dir
from autograder.results import PASSED, SubmissionResult

SCHEMA = "autograder-gradescope-export"
SCHEMA_VERSION = 1
CONFIG = "gradescope.json"
KIT = "kit"
COURSE = "course"  # a course directory holding only release/<assignment>/
VISIBILITIES = ("visible", "after_published", "after_due_date", "hidden")
KIT_PACKAGES = ("autograder", "solutions")
KIT_FILES = ("pyproject.toml", "constraints.txt", "README.md")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same kit gives the same zip
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder image (Ubuntu, python3 >= 3.10).
set -euxo pipefail
cd "$(dirname "$0")"
apt-get update -q && apt-get install -y -q python3 python3-pip bubblewrap  # bubblewrap: the jail's walls
python3 -m pip install -q --upgrade pip
python3 -m pip install -q "torch=={torch}" --index-url {index}
python3 -m pip install -q -c kit/constraints.txt ./kit
python3 -c "import autograder.export.gradescope_run"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, in /autograder. AUTOGRADER_ROOT stands in for /autograder.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
export PYTHONPATH="$ROOT/source/kit${PYTHONPATH:+:$PYTHONPATH}"   # the kit shipped in this zip
cd "$ROOT"
exec "${AUTOGRADER_PYTHON:-python3}" -m autograder.export.gradescope_run --root "$ROOT"
"""


def gradescope_results(result: SubmissionResult, *, visibility: str = "after_published") -> dict:
    """Gradescope's results.json for one result: every check a test (status passed|failed, the hint as
    output, `visibility` for its details); the kit's own results (CONTRACT §2) ride along in extra_data."""
    tests = [{"name": f"{t.exercise}: {t.name}", "score": t.score, "max_score": t.max_score,
              "status": "passed" if t.status == PASSED else "failed", "output": t.output,
              "tags": [t.exercise], "visibility": visibility} for t in result.tests]
    graded = {t.exercise for t in result.tests}
    for name, max_score in result.exercise_max.items():  # an exercise no check reached still shows its points
        if name not in graded:
            tests.append({"name": f"{name}: not graded", "score": 0.0, "max_score": max_score, "status": "failed",
                          "output": result.message or "no check of this exercise could run", "tags": [name],
                          "visibility": "visible"})
    summary = f"{result.assignment}: {result.score:g} / {result.max_score:g} points ({result.status})"
    return {"score": result.score, "execution_time": round(result.seconds, 1),
            "output": summary + (f"\n{result.message}" if result.message else ""),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": result.to_gradescope()}


def _kit_root() -> Path:
    root = PACKAGE_DIR.parent
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(f"exporting needs the kit's source checkout; {root} has no pyproject.toml")
    return root


def _torch_pin() -> str:
    return metadata.version("torch").split("+")[0]


def _add(zf: zipfile.ZipFile, name: str, data: bytes, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _kit_files(root: Path) -> list[tuple[str, Path]]:
    files = [(name, root / name) for name in KIT_FILES if (root / name).is_file()]
    for package in KIT_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".tmp"):
                files.append((path.relative_to(root).as_posix(), path))
    return files


def export_gradescope(*, assignment: str, out: Path, course_root: Path,
                      visibility: str = "after_published") -> Path:
    """Write the Gradescope autograder zip for `assignment` to `out`; return its path.

    `visibility` is when students see each check's details (Gradescope's test visibility); the total score
    is visible at once. `course_root` is the course whose release/<assignment>/ files (data loader, ...)
    are shipped for the student's notebook to import.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, not {visibility!r}")
    if not checks_dir(assignment).is_dir():
        raise FileNotFoundError(f"no hidden checks for {assignment!r} in {checks_dir(assignment)}")
    root = _kit_root()
    config = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kit_version": __version__,
              "assignment": assignment, "visibility": visibility, "torch": _torch_pin()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.format(torch=config["torch"], index=TORCH_INDEX).encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _add(zf, CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
        kit = _kit_files(root)
        if "README.md" not in {name for name, _ in kit}:  # pyproject names it; pip refuses a kit without it
            _add(zf, f"{KIT}/README.md", b"sgd_mnist autograder kit\n")
        for name, path in kit:
            _add(zf, f"{KIT}/{name}", path.read_bytes())
        release = CourseDir(Path(course_root)).release(assignment)
        for path in sorted(release.rglob("*")) if release.is_dir() else []:
            if path.is_file() and ".ipynb_checkpoints" not in path.parts and "__pycache__" not in path.parts:
                name = CourseDir(Path(COURSE)).release(assignment) / path.relative_to(release)
                _add(zf, name.as_posix(), path.read_bytes())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    return out
