"""Running the collected checks against one submission's jail, and settling what they say.

The grader collects the checks once with pytest (collect.py); each judge then calls the collected check
functions directly with the same fixtures, in the same order, seeded by the same node ids, so that a
submission costs no pytest session (~0.2-0.3 s saved). Checks that ask for fixtures of their own run through
pytest with the plugin; a test proves both paths give identical results.

Settling applies the exercise's rules after every check ran:
- a check that raises `RuleBroken` (the exercise's rule, docs/contract.md §1c) scores the whole exercise 0;
- an `earned` check (contract, device, own code) counts only where every value check of its exercise passed;
- an exception in a check that is neither a `Fail` nor the student's `StudentError` is the instructor's
  problem: the student reads that the check could not run, the instructor gets the traceback.
"""
from __future__ import annotations

import traceback

from autograder.judge.collect import CheckPlan, JudgePlugin, derive_seed, run_pytest
from autograder.judge.feedback import Fail, RuleBroken, StudentError
from autograder.results import (CHECK_COULD_NOT_RUN, ERROR, FAILED, NOT_EARNED, PASSED, RULE_NOT_COUNTED,
                                CheckResult)

GENERIC_MISMATCH = "your result does not match the expected one for these inputs"


def outcome(exc: BaseException | None) -> tuple[str, str, str]:
    """(status, the student's hint, the instructor's problem) for what a check raised (None: it passed)."""
    if exc is None:
        return PASSED, "", ""
    if isinstance(exc, Fail):
        return FAILED, exc.hint, ""
    if isinstance(exc, StudentError):
        return FAILED, exc.hint(), ""
    if isinstance(exc, AssertionError):   # a plain assert in a check: a mismatch, shown without its values
        return FAILED, GENERIC_MISMATCH, ""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return ERROR, CHECK_COULD_NOT_RUN, trace[-4000:]


def run_direct(plans: list[CheckPlan], *, jail, source, student_key: str) -> dict[str, BaseException | None]:
    """Call each plan's check function with the fixtures it asks for; nodeid -> what it raised."""
    import torch
    raised: dict[str, BaseException | None] = {}
    started = False
    for plan in plans:
        kwargs = dict(plan.params)
        seed = derive_seed(student_key, plan.nodeid)
        try:
            for name in plan.fixtures:
                if name in kwargs:
                    continue
                if name == "jail":
                    if not started:
                        jail.defined()   # start it (runs the notebook) on first use, as the fixture does
                        started = True
                    kwargs[name] = jail
                elif name == "source":
                    kwargs[name] = source
                elif name == "seed":
                    kwargs[name] = seed
                elif name == "gen":
                    kwargs[name] = torch.Generator().manual_seed(seed)
            plan.function(**kwargs)
            raised[plan.nodeid] = None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - pytest.skip/fail are BaseExceptions too
            raised[plan.nodeid] = exc
    return raised


def run_checks(plans: list[CheckPlan], *, jail, source, student_key: str, checks_dir=None,
               exercises: tuple[str, ...] = (), use_pytest: bool = False) -> tuple[list[CheckResult], list[str]]:
    """Run the checks (of `exercises` only, when given) and settle them: (results, problems for the
    instructor). Through pytest when asked, or when some check needs a fixture only pytest provides."""
    plans = [p for p in plans if not exercises or p.exercise in exercises]
    if use_pytest or not all(p.direct for p in plans):
        plugin = JudgePlugin(jail=jail, source=source, student_key=student_key, exercises=list(exercises) or None)
        run_pytest(checks_dir, plugin=plugin)
        raised = {p.nodeid: plugin.outcomes.get(p.nodeid, RuntimeError("this check did not run")) for p in plans}
    else:
        raised = run_direct(plans, jail=jail, source=source, student_key=student_key)
    return settle(plans, raised)


def settle(plans: list[CheckPlan], raised: dict[str, BaseException | None]) -> tuple[list[CheckResult], list[str]]:
    """Every check's result, after the exercise's rule and the earned-points gate (see the module docstring)."""
    problems: list[str] = []
    rows = []
    for plan in plans:
        status, output, problem = outcome(raised.get(plan.nodeid))
        if problem:
            problems.append(f"{plan.nodeid}: {problem}")
        rows.append((plan, status, output))
    broken = {p.exercise for p in plans if isinstance(raised.get(p.nodeid), RuleBroken)}
    values_ok = {}   # a broken check (ERROR) is the instructor's: it never holds back a student's earned points
    for plan, status, _ in rows:
        if not plan.earned:
            values_ok[plan.exercise] = values_ok.get(plan.exercise, True) and status != FAILED
    results = []
    for plan, status, output in rows:
        rule_check = isinstance(raised.get(plan.nodeid), RuleBroken)
        if plan.exercise in broken and not rule_check and status != ERROR:
            status, output = FAILED, RULE_NOT_COUNTED
        elif plan.earned and not values_ok.get(plan.exercise, True) and status != ERROR:
            status, output = FAILED, NOT_EARNED
        results.append(CheckResult(name=plan.name, exercise=plan.exercise,
                                   score=round(plan.share if status == PASSED else 0.0, 4),
                                   max_score=round(plan.share, 4), status=status, output=output))
    return results, problems
