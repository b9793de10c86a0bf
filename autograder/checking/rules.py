"""An exercise's rule (docs/contract.md §1c): what the student must write themselves, judged by what runs.

A rule forbids operations, declared once as what they are: torch operators (the aten ops behind softmax, a
loss, every matrix product) and Python modules (torch.optim). The judge reads the student's source for the
Python names that reach them (aliases and imports followed) and the jail traces, at torch's dispatcher, every
call of the exercise's function. The graded name must also be what its exercise cell defined with `def` or
`class`, and not rebound later. Evidence from the jail may only lower a score: a broken rule (any evidence)
scores the whole exercise 0 with a hint naming the rule; a trace that saw no operation at all while the
function returned a new tensor means the tracer was tampered with, which breaks the rule too.

    RULE = Rule(forbid=(SOFTMAX, LOG_SOFTMAX), why="build it from exp, max and sum yourself")
    globals().update(rule_checks("softmax", RULE))      # the exercise's `rule` check (0 points: a gate)
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from autograder.judge.feedback import RuleBroken


@dataclass(frozen=True)
class Forbidden:
    """An operation family: what it is in words, the aten ops that compute it, the Python names that reach it
    (the last part of a dotted name: `softmax` covers torch.softmax, F.softmax, x.softmax, nn.Softmax ...),
    the operators (ast) that spell it, the Python modules whose code must not run."""
    what: str
    aten: frozenset = frozenset()
    names: frozenset = frozenset()
    operators: tuple = ()
    modules: tuple = ()

    def __or__(self, other: "Forbidden") -> "Forbidden":
        return Forbidden(f"{self.what} or {other.what}", self.aten | other.aten, self.names | other.names,
                         self.operators + other.operators, self.modules + other.modules)


def _f(what, aten=(), names=(), operators=(), modules=()) -> Forbidden:
    return Forbidden(what, frozenset(aten), frozenset(names), tuple(operators), tuple(modules))


SOFTMAX = _f("PyTorch's softmax", aten={"_softmax", "softmax"},
             names={"softmax", "Softmax", "softmin", "Softmin", "gumbel_softmax", "Softmax2d"})
LOG_SOFTMAX = _f("PyTorch's log-softmax", aten={"_log_softmax", "log_softmax"}, names={"log_softmax", "LogSoftmax"})
NLL_LOSS = _f("PyTorch's negative log-likelihood loss", aten={"nll_loss_forward", "nll_loss", "nll_loss2d_forward",
                                                              "nll_loss_nd"},
              names={"nll_loss", "NLLLoss", "NLLLoss2d"})
CROSS_ENTROPY = _f("PyTorch's cross-entropy", aten={"cross_entropy_loss"} | NLL_LOSS.aten | LOG_SOFTMAX.aten,
                   names={"cross_entropy", "CrossEntropyLoss"} | NLL_LOSS.names | LOG_SOFTMAX.names)
BINARY_CROSS_ENTROPY = _f("PyTorch's binary cross-entropy",
                          aten={"binary_cross_entropy", "binary_cross_entropy_with_logits"},
                          names={"binary_cross_entropy", "binary_cross_entropy_with_logits", "BCELoss",
                                 "BCEWithLogitsLoss"})
MATRIX_PRODUCT = _f("a built-in matrix product",
                    aten={"mm", "bmm", "addmm", "addbmm", "baddbmm", "addmv", "mv", "dot", "vdot", "matmul",
                          "linear", "bilinear", "_trilinear", "einsum", "tensordot", "inner", "chain_matmul",
                          "_addmm_activation", "_int_mm", "_scaled_mm", "addr"},
                    names={"matmul", "mm", "bmm", "einsum", "dot", "tensordot", "inner", "linear", "mv", "addmm",
                           "addmv", "baddbmm", "addbmm", "chain_matmul", "multi_dot", "vdot", "vecdot",
                           "__matmul__", "__rmatmul__", "__imatmul__", "bilinear", "Linear", "Bilinear",
                           "LazyLinear", "addr"},
                    operators=(ast.MatMult,))
CONVOLUTION = _f("a convolution", aten={"convolution", "_convolution", "conv1d", "conv2d", "conv3d",
                                        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                                        "cudnn_convolution", "mkldnn_convolution"},
                 names={"conv1d", "conv2d", "conv3d", "Conv1d", "Conv2d", "Conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "convolution", "unfold", "fold", "Unfold"})
SIGMOID = _f("PyTorch's sigmoid", aten={"sigmoid", "sigmoid_", "log_sigmoid_forward"},
             names={"sigmoid", "Sigmoid", "expit", "logsigmoid", "LogSigmoid", "sigmoid_"})
OPTIMIZER = _f("torch.optim's optimizers", names={"optim", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"},
               modules=("torch.optim",))


@dataclass(frozen=True)
class Rule:
    """What an exercise forbids. `why` finishes the hint: "... ; <why>". `no_loops`: no Python loop (for,
    while, a comprehension) in the definition. `defined_in_cell`: the graded name is a def/class of its
    exercise cell, not rebound after it (on by default: the function that runs is the function graded)."""
    forbid: tuple = ()
    why: str = ""
    no_loops: bool = False
    defined_in_cell: bool = True
    others: tuple = field(default=())   # other graded functions this one may call: their ops are theirs

    def watch(self) -> dict | None:
        """What the jail watches for while the function runs (sent with every call of it); None when the rule
        forbids no operation (then nothing is traced: tracing costs ~10 µs per op)."""
        aten = sorted({op for f in self.forbid for op in f.aten})
        modules = sorted({m for f in self.forbid for m in f.modules})
        if not aten and not modules:
            return None
        return {"aten": aten, "modules": modules, "others": list(self.others)}

    def what_of_op(self, op: str) -> str:
        base = op.split("::")[-1].split(".")[0]
        return next((f.what for f in self.forbid if base in f.aten), op)


# ---------------------------------------------------------------- the judge's side
def static_evidence(source, name: str, rule: Rule) -> list[str]:
    """What the student's source shows of a broken rule, as sentences (empty: nothing)."""
    found = []
    names = {n for f in rule.forbid for n in f.names}
    used = sorted(c for c in source.resolved_names(name) if c.split(".")[-1] in names
                  and ("." in c or source.definition(c) is None))
    if used:
        found.append(f"it uses {', '.join(f'`{u}`' for u in used[:4])}")
    operators = tuple(op for f in rule.forbid for op in f.operators)
    if operators and source.uses_operator(name, operators):
        found.append("it uses the `@` operator" if ast.MatMult in operators else "it uses a forbidden operator")
    if rule.no_loops and source.loops(name):
        found.append(f"it loops in Python (a {source.loops(name)[0]})")
    return found


def provenance_evidence(source, name: str, info: dict | None) -> list[str]:
    """Whether the graded name is what its exercise cell defined with def/class (static and from the jail)."""
    found = []
    node = source.definition(name)
    if node is None and not info:
        return []          # not defined at all: the exercise's other checks say so, there is no rule to judge
    if node is None or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        kind = "an assignment" if node is not None else "made without any top-level definition"
        found.append(f"`{name}` must be written with `def` (or `class`) in its exercise cell; there it is {kind}")
    home = source.exercise_cell(name)
    later = source.rebindings(name)
    if later:
        found.append(f"`{name}` is bound again after its exercise cell (in {source.cell_label(later[0])}): the "
                     f"function graded must be the one the exercise cell defines")
    if info:
        if info.get("kind") not in ("def", "class"):
            found.append(f"when graded, `{name}` is {info.get('what') or 'not a def or class of a cell'}")
        elif info.get("cell") is not None and home is not None and info.get("cell") != home:
            found.append(f"when graded, `{name}` is the one defined in {source.cell_label(info['cell'])}, not "
                         f"in its exercise cell")
        rebound = [c for c in info.get("rebound", []) if home is None or c > home]
        if rebound and not later:
            found.append(f"`{name}` is rebound after its exercise cell (in {source.cell_label(rebound[0])})")
    return found


def trace_evidence(evidence: dict | None, rule: Rule) -> list[str]:
    """What the jail's trace of the function's calls shows (jail evidence: it can only add to the case)."""
    if not evidence:
        return []
    found = []
    ops = sorted(evidence.get("forbidden", []))
    if ops:
        whats = sorted({rule.what_of_op(op) for op in ops})
        found.append(f"when it ran, it called {', '.join(whats)} ({', '.join(ops[:3])})")
    if evidence.get("modules"):
        found.append(f"when it ran, it used {', '.join(sorted(evidence['modules']))}")
    if evidence.get("tampered"):
        found.append("the operations it ran could not be observed (the grader's tracer was switched off "
                     "or hidden from)")
    return found


def rule_hint(name: str, rule: Rule, evidence: list[str]) -> str:
    """The sentence a student reads: which rule, the evidence, what to do, and what it costs."""
    banned = list(dict.fromkeys(f.what for f in rule.forbid)) + (["Python loops"] if rule.no_loops else [])
    what = f" (no {', no '.join(banned)})" if banned else ""
    todo = f" {rule.why[0].upper()}{rule.why[1:]}." if rule.why else ""
    return (f"`{name}` breaks the exercise's rule{what}: {'; '.join(dict.fromkeys(evidence))}.{todo} "
            f"Until it follows the rule, this exercise scores 0")


def rule_checks(name: str, rule: Rule) -> dict:
    """The exercise's rule check, for `globals().update(...)`: 0 points, but a broken rule scores the whole
    exercise 0 (it runs after the exercise's other checks, whose calls it reads the trace of)."""
    import pytest

    def test_rule(jail, source):
        """rule: your own code"""
        evidence = (static_evidence(source, name, rule)
                    + (provenance_evidence(source, name, jail.provenance(name)) if rule.defined_in_cell else [])
                    + trace_evidence(jail.evidence(name), rule))
        if evidence:
            raise RuleBroken(rule_hint(name, rule, evidence))
    test_rule.__rule__ = (name, rule)
    return {"test_rule": pytest.mark.exercise(name)(pytest.mark.points(0, rule=True)(test_rule))}
