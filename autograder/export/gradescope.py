"""`autograder export gradescope`: the kit as a Gradescope autograder zip.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once to build its image, then, for each
submission, runs `run_autograder` with the student's files in /autograder/submission and uploads
/autograder/results/results.json. The zip holds:

    setup.sh          installs CPU PyTorch (pinned) and the engine shipped under kit/ (one installed copy)
    run_autograder    grades the submitted notebook(s) with the installed engine
                      (python -m autograder.export.gradescope_run)
    gradescope.json   what to grade: assignment, visibility of the checks' details, versions
    kit/              the engine's source tree: autograder/, pyproject.toml (no assignment: no checks, no references)
    course/           a course holding only this assignment's bundle: release/<assignment>/ (the files released
                      with the notebooks, e.g. the data loader) and solutions/<assignment>/ (its references and
                      hidden checks; the jail hides the whole course)

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
from autograder.coursedir import JUNK, PACKAGE_DIR, Bundle, CourseDir
from autograder.results import PASSED, SubmissionResult

DIST = "autograder-kit"   # the kit's distribution name (pyproject.toml)
SCHEMA = "autograder-gradescope-export"
SCHEMA_VERSION = 1
CONFIG = "gradescope.json"
KIT = "kit"
COURSE = "course"  # a course directory holding only the assignment's release/ and solutions/
VISIBILITIES = ("visible", "after_published", "after_due_date", "hidden")
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
# The engine is the copy setup.sh installed; the hidden checks are the course's, which every jail hides.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT"
exec "${AUTOGRADER_PYTHON:-python3}" -m autograder.export.gradescope_run --root "$ROOT"
"""


def gradescope_results(result: SubmissionResult, *, visibility: str = "after_published") -> dict:
    """Gradescope's results.json for one result: every check a test (status passed|failed, the hint as
    output, `visibility` for its details); the kit's own results (docs/contract.md §2) ride along in extra_data."""
    tests = [{"name": f"{t.exercise}: {t.name}", "score": t.score, "max_score": t.max_score,  # "softmax: values [cpu]"
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
            "extra_data": {k: v for k, v in result.to_gradescope().items() if k != "problems"}}


def _pyproject() -> bytes:
    """The kit's pyproject.toml: the checkout's, or (an installed kit) one made from the installed metadata."""
    checkout = PACKAGE_DIR.parent / "pyproject.toml"
    if checkout.is_file():
        return checkout.read_bytes()
    meta = metadata.metadata(DIST)
    requires = [r for r in (metadata.requires(DIST) or []) if "extra ==" not in r]
    return ("[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n"
            f"[project]\nname = \"{meta['Name']}\"\nversion = \"{meta['Version']}\"\nreadme = \"README.md\"\n"
            f"dependencies = {json.dumps(requires)}\n\n[project.scripts]\nautograder = \"autograder.cli:console_main\"\n\n"
            "[tool.setuptools.packages.find]\ninclude = [\"autograder*\"]\n\n"
            "[tool.setuptools.package-data]\nautograder = [\"**/*\"]\n").encode()


def _torch_pin() -> str:
    return metadata.version("torch").split("+")[0]


def _add(zf: zipfile.ZipFile, name: str, data: bytes, *, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _tree(root: Path, folder: Path) -> list[tuple[str, Path]]:
    return [(path.relative_to(root).as_posix(), path) for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.is_symlink() and not set(JUNK) & set(path.parts)
            and path.suffix not in (".pyc", ".tmp")]


def _kit_files() -> list[tuple[str, bytes]]:
    """The engine as it is installed or checked out: the package, pyproject.toml, constraints and README."""
    root = PACKAGE_DIR.parent
    files = [("pyproject.toml", _pyproject())]
    files += [(name, (root / name).read_bytes()) for name in KIT_FILES if name != "pyproject.toml"
              and (root / name).is_file()]
    files += [(name, path.read_bytes()) for name, path in _tree(root, PACKAGE_DIR)
              if not name.startswith(f"{PACKAGE_DIR.name}/quickstart/template/")]   # no course is made there
    return files


def export_gradescope(*, bundle: Bundle, out: Path, visibility: str = "after_published") -> Path:
    """Write the Gradescope autograder zip of `bundle` to `out`; return its path.

    `visibility` is when students see each check's details (Gradescope's test visibility); the total score
    is visible at once. The zip holds the engine and this bundle's release/ and solutions/, nothing else of
    the course.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, not {visibility!r}")
    bundle.require("solutions")
    config = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kit_version": __version__,
              "assignment": bundle.name, "visibility": visibility, "torch": _torch_pin()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.format(torch=config["torch"], index=TORCH_INDEX).encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
        _add(zf, CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
        kit = _kit_files()
        if "README.md" not in {name for name, _ in kit}:  # pyproject names it; pip refuses a kit without it
            _add(zf, f"{KIT}/README.md", b"autograder kit\n")
        for name, data in kit:
            _add(zf, f"{KIT}/{name}", data)
        shipped = CourseDir(Path(COURSE)).bundle(bundle.name)
        for folder, target in ((bundle.release, shipped.release), (bundle.solutions, shipped.solutions)):
            for name, path in _tree(folder, folder) if folder.is_dir() else []:
                _add(zf, (target / name).as_posix(), path.read_bytes())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    return out
