"""FunctionExercise's contract check: held on every CPU values case without a call of its own, and on
`contract_case` when the values check did not run before it. A stand-in jail runs the "student's" function
here (this tests the declaration's bookkeeping, not the jail)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from autograder.checking import Case, Fail, FunctionExercise


class LocalJail:
    """Calls `fn` on copies of the arguments and returns what a jail returns: the value and the arguments
    as the call left them."""

    def __init__(self, fn):
        self.fn, self.calls, self.notes = fn, 0, {}

    def call(self, name, *args, device, **kwargs):
        self.calls += 1
        copies = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
        return SimpleNamespace(value=self.fn(*copies), args=copies)


def _rows(n):
    return Case(f"a batch of {n} rows", lambda gen: (torch.randn(n, 3, generator=gen),))


EXERCISE = FunctionExercise(name="double", reference=lambda x: 2 * x, cases=[_rows(2), _rows(5)],
                            points={"values": 1, "contract": 1}, contract_case=_rows(2))
CHECKS = EXERCISE.checks()


def right(x):
    return x * 2


def mutates_five_rows(x):
    if x.shape[0] == 5:
        return x.mul_(2)
    return x * 2


def mutates_always(x):
    return x.mul_(2)


def _values_then_contract(fn):
    jail, gen = LocalJail(fn), torch.Generator().manual_seed(0)
    CHECKS["test_values"](jail, gen, "cpu")
    calls = jail.calls
    return jail, calls, lambda: CHECKS["test_contract"](jail, gen)


def test_right_answer_contract_needs_no_call():
    jail, calls, contract = _values_then_contract(right)
    contract()
    assert calls == 2 and jail.calls == 2


@pytest.mark.parametrize("fn", [mutates_five_rows, mutates_always])
def test_contract_fault_seen_by_values_fails_contract(fn):
    """The values are right (the result is computed before the input changes); the contract is not."""
    jail, calls, contract = _values_then_contract(fn)
    with pytest.raises(Fail, match="in place"):
        contract()
    assert jail.calls == calls == 2


def test_contract_alone_calls_its_own_case():
    jail = LocalJail(mutates_five_rows)       # its fault shows on 5 rows only, and contract_case has 2
    CHECKS["test_contract"](jail, torch.Generator().manual_seed(0))
    assert jail.calls == 1
    jail = LocalJail(mutates_always)
    with pytest.raises(Fail, match="in place"):
        CHECKS["test_contract"](jail, torch.Generator().manual_seed(0))
    assert jail.calls == 1


def test_values_check_runs_the_reference_once_per_case():
    """The comparison and the contract's shape share one reference result per case; outside the values check
    `expected` computes afresh (nothing is kept between cases or checks)."""
    seen = []

    def counting(x):
        seen.append(tuple(x.shape))
        return 2 * x

    ex = FunctionExercise(name="double", reference=counting, cases=[_rows(2), _rows(5)],
                          points={"values": 1, "contract": 1})
    checks = ex.checks()
    checks["test_values"](LocalJail(right), torch.Generator().manual_seed(0), "cpu")
    assert seen == [(2, 3), (5, 3)]
    with pytest.raises(Fail):                         # a wrong answer is still compared with the reference
        checks["test_values"](LocalJail(lambda x: x * 3), torch.Generator().manual_seed(0), "cpu")
    args = (torch.ones(4, 3),)
    seen.clear()
    ex.expected(args), ex.expected(args)
    assert seen == [(4, 3), (4, 3)] and ex._held is None
