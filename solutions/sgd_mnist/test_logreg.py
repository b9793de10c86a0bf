"""Hidden checks of `LogReg`: parameters l1_w (784, 10), l1_b (10,); forward -> (N, 10) log-probabilities
(10 points). The value checks swap in a known-good `log_softmax`/`softmax`/`matmul` for the student's own, so
that a mistake in those exercises is not charged twice; one check asks that forward uses their own."""
from __future__ import annotations

import torch

from autograder.checking import (REDUCTION, Fail, StudentError, StudentModule, ask_method, check_meta,
                                 check_result_tensor, exercise, expect_close, explain, points)
from autograder.checking.rules import rule_checks

from . import reference
from ._inputs import RULES

NAME = "LogReg"
pytestmark = exercise(NAME)
GOOD_PARTS = {"log_softmax": reference.log_softmax, "softmax": reference.softmax, "matmul": reference.matmul}
INPUT_SHAPES = [(5, 784), (3, 28, 28), (4, 1, 28, 28), (1, 784)]


def _state(gen):
    return {"l1_w": torch.randn(784, 10, generator=gen) * 0.05, "l1_b": torch.randn(10, generator=gen) * 0.5}


def _reference(state, x):
    model = reference.LogReg().double()
    model.load_state_dict({k: v.double() for k, v in state.items()})
    return model, model(x.double())


def _variants(state, x):
    w, b = state["l1_w"].double(), state["l1_b"].double()
    z = x.double().reshape(len(x), -1) @ w + b       # (N, 784) @ (784, 10) + (10,) -> (N, 10)
    return {
        "your forward is the seed's `log(exp(z) / (1 + exp(z).sum(dim=0)))`: the sum runs over the batch "
        "(dim 0) instead of the 10 classes, and the `1 +` does not belong there; use your `log_softmax`":
            lambda: (z.exp() / (1 + z.exp().sum(0))).log(),
        "your forward normalises over the batch (dim 0) instead of over the 10 classes (the last dimension)":
            lambda: torch.log_softmax(z, 0),
        "your forward returns the raw scores `x @ w + b`; the contract asks for log-probabilities "
        "(apply log_softmax)":
            lambda: z,
        "your forward returns probabilities (softmax); the contract asks for their log (log_softmax)":
            lambda: torch.softmax(z, -1),
        "your forward leaves out the bias `l1_b`":
            lambda: torch.log_softmax(z - b, -1),
    }


def _forward(jail, state, x, device, **kw):
    try:
        return jail.call_method(StudentModule(NAME, state=state), "forward", x, device=device, known_good=GOOD_PARTS,
                                **kw)
    except StudentError as err:
        msg = err.message or ""
        if "loading state_dict" in msg and "torch.Size([10, 784])" in msg:
            raise Fail("`l1_w` is transposed: (10, 784); the contract says (784, 10), inputs (N, 784) times weights "
                       "(784, 10)") from None
        if "loading state_dict" in msg:
            raise Fail("`LogReg`'s parameters cannot take the weights of a trained model: they must be "
                       "`nn.Parameter`s named `l1_w` with shape (784, 10) and `l1_b` with shape (10,)") from None
        if x.dim() > 2 and ("cannot be multiplied" in msg or "size mismatch" in msg or "must match the size" in msg):
            raise Fail(f"`LogReg.forward` fails on a batch of shape {tuple(x.shape)}: flatten each image to 784 "
                       f"values first, `x.reshape(len(x), -1)`") from None
        raise Fail(explain(err, NAME)) from None


@points(2, earned=True)
def test_parameters(jail):
    """parameters"""
    r = ask_method(jail, StudentModule(NAME), None, name=NAME, device="cpu")
    info = r.obj_info or {}
    for pname, shape in [("l1_w", [784, 10]), ("l1_b", [10])]:
        if pname not in info:
            raise Fail(f"`LogReg()` has no parameter `{pname}`: make it an `nn.Parameter` attribute named "
                       f"`{pname}` (the contract's names: `l1_w` (784, 10) and `l1_b` (10,))")
        got = info[pname]
        if not got.get("parameter"):
            raise Fail(f"`{pname}` is a plain tensor, not an `nn.Parameter`: the optimizer will never see it")
        if list(got["shape"]) != shape:
            hint = " (transposed: inputs (N, 784) times weights (784, 10))" if list(got["shape"]) == shape[::-1] else ""
            raise Fail(f"`{pname}` has shape {tuple(got['shape'])}; the contract says {tuple(shape)}{hint}")
        if got.get("dtype") != "float32":
            raise Fail(f"`{pname}` is {got.get('dtype')}; make the parameters float32 (torch's default)")
    extra = sorted(n for n, i in info.items() if i.get("parameter") and n not in ("l1_w", "l1_b"))
    if extra:
        raise Fail(f"`LogReg` has parameters beyond `l1_w` and `l1_b` ({', '.join(extra)}); logistic "
                   f"regression needs exactly those two")


@points(3)
def test_forward(jail, gen, device):
    """forward"""
    for shape in INPUT_SHAPES:
        state, x = _state(gen), torch.rand(*shape, generator=gen)
        r = _forward(jail, state, x, device)
        value = check_result_tensor(r.value, name=NAME, device=device, shape=(shape[0], 10))
        expect_close(value, _reference(state, x)[1], name=NAME, what=f"a batch of shape {shape}", tol=REDUCTION,
                     variants=_variants(state, x))


@points(2)
def test_gradient(jail, gen, device):
    """gradient"""
    state, x = _state(gen), torch.rand(6, 1, 28, 28, generator=gen)
    g = torch.randn(6, 10, generator=gen)
    r = _forward(jail, state, x, device, backward=True, grad_output=g)
    model, out = _reference(state, x)
    (out * g.double()).sum().backward()
    grads = r.obj_grads or {}
    for pname, p in [("l1_w", model.l1_w), ("l1_b", model.l1_b)]:
        if grads.get(pname) is None:
            raise Fail(f"no gradient reaches `{pname}`: forward must compute with the parameters themselves "
                       f"(no .detach(), .data or copies)")
        expect_close(grads[pname], p.grad, name=NAME, what=f"the gradient of `{pname}`", tol=REDUCTION)


@points(2, earned=True)
def test_uses_own_log_softmax(jail, source):
    """forward calls your log_softmax"""
    if "log_softmax" not in (source.calls(NAME) or set()):
        raise Fail("`LogReg.forward` does not call your `log_softmax`; reuse the function you wrote above")


@points(1, earned=True)
def test_meta_device(jail, gen):
    """runs on any device (meta)"""
    x = torch.rand(3, 784, generator=gen)
    r = check_meta(lambda: jail.call_method(StudentModule(NAME), "forward", x, device="meta", known_good=GOOD_PARTS),
                   NAME)
    if r is not None:
        check_result_tensor(r.value, name=NAME, device="meta", shape=(3, 10))


globals().update(rule_checks(NAME, RULES[NAME]))
