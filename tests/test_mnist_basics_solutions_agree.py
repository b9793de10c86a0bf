"""The `mnist_basics` notebook's from-scratch solutions agree with solutions/mnist_basics/reference.py.

Two independent implementations of every exercise (the notebook's, written as a student would, and the
references, built on torch.sigmoid, F.l1_loss, F.linear and torch.optim.SGD), compared on fresh random inputs
of several shapes, values and gradients, in float64 where it matters (tests/mnist_basics_probes.py). If they
disagree, one of them is wrong, and the hidden checks (which trust the references) would grade the
instructor's notebook wrongly.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from autograder.coursedir import CourseDir
from mnist_basics_probes import load_reference, probe, rule_problems

REPO = Path(__file__).resolve().parents[1]
SOURCE = CourseDir(REPO).source("mnist_basics")
# CONTRACT §1b, in the lesson's order
CONTRACT_NAMES = ("mean_image", "mnist_distance", "is_3", "init_params", "linear1", "sigmoid", "mnist_loss",
                  "calc_grad", "train_epoch", "batch_accuracy", "BasicOptim")
SETUP_CELL = "imports"
SEEDS = (11, 22, 33)
REF = load_reference()


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _cells() -> dict[str, str]:
    notebook = nbformat.read(SOURCE / "mnist_basics.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells if c.cell_type == "code"}


@pytest.fixture(scope="module")
def nb():
    """The notebook's setup cell and exercise cells, run in a fresh namespace (no data, no training)."""
    cells = _cells()
    namespace: dict = {"__name__": "mnist_basics_notebook"}
    sys.path.insert(0, str(SOURCE))  # the setup cell imports mnist_data (cheap: it loads nothing)
    try:
        for grade_id in (SETUP_CELL, *CONTRACT_NAMES):
            exec(compile(_strip_magics(cells[grade_id]), f"<cell {grade_id}>", "exec"), namespace)
    finally:
        sys.path.remove(str(SOURCE))
    return type("Notebook", (), {name: namespace[name] for name in CONTRACT_NAMES})


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_notebook_solution_agrees_with_the_reference(nb, name, seed):
    assert probe(name, getattr(nb, name), REF, seed) == []


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_notebook_solution_follows_the_exercise_rules(name):
    """No borrowed sigmoid, no Python loop in mnist_distance, the own sigmoid in mnist_loss (CONTRACT §1b)."""
    assert rule_problems(name, _cells()[name]) == []


def test_reference_exports_the_contract_names_and_the_package_lists_them_in_order():
    assert tuple(REF.__all__) == CONTRACT_NAMES
    spec = importlib.util.spec_from_file_location(
        "mnist_basics_solutions", REPO / "solutions" / "mnist_basics" / "__init__.py",
        submodule_search_locations=[str(REPO / "solutions" / "mnist_basics")])
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package
    try:
        spec.loader.exec_module(package)
    finally:
        del sys.modules[spec.name]
    assert package.EXERCISES == CONTRACT_NAMES
    assert package.__doc__


# -- the contract's sharp edges, spelled out ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_is_finite_and_close_to_torch_sigmoid_up_to_1e4(nb, dtype):
    x = torch.linspace(-1e4, 1e4, 20001, dtype=dtype).requires_grad_(True)  # steps of 1, through 0
    ours = nb.sigmoid(x)
    (grad,) = torch.autograd.grad(ours.sum(), x)
    x_ref = x.detach().clone().requires_grad_(True)
    theirs = torch.sigmoid(x_ref)
    (grad_ref,) = torch.autograd.grad(theirs.sum(), x_ref)
    assert torch.isfinite(ours).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-5, atol=1e-7)
    assert grad[10000].item() == 0.25 and ours[10000].item() == 0.5, "sigmoid(0) = 0.5 with slope 0.25"


def test_reference_sigmoid_is_torch_sigmoid():
    x = torch.randn(100, dtype=torch.float64) * 10
    assert torch.equal(REF.sigmoid(x), torch.sigmoid(x))


@pytest.mark.parametrize("shape", [(6,), (6, 1), (1,), (1, 1)])
def test_mnist_loss_on_both_shapes_and_a_batch_of_one(nb, shape):
    preds = torch.tensor([2.0, -1.0, 0.5, -3.0, 4.0, 0.0], dtype=torch.float64)[: shape[0]].reshape(shape)
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)[: shape[0]].reshape(shape)
    s = 1 / (1 + torch.exp(-preds))
    expected = torch.where(targets == 1, 1 - s, s).mean()
    ours, theirs = nb.mnist_loss(preds, targets), REF.mnist_loss(preds, targets)
    assert ours.shape == theirs.shape == ()
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(theirs, expected, rtol=1e-12, atol=0)


def test_the_row_against_column_trap_is_refused_by_the_reference(nb):
    """(N, 1) scores against (N,) targets broadcast to (N, N) inside torch.where: the notebook's loss computes
    something else without a word, the reference refuses, so no check compares against a broadcast value."""
    preds, targets = torch.tensor([[2.0], [-1.0], [3.0]]), torch.tensor([1.0, 0.0, 1.0])
    assert abs(nb.mnist_loss(preds, targets).item() - nb.mnist_loss(preds, targets[:, None]).item()) > 0.1
    with pytest.raises(ValueError, match=r"predictions \(3, 1\) and targets \(3,\)"):
        REF.mnist_loss(preds, targets)
    with pytest.raises(ValueError, match="same shape"):
        REF.batch_accuracy(preds, targets)


@pytest.mark.parametrize("which", ["notebook", "reference"])
def test_basic_optim_accepts_a_generator_and_steps_every_time(nb, which):
    cls = nb.BasicOptim if which == "notebook" else REF.BasicOptim
    model = nn.Linear(3, 1)
    opt = cls(model.parameters(), 0.1)  # a generator
    seen = []
    for _ in range(3):
        model(torch.ones(2, 3)).sum().backward()  # d/d bias = 2 every time
        opt.step()
        opt.zero_grad()
        seen.append(model.bias.item())
    assert seen[0] - seen[1] == pytest.approx(0.2) and seen[1] - seen[2] == pytest.approx(0.2)
    assert model.bias.grad is None or torch.all(model.bias.grad == 0)


@pytest.mark.parametrize("which", ["notebook", "reference"])
def test_init_params_draws_the_same_numbers_under_one_seed(nb, which):
    fn = nb.init_params if which == "notebook" else REF.init_params
    torch.manual_seed(123)
    expected = torch.randn(784, 1) * 0.5
    torch.manual_seed(123)
    p = fn((784, 1), 0.5)
    assert torch.equal(p.detach(), expected) and p.is_leaf and p.requires_grad
