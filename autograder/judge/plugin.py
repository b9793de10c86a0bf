"""The pytest plugin the judge runs the hidden checks with: fixtures (jail, source, device, gen, seed),
markers (exercise, points), and the collection of each check's outcome as a student-facing result.

Only `Fail` hints and `StudentError` messages (the student's own) reach the student; pytest's reports,
tracebacks and assertion details never do.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from collections import Counter

import pytest

from autograder.judge.feedback import Fail, StudentError
from autograder.results import ERROR, FAILED, PASSED, CheckResult

GENERIC_MISMATCH = "your result does not match the expected one for these inputs"
GENERIC_ERROR = ("this check could not be completed: your function's result has an unexpected form "
                 "(type, shape or dtype)")


def available_devices() -> list[str]:
    import torch
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def derive_seed(student_key: str, nodeid: str) -> int:
    digest = hashlib.sha256(f"{student_key}\0{nodeid}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class JudgePlugin:
    def __init__(self, *, jail=None, source=None, student_key: str = "", exercises: list[str] | None = None):
        self._jail, self._source, self.student_key = jail, source, student_key
        self.only = set(exercises) if exercises else None
        self.items: list = []
        self.outcomes: dict[str, tuple[str, str]] = {}   # nodeid -> (status, output)
        self.exercise_max: dict[str, float] = {}
        self.problems: list[str] = []                    # kit bugs, for the instructor's log only

    # ------------------------------------------------------------------ pytest hooks
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "exercise(name): the CONTRACT exercise a check grades")
        config.addinivalue_line("markers", "points(p): the check's points, split among its parametrized cases")

    def pytest_generate_tests(self, metafunc):
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", available_devices())

    def pytest_collection_modifyitems(self, session, config, items):
        kept = []
        for item in items:
            ex, pts = item.get_closest_marker("exercise"), item.get_closest_marker("points")
            if ex is None or pts is None:
                raise pytest.UsageError(f"check {item.nodeid} lacks an exercise or points marker")
            if self.only is None or ex.args[0] in self.only:
                kept.append(item)
        order = _exercise_order(kept)
        kept.sort(key=lambda i: order.get(i.get_closest_marker("exercise").args[0], len(order)))  # stable
        items[:] = kept
        self.items = kept
        counts = Counter(_function_key(i) for i in kept)
        for item in kept:
            item.stash[_SHARE] = float(item.get_closest_marker("points").args[0]) / counts[_function_key(item)]
            ex = item.get_closest_marker("exercise").args[0]
            self.exercise_max[ex] = self.exercise_max.get(ex, 0.0) + item.stash[_SHARE]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            if report.outcome == "passed":
                self.outcomes[item.nodeid] = (PASSED, "")
            elif report.outcome == "skipped":
                self.outcomes[item.nodeid] = (ERROR, "this check was skipped")
                self.problems.append(f"{item.nodeid}: skipped")
            else:
                self.outcomes[item.nodeid] = self._explain(item, call.excinfo)

    def _explain(self, item, excinfo) -> tuple[str, str]:
        status, output, problem = explain(excinfo.value if excinfo else None)
        if problem:
            self.problems.append(f"{item.nodeid}: {problem}")
        return status, output

    def plans(self) -> list["CheckPlan"]:
        """What the collection found, as plain data the judge can run without pytest (see fastrun.py)."""
        import inspect
        return [CheckPlan(nodeid=i.nodeid, function=i.function,
                          fixtures=tuple(inspect.signature(i.function).parameters),  # what it asks for itself
                          params=dict(i.callspec.params) if hasattr(i, "callspec") else {},
                          exercise=i.get_closest_marker("exercise").args[0], share=i.stash[_SHARE],
                          name=_check_name(i)) for i in self.items]

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture(scope="session")
    def jail(self):
        if self._jail is None:
            pytest.skip("no jail in a collection-only run")
        self._jail.defined()  # start it (runs the notebook) on first use
        return self._jail

    @pytest.fixture(scope="session")
    def source(self):
        return self._source

    @pytest.fixture
    def seed(self, request) -> int:
        return derive_seed(self.student_key, request.node.nodeid)

    @pytest.fixture
    def gen(self, seed):
        import torch
        return torch.Generator().manual_seed(seed)

    # ------------------------------------------------------------------ results
    def results(self) -> list[CheckResult]:
        out = []
        for item in self.items:
            status, output = self.outcomes.get(item.nodeid, (ERROR, "this check did not run"))
            share = item.stash[_SHARE]
            out.append(CheckResult(name=_check_name(item), exercise=item.get_closest_marker("exercise").args[0],
                                   score=round(share if status == PASSED else 0.0, 4),
                                   max_score=round(share, 4), status=status, output=output))
        return out


_SHARE = pytest.StashKey[float]()


@dataclass(frozen=True)
class CheckPlan:
    nodeid: str
    function: object
    fixtures: tuple
    params: dict
    exercise: str
    share: float
    name: str


def explain(exc: BaseException | None) -> tuple[str, str, str]:
    """(status, student-facing output, problem for the instructor's log) for a check's exception."""
    if isinstance(exc, Fail):
        return FAILED, exc.hint, ""
    if isinstance(exc, StudentError):
        return FAILED, exc.hint(), ""
    if isinstance(exc, AssertionError):
        return FAILED, GENERIC_MISMATCH, ""
    return ERROR, GENERIC_ERROR, f"{type(exc).__name__}: {exc}"


def _exercise_order(items) -> dict[str, int]:
    """The checks package may define EXERCISES (report order); otherwise collection order."""
    import importlib
    for item in items:
        package = getattr(item.module, "__package__", None)
        if package:
            names = getattr(importlib.import_module(package), "EXERCISES", None)
            if names:
                return {name: i for i, name in enumerate(names)}
    return {}


def _function_key(item) -> tuple:
    return (item.module.__name__ if item.module else "", getattr(item, "originalname", item.name))


def _check_name(item) -> str:
    exercise = item.get_closest_marker("exercise").args[0]
    doc = (item.function.__doc__ or "").strip().splitlines()
    title = doc[0].rstrip(".") if doc else getattr(item, "originalname", item.name).removeprefix("test_").replace("_", " ")
    param = f" [{item.callspec.id}]" if hasattr(item, "callspec") else ""
    return f"{exercise}: {title}{param}"


def run_pytest(checks_dir, *, plugin: "JudgePlugin", collect_only: bool = False) -> int:
    """pytest over the hidden checks with our plugin and none of the installed ones: third-party plugins
    (xdist, anyio, zarr's testing helpers ...) are not loaded from their entry points (~0.2 s per run)."""
    import os
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        return pytest.main(pytest_args(checks_dir, collect_only=collect_only), plugins=[plugin])
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


def pytest_args(checks_dir, *, collect_only: bool = False) -> list[str]:
    quiet = ["cacheprovider", "terminal", "unraisableexception", "threadexception", "faulthandler", "doctest",
             "junitxml", "pastebin", "legacypath", "warnings", "logging", "setuponly", "setupplan", "stepwise", "debugging"]
    args = [str(checks_dir), "--assert=plain", *[x for name in quiet for x in ("-p", f"no:{name}")],
            "-c", str(checks_dir.parent / "pytest.ini"), "--rootdir", str(checks_dir), "-W", "ignore"]
    if collect_only:
        args.append("--collect-only")
    return args


__all__ = ["JudgePlugin", "run_pytest", "pytest_args", "derive_seed", "available_devices"]
