"""The source notebook's from-scratch solutions agree with the `solutions` package (PyTorch's own functions).

Two independent implementations of every exercise, compared on fresh random inputs of several shapes, in
float64 where it matters: values and gradients (micrograd's test idea). If they disagree, one of them is
wrong, and the hidden checks (which trust `solutions`) would grade the instructor's notebook wrongly.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from solutions.sgd_mnist import reference as solutions
from autograder.coursedir import CourseDir

REPO = Path(__file__).resolve().parents[1]
SOURCE = CourseDir(REPO).source("sgd_mnist")
CONTRACT_NAMES = ("binary_loss", "categorical_cross_entropy", "softmax", "log_softmax", "matmul",
                  "LogReg", "fit", "sgd_step", "normalize", "accuracy")
SETUP_CELL = "imports"
SHAPES = [(7,), (3, 4), (2, 3, 5), (1, 1)]
MATMUL_SHAPES = [(1, 1, 1), (3, 4, 5), (8, 1, 2), (5, 7, 3)]
SEEDS = [11, 22, 33]
F64 = dict(rtol=1e-10, atol=1e-12)


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


@pytest.fixture(scope="module")
def nb():
    """The notebook's setup cell and exercise cells, executed in a fresh namespace (no data, no training)."""
    notebook = nbformat.read(SOURCE / "sgd_mnist.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells if c.cell_type == "code"}
    namespace: dict = {"__name__": "sgd_mnist_notebook"}
    sys.path.insert(0, str(SOURCE))  # the setup cell imports mnist_data (cheap: it loads nothing)
    try:
        for grade_id in (SETUP_CELL, *CONTRACT_NAMES):
            exec(compile(_strip_magics(cells[grade_id].source), f"<cell {grade_id}>", "exec"), namespace)
    finally:
        sys.path.remove(str(SOURCE))
    return type("Notebook", (), {name: namespace[name] for name in CONTRACT_NAMES})


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _value_and_grads(fn, *args, grad_output=None):
    """fn(*args) and the gradients of (fn(*args) * grad_output).sum() w.r.t. the args that require grad."""
    out = fn(*args)
    weight = torch.ones_like(out) if grad_output is None else grad_output
    wanted = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    grads = torch.autograd.grad((out * weight).sum(), wanted, allow_unused=True)
    return out.detach(), grads


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)


def _agree(fn_nb, fn_ref, *args, grad_output=None, tol=F64):
    ours = _value_and_grads(fn_nb, *[_leaf(a) if a.requires_grad else a.clone() for a in args], grad_output=grad_output)
    theirs = _value_and_grads(fn_ref, *[_leaf(a) if a.requires_grad else a.clone() for a in args], grad_output=grad_output)
    torch.testing.assert_close(ours[0], theirs[0], **tol)
    for g_ours, g_theirs in zip(ours[1], theirs[1]):
        assert (g_ours is None) == (g_theirs is None), "one implementation connects an input the other ignores"
        if g_ours is not None:
            torch.testing.assert_close(g_ours, g_theirs, **tol)


# -- functions of tensors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_binary_loss(nb, shape, seed):
    g = _gen(seed)
    y = torch.randint(0, 2, shape, generator=g).double()
    p = (0.02 + 0.96 * torch.rand(shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    _agree(nb.binary_loss, solutions.binary_loss, y, p)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, c", [(1, 2), (6, 10), (17, 3)])
def test_categorical_cross_entropy(nb, n, c, seed):
    g = _gen(seed)
    y = torch.randint(0, c, (n,), generator=g)
    p = torch.softmax(torch.randn(n, c, generator=g, dtype=torch.float64), dim=-1).requires_grad_(True)
    _agree(nb.categorical_cross_entropy, solutions.categorical_cross_entropy, y, p)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(10,), (5, 10), (2, 3, 7), (1, 1), (4, 1)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax(nb, name, shape, seed):
    g = _gen(seed)
    x = (3 * torch.randn(shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    grad_output = torch.randn(shape, generator=g, dtype=torch.float64)
    _agree(getattr(nb, name), getattr(solutions, name), x, grad_output=grad_output)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_on_huge_float32_logits(nb, name):
    x = torch.randn(6, 10, generator=_gen(5)) * 1e4
    ours, theirs = getattr(nb, name)(x), getattr(solutions, name)(x)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, k, m", MATMUL_SHAPES)
def test_matmul(nb, n, k, m, seed):
    g = _gen(seed)
    a = torch.randn(n, k, generator=g, dtype=torch.float64).requires_grad_(True)
    b = torch.randn(k, m, generator=g, dtype=torch.float64).requires_grad_(True)
    _agree(nb.matmul, solutions.matmul, a, b, grad_output=torch.randn(n, m, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("seed", SEEDS)
def test_normalize(nb, seed):
    g = _gen(seed)
    x_train = torch.rand(50, 784, generator=g, dtype=torch.float64).requires_grad_(True)
    x_valid = (torch.rand(20, 784, generator=g, dtype=torch.float64) * 1.3).requires_grad_(True)
    for i in range(2):  # both outputs, values and gradients
        _agree(lambda a, b: nb.normalize(a, b)[i], lambda a, b: solutions.normalize(a, b)[i], x_train, x_valid,
               grad_output=torch.randn((50, 20)[i], 784, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, c", [(1, 10), (40, 10), (9, 3)])
def test_accuracy(nb, n, c, seed):
    g = _gen(seed)
    log_probs = torch.log_softmax(torch.randn(n, c, generator=g), dim=-1)
    y = torch.randint(0, c, (n,), generator=g)
    y[: n // 2] = log_probs[: n // 2].argmax(dim=-1)  # make some right, whatever the draw
    ours, theirs = nb.accuracy(log_probs, y), solutions.accuracy(log_probs, y)
    assert type(ours) is float and ours == theirs


# -- the model, the loop and the optimizer -----------------------------------------------------------------


def _state(g: torch.Generator) -> dict[str, torch.Tensor]:
    return {"l1_w": torch.randn(784, 10, generator=g, dtype=torch.float64) * 0.05,
            "l1_b": torch.randn(10, generator=g, dtype=torch.float64) * 0.1}


def _model(cls, state):
    model = cls().double()
    model.load_state_dict(state)
    return model


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(5, 784), (3, 28, 28), (4, 1, 28, 28), (1, 784)])
def test_logreg_forward_and_parameter_gradients(nb, shape, seed):
    g = _gen(seed)
    state = _state(g)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    grad_output = torch.randn(shape[0], 10, generator=g, dtype=torch.float64)
    results = []
    for cls in (nb.LogReg, solutions.LogReg):
        model = _model(cls, state)
        x_leaf = _leaf(x)
        out = model(x_leaf)
        (out * grad_output).sum().backward()
        results.append((out.detach(), x_leaf.grad, model.l1_w.grad, model.l1_b.grad))
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, **F64)


def test_logreg_parameters_match_the_contract(nb):
    ours = {k: (tuple(v.shape), isinstance(v, nn.Parameter)) for k, v in nb.LogReg().named_parameters()}
    theirs = {k: (tuple(v.shape), isinstance(v, nn.Parameter)) for k, v in solutions.LogReg().named_parameters()}
    assert ours == theirs == {"l1_w": ((784, 10), True), "l1_b": ((10,), True)}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_gives_the_same_losses_and_weights(nb, optimizer, seed):
    g = _gen(seed)
    start = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(dim=-1)).double()
    batches = [(torch.randn(8, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (8,), generator=g))
               for _ in range(4)]
    results = []
    for fit in (nb.fit, solutions.fit):
        model = copy.deepcopy(start)
        opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "sgd"
               else torch.optim.Adam(model.parameters(), lr=1e-2))
        losses = fit(model, batches, nn.NLLLoss(), opt, epochs=2)
        results.append((losses, model.state_dict()))
    (ours, our_state), (theirs, their_state) = results
    assert len(ours) == len(theirs) == 8 and all(type(v) is float for v in ours)
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(theirs), **F64)
    for key in their_state:
        torch.testing.assert_close(our_state[key], their_state[key], **F64)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lr", [0.1, 1.0, 1e-3])
def test_sgd_step(nb, lr, seed):
    g = _gen(seed)
    values = [torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64),
              torch.randn(2, generator=g, dtype=torch.float64)]
    grads = [torch.randn_like(values[0]), torch.randn_like(values[1]), None]  # the last one has no gradient
    results = []
    for step in (nb.sgd_step, solutions.sgd_step):
        params = [nn.Parameter(v.clone()) for v in values]
        for p, grad in zip(params, grads):
            p.grad = None if grad is None else grad.clone()
        assert step(iter(params), lr) is None  # any iterable, e.g. model.parameters()
        results.append(params)
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours.detach(), theirs.detach(), **F64)
        assert ours.is_leaf and ours.requires_grad
        assert (ours.grad is None) == (theirs.grad is None)
        if ours.grad is not None:
            torch.testing.assert_close(ours.grad, theirs.grad, **F64)


# ---------------------------------------------------------------- autograder.checking.optim: torch.optim written out
ORDERS = {"reference": ("zero", "backward", "step"), "no zero_grad": ("backward", "step"),
          "zero between": ("backward", "zero", "step"), "step first": ("step", "zero", "backward")}


def _train(make_optimizer, state, batches, order, dtype):
    """A tiny logistic regression trained with `order` per batch; the parameters after every batch."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.LogSoftmax(-1)).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    optimizer = make_optimizer(model.parameters())
    seen = []
    for xb, yb in batches:
        loss = torch.nn.functional.nll_loss(model(xb.to(dtype)), yb)
        for step in order:
            {"zero": optimizer.zero_grad, "backward": loss.backward, "step": optimizer.step}[step]()
        seen.append([p.detach().clone() for p in model.parameters()])
    return seen


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["sgd", "sgd momentum", "adam"])
def test_written_out_optimizers_equal_torch_optim(kind, seed, order, dtype):
    """autograder.checking.optim replaces torch.optim in the judge's fit checks: bit for bit the same parameters after
    every batch, for every loop order the checks replay, in float32 and float64."""
    from autograder.checking import optim
    g = _gen(seed)
    lr = float(torch.empty(()).uniform_(1e-3, 0.5, generator=g))
    state = {"1.weight": torch.randn(3, 12, generator=g) * 0.3, "1.bias": torch.randn(3, generator=g) * 0.1}
    batches = [(torch.randn(5, 2, 6, generator=g), torch.randint(0, 3, (5,), generator=g)) for _ in range(6)]
    makers = {
        "sgd": (lambda ps: torch.optim.SGD(ps, lr=lr), lambda ps: optim.SGD(ps, lr=lr)),
        "sgd momentum": (lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9),
                         lambda ps: optim.SGD(ps, lr=lr, momentum=0.9)),
        "adam": (lambda ps: torch.optim.Adam(ps, lr=lr / 10), lambda ps: optim.Adam(ps, lr=lr / 10)),
    }
    theirs, ours = (_train(m, state, batches, ORDERS[order], dtype) for m in makers[kind])
    for t_params, o_params in zip(theirs, ours):
        for t, o in zip(t_params, o_params):
            assert torch.equal(t, o), (t - o).abs().max()


# ---------------------------------------------------------------- the checks' comparison
def test_checks_close_is_assert_close():
    """The checks compare with `autograder.checking.close`, torch.isclose under assert_close's rule: it must say
    yes exactly when torch.testing.assert_close passes (nan, inf, -0.0, tiny and huge values, mixed dtypes)."""
    from autograder.checking import ELEMENTWISE, REDUCTION, close, scaled_to
    g = _gen(7)
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-30, 1e30, 1.0])
    cases = 0
    for _ in range(400):
        n = int(torch.randint(1, 6, (), generator=g))
        b = torch.randn(n, generator=g).double() * 10 ** float(torch.randint(-6, 6, (), generator=g))
        if torch.rand((), generator=g) < 0.3:
            b[torch.randint(0, n, (), generator=g)] = specials[torch.randint(0, len(specials), (), generator=g)]
        rel = 10 ** float(torch.empty(()).uniform_(-9, -2, generator=g))
        a = b + b.abs() * rel * torch.randn(n, generator=g).double() + 1e-7 * torch.randn(n, generator=g).double()
        if torch.rand((), generator=g) < 0.2:
            a = b.clone()
        if torch.rand((), generator=g) < 0.2:
            a[torch.randint(0, n, (), generator=g)] = specials[torch.randint(0, len(specials), (), generator=g)]
        if torch.rand((), generator=g) < 0.3:
            a = a.float()
        for tol in (ELEMENTWISE, REDUCTION, scaled_to(b.nan_to_num(0, 0, 0))):
            try:
                torch.testing.assert_close(a.double(), b.double(), equal_nan=True, rtol=tol.rtol, atol=tol.atol)
                expected = True
            except AssertionError:
                expected = False
            assert close(a, b, tol) is expected, (a, b, tol)
            cases += expected
    assert 100 < cases < 1100   # both answers well represented
    assert close(torch.zeros(2, 3), torch.zeros(3, 2)) is False and close(torch.zeros(2), [0.0, 0.0]) is False
