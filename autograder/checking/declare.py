"""Declaring checks: markers, points, and the common pattern of a function exercise in one declaration.

A check module of an assignment's bundle (`solutions/A/test_<exercise>.py`) holds pytest functions that ask
the jail and compare. Every check carries an exercise and points:

    pytestmark = exercise("softmax")          # every check of the module grades `softmax`

    @points(2)
    def test_large_logits(jail, gen, device): ...

The fixtures a check may ask for: `jail` (ask the student's code), `gen` (a CPU torch.Generator seeded per
student and check), `seed` (its int), `device` (parametrized over the devices present: cpu, cuda), `source`
(the student's notebook source, read statically). A check parametrized over devices splits its points among
them, so the maximum never depends on the machine.

`@points(1, earned=True)` marks a check whose point is earned only where the exercise's values are right
(contract, device and own-code checks): it scores nothing unless every value check of its exercise passed,
and then says so in a word instead of repeating the diagnosis.

`FunctionExercise` writes the usual checks of a tensor function at once: values on fresh inputs (with named
misconceptions), the gradient, the contract (dtype, device, shape, inputs unchanged), the meta device and the
exercise's rule; `globals().update(ex.checks())` puts them in the module for pytest to collect.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import pytest
import torch

from autograder.checking.ask import ask, check_meta, explain
from autograder.checking.compare import ELEMENTWISE, REDUCTION, Tol, expect_close
from autograder.checking.contract import check_result_tensor, check_unchanged, grad_of
from autograder.checking.rules import Rule, rule_checks
from autograder.judge.feedback import Fail, StudentError
from autograder.judge.specs import T


def exercise(name: str):
    """The marker naming the exercise (the CONTRACT name, the nbgrader grade_id) a check grades."""
    return pytest.mark.exercise(name)


def points(value: float, *, earned: bool = False):
    """The marker giving a check its points (split among its parametrized cases). `earned=True`: the points
    count only where every value check of the exercise passed."""
    return pytest.mark.points(value, earned=earned)


@dataclass(frozen=True)
class Case:
    """One input of a check: `make(gen)` builds the positional arguments on the CPU (tensors the jail places
    on the check's device); `what` names the input in the student's terms ("a batch of shape (6, 10)")."""
    what: str
    make: Callable[[torch.Generator], tuple]


@dataclass(frozen=True)
class Gradient:
    """The gradient check: `case`'s arguments at positions `wrt` require grad; a random grad_output weights
    the result; every gradient must match the reference's (in float64)."""
    case: Case
    wrt: Sequence[int] = (0,)
    names: Sequence[str] = ()          # the arguments' names for hints; default "argument i"
    tol: Tol = REDUCTION


def _float64(args: tuple) -> tuple:
    return tuple(a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)


@dataclass
class FunctionExercise:
    """A function of tensors with a reference: the checks every such exercise needs, declared once.

    `reference(*args)` runs in the judge on float64 copies of the float inputs. `misconceptions(*args)`
    returns {hint: thunk} of known-wrong variants (computed on the same inputs; see `misconception`).
    `dtype`/`shape` describe the result (default: float32, the reference's shape). `known_good` swaps
    reference functions in for the student's own in every call (one mistake costs once). `points` maps the
    check kinds to points: values, gradient, contract, meta. `rule` is the exercise's rule (docs/contract.md §1c; by
    default: the name is a def of its exercise cell), checked last.

    The contract (a tensor of the right dtype, shape and device; inputs unchanged) is held on every values case
    the values check runs on the CPU, without a call of its own; `contract_case` (default: the last case) is
    called only where the values check did not run first (one check selected alone)."""

    name: str
    reference: Callable
    cases: Sequence[Case]
    points: Mapping[str, float]
    gradient: Gradient | None = None
    tol: Tol = ELEMENTWISE
    misconceptions: Callable[..., Mapping[str, Callable]] | None = None
    dtype: torch.dtype | None = torch.float32
    shape: Callable[..., tuple] | None = None
    known_good: Mapping[str, Callable] = field(default_factory=dict)
    broadcast_advice: str = ""
    contract_case: Case | None = None
    meta_case: Case | None = None
    rule: Rule = field(default_factory=Rule)
    # the values check's current case and its reference result, while it holds them (see _values_check)
    _held: tuple | None = field(default=None, init=False, repr=False, compare=False)

    # ---------------------------------------------------------------- building blocks for bespoke checks
    def expected(self, args: tuple):
        if self._held is not None and self._held[0] is args:
            return self._held[1]
        with torch.no_grad():
            return self.reference(*_float64(args))

    def call(self, jail, args: tuple, *, device: str, **kwargs):
        """The student's function on `args` (a StudentError becomes a Fail with a hint)."""
        if self.known_good:
            kwargs.setdefault("known_good", dict(self.known_good))
        return ask(jail.call, self.name, *args, device=device, broadcast_advice=self.broadcast_advice, **kwargs)

    def result(self, r, args: tuple, *, device: str, shape: bool = True) -> torch.Tensor:
        """The call's value, held to the contract: a tensor, on `device`, of the right dtype (and shape)."""
        want = (self.shape(*args) if self.shape else tuple(self.expected(args).shape)) if shape else None
        return check_result_tensor(r.value, name=self.name, device=device, dtype=self.dtype, shape=want)

    def expect(self, jail, case_args: tuple, *, device: str, what: str, tol: Tol | None = None):
        """Call, hold the result to the contract, compare with the reference; return the call's result."""
        r = self.call(jail, case_args, device=device)   # a wrong shape may be a known misconception: compare first
        self.compare(self.result(r, case_args, device=device, shape=False), case_args, what=what, tol=tol)
        return r

    def compare(self, value, case_args: tuple, *, what: str, tol: Tol | None = None) -> None:
        """Fail unless `value` is the reference's result on `case_args`, naming a misconception if it matches."""
        variants = self.misconceptions(*_float64(case_args)) if self.misconceptions else None
        expect_close(value, self.expected(case_args), name=self.name, what=what, tol=tol or self.tol,
                     variants=variants)

    # ---------------------------------------------------------------- the checks
    def checks(self) -> dict[str, Callable]:
        """The check functions, by name, for `globals().update(...)` in the check module."""
        out: dict[str, Callable] = {}
        pts = dict(self.points)
        unknown = set(pts) - {"values", "gradient", "contract", "meta"}
        if unknown:
            raise ValueError(f"{self.name}: unknown check kinds in points: {sorted(unknown)}")
        if "values" in pts:
            out["test_values"] = self._values_check(pts["values"])
        if "gradient" in pts:
            if self.gradient is None:
                raise ValueError(f"{self.name}: points for 'gradient' but no `gradient=` declared")
            out["test_gradient"] = self._gradient_check(pts["gradient"])
        if "contract" in pts:
            out["test_contract"] = self._contract_check(pts["contract"])
        if "meta" in pts:
            out["test_meta_device"] = self._meta_check(pts["meta"])
        out.update(rule_checks(self.name, self.rule))
        return out

    def _values_check(self, value: float):
        ex = self

        def test_values(jail, gen, device):
            """values"""
            contract = ""
            for case in ex.cases:
                args = case.make(gen)
                # the reference runs once per case: `expect` compares with it, `result` reads its shape
                ex._held = (args, ex.expected(args))
                try:
                    r = ex.expect(jail, args, device=device, what=case.what)
                    if device == "cpu" and not contract:   # the contract check reads this: no call of its own
                        try:
                            ex.result(r, args, device=device)
                            check_unchanged(args, r.args, ex.name)
                        except Fail as f:
                            contract = f.hint
                finally:
                    ex._held = None
            if device == "cpu":
                jail.notes[(ex.name, "contract")] = contract
        return points(value)(test_values)

    def _gradient_check(self, value: float):
        ex, spec = self, self.gradient

        def test_gradient(jail, gen, device):
            """gradient"""
            args = spec.case.make(gen)
            want_out = ex.expected(args)
            g = torch.randn(want_out.shape, generator=gen) if want_out.dim() else torch.tensor(
                float(0.5 + torch.rand((), generator=gen)))
            sent = tuple(T(a, requires_grad=True) if i in spec.wrt else a for i, a in enumerate(args))
            r = ex.call(jail, sent, device=device, backward=True, grad_output=g)
            ex.result(r, args, device=device)     # a gradient of a result of the wrong shape proves nothing
            ref_args = [a.double().requires_grad_() if i in spec.wrt else a for i, a in enumerate(_float64(args))]
            (ex.reference(*ref_args) * g.double()).sum().backward()
            for n, i in enumerate(spec.wrt):
                arg = spec.names[n] if n < len(spec.names) else f"argument {i + 1}"
                got = grad_of(r, i, ex.name, arg)
                expect_close(got, ref_args[i].grad, name=ex.name, what=f"the gradient with respect to `{arg}`",
                             tol=spec.tol)
        return points(value)(test_gradient)

    def _contract_check(self, value: float):
        ex = self

        def test_contract(jail, gen):
            """result's contract, inputs unchanged"""
            said = jail.notes.get((ex.name, "contract"))    # what the values check saw on the CPU, if it ran
            if said is None:
                args = (ex.contract_case or ex.cases[-1]).make(gen)
                r = ex.call(jail, args, device="cpu")
                ex.result(r, args, device="cpu")
                check_unchanged(args, r.args, ex.name)
            elif said:
                raise Fail(said)
        return points(value, earned=True)(test_contract)

    def _meta_check(self, value: float):
        ex = self

        def test_meta_device(jail, gen):
            """runs on any device (meta)"""
            args = (ex.meta_case or ex.cases[-1]).make(gen)
            kwargs = {"known_good": dict(ex.known_good)} if ex.known_good else {}
            r = check_meta(lambda: jail.call(ex.name, *args, device="meta", **kwargs), ex.name)
            if r is not None:
                ex.result(r, args, device="meta")
        return points(value, earned=True)(test_meta_device)


__all__ = ["exercise", "points", "Case", "Gradient", "FunctionExercise", "Fail", "StudentError", "explain"]
