"""Collecting a bundle's hidden checks with pytest: markers (exercise, points), fixtures, parametrization
over devices, node ids. Done once per grading process; the judge then runs the collected plans directly
(judge/run.py) or, for checks that ask for fixtures of their own, through pytest with this plugin.

Only `Fail` hints and `StudentError` messages (the student's own) reach the student; pytest's reports,
tracebacks and assertion details never do.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

PYTEST_INI = Path(__file__).with_name("pytest.ini")
FIXTURES = ("jail", "source", "seed", "gen", "device")


def available_devices() -> list[str]:
    import torch
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def derive_seed(student_key: str, nodeid: str) -> int:
    digest = hashlib.sha256(f"{student_key}\0{nodeid}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass(frozen=True)
class CheckPlan:
    """One collected check, as plain data the judge can run without pytest."""
    nodeid: str
    function: object
    fixtures: tuple          # the arguments it asks for
    params: dict             # parametrized values (device, ...)
    exercise: str
    share: float             # its points (the marker's, split among its parametrized cases)
    name: str                # as the student reads it: "values [cpu]"
    earned: bool = False     # counts only where every value check of its exercise passed

    @property
    def direct(self) -> bool:
        """Whether the judge can call it with its own fixtures (else it runs through pytest)."""
        return set(self.fixtures) - set(self.params) <= set(FIXTURES)


class JudgePlugin:
    """The pytest plugin of a judge's run (or of the grader's collection-only run)."""

    def __init__(self, *, jail=None, source=None, student_key: str = "", exercises: list[str] | None = None):
        self._jail, self._source, self.student_key = jail, source, student_key
        self.only = set(exercises) if exercises else None
        self.items: list = []
        self.outcomes: dict[str, BaseException | None] = {}   # nodeid -> what the check raised (None: passed)
        self.exercise_max: dict[str, float] = {}
        self.collect_errors: list[str] = []                   # a check module that does not import, ...

    # ------------------------------------------------------------------ pytest hooks
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "exercise(name): the exercise (nbgrader grade_id) a check grades")
        config.addinivalue_line("markers", "points(p, earned=False): the check's points, split among its "
                                           "parametrized cases")

    def pytest_generate_tests(self, metafunc):
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", available_devices())

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(f"{report.nodeid or 'collection'}: {report.longreprtext[-3000:]}")

    def pytest_collection_modifyitems(self, session, config, items):
        kept = []
        for item in items:
            ex, pts = item.get_closest_marker("exercise"), item.get_closest_marker("points")
            if ex is None or pts is None:
                raise pytest.UsageError(f"check {item.nodeid} lacks an exercise or points marker "
                                        f"(see docs/instructor-guide.md)")
            if self.only is None or ex.args[0] in self.only:
                kept.append(item)
        order = _exercise_order(kept)
        # stable: module order within an exercise, its rule check last (it reads the trace of the others' calls)
        kept.sort(key=lambda i: (order.get(_exercise(i), len(order)),
                                 bool(i.get_closest_marker("points").kwargs.get("rule"))))
        items[:] = kept
        self.items = kept
        counts = Counter(_function_key(i) for i in kept)
        for item in kept:
            item.stash[_SHARE] = float(item.get_closest_marker("points").args[0]) / counts[_function_key(item)]
            ex = _exercise(item)
            self.exercise_max[ex] = self.exercise_max.get(ex, 0.0) + item.stash[_SHARE]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[item.nodeid] = None if report.outcome == "passed" else (
                call.excinfo.value if call.excinfo else RuntimeError(f"{report.outcome} without an exception"))

    def plans(self) -> list[CheckPlan]:
        return [CheckPlan(nodeid=i.nodeid, function=i.function,
                          fixtures=tuple(inspect.signature(i.function).parameters),
                          params=dict(i.callspec.params) if hasattr(i, "callspec") else {},
                          exercise=_exercise(i), share=i.stash[_SHARE], name=_check_name(i),
                          earned=bool(i.get_closest_marker("points").kwargs.get("earned")))
                for i in self.items]

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


_SHARE = pytest.StashKey[float]()


def _exercise(item) -> str:
    return item.get_closest_marker("exercise").args[0]


def _exercise_order(items) -> dict[str, int]:
    """The bundle's package may define EXERCISES (the report order, the lesson's); otherwise collection order."""
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
    """The check's name as the student reads it: its docstring's first line (else its function name), and
    the parametrized case (the device): "values [cpu]"."""
    doc = (item.function.__doc__ or "").strip().splitlines()
    title = doc[0].rstrip(".") if doc else getattr(item, "originalname", item.name).removeprefix("test_").replace("_", " ")
    param = f" [{item.callspec.id}]" if hasattr(item, "callspec") else ""
    return f"{title}{param}"


def forget_package(solutions: Path, package: str) -> None:
    """Drop an already imported package `package` (and its modules) that came from another folder than
    `solutions/package`: two courses may have an assignment of the same name, and pytest imports a bundle's
    checks as that package."""
    here = str((Path(solutions) / package).resolve())
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if not str(Path(origin).resolve()).startswith(here + os.sep):
            del sys.modules[name]


def run_pytest(checks_dir: Path, *, plugin: JudgePlugin, collect_only: bool = False) -> int:
    """pytest over a bundle's hidden checks with our plugin and none of the installed ones: third-party plugins
    (xdist, anyio, zarr's testing helpers ...) are not loaded from their entry points (~0.2 s per run)."""
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        return pytest.main(pytest_args(Path(checks_dir), collect_only=collect_only), plugins=[plugin])
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


def pytest_args(checks_dir: Path, *, collect_only: bool = False) -> list[str]:
    quiet = ["cacheprovider", "terminal", "unraisableexception", "threadexception", "faulthandler", "doctest",
             "junitxml", "pastebin", "legacypath", "warnings", "logging", "setuponly", "setupplan", "stepwise",
             "debugging"]
    args = [str(checks_dir), "--assert=plain", *[x for name in quiet for x in ("-p", f"no:{name}")],
            "-c", str(PYTEST_INI), "--rootdir", str(checks_dir), "-W", "ignore"]
    if collect_only:
        args.append("--collect-only")
    return args


__all__ = ["JudgePlugin", "CheckPlan", "run_pytest", "pytest_args", "derive_seed", "available_devices",
           "forget_package"]
