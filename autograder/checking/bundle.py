"""A check's access to its own bundle's public files (e.g. the data loader released with the notebooks)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from autograder.coursedir import CourseDir


def public_module(check_file: str, name: str):
    """Import `name`.py, a file released with the assignment (release/A/, else source/A/), from the check module
    at `check_file` (pass `__file__`): `mnist_data = public_module(__file__, "mnist_data")`. Imported under a
    private name, once per process. Load data at import (numpy only): no torch op may run before the grader
    forks its judges."""
    solutions = Path(check_file).resolve().parent             # solutions/A/
    course = CourseDir(solutions.parents[1])
    bundle = course.bundle(solutions.name)
    for folder in (bundle.release, bundle.source):
        path = folder / f"{name}.py"
        if path.is_file():
            key = f"_autograder_public_{bundle.name}_{name}"
            if key not in sys.modules or getattr(sys.modules[key], "__file__", None) != str(path):
                spec = importlib.util.spec_from_file_location(key, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[key] = module
            return sys.modules[key]
    raise FileNotFoundError(f"no {name}.py in {bundle.release} or {bundle.source}")
