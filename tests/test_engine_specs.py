"""The engine's argument specs that mnist_basics' checks needed, held on their own (no lesson): a student's class
built in the jail over parameters handed as a generator (`StudentObject`, `Params`), a model's own parameters
passed on (`ParamsOf`), a reference passed as an argument (`KnownGood`), and a reference swapped in for a
student's global for one call (`known_good=`). Real jails, toy cells."""
from __future__ import annotations

import pytest
import torch

from autograder.checking import KnownGood, Layer, Params, ParamsOf, StudentObject, TorchModel
from autograder.jail.spawn import JailSpec, Zygote
from autograder.judge.client import JailClient

CELLS = '''
import torch

class Halver:
    """Keeps the parameters it is given (a generator too) and halves each one on every step."""
    def __init__(self, params, factor):
        self.params, self.factor = list(params), factor
    def step(self):
        with torch.no_grad():
            for p in self.params:
                p *= self.factor
    def zero_grad(self):
        for p in self.params:
            p.grad = None

class Forgetful(Halver):
    """Keeps the generator itself: only its first pass sees the parameters."""
    def __init__(self, params, factor):
        self.params, self.factor = params, factor

def sgd_epoch(model, params, lr, loss_fn):
    """One step of SGD on the model's own parameters, with the loss it is given."""
    x = torch.ones(2, 3, device=params[0].device)
    loss_fn(model(x)).backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    return float(loss_fn(model(x)))

def square(x):
    return x * x + 1          # wrong on purpose: only a swapped-in reference makes `uses_square` right

def uses_square(x):
    return square(x).sum()
'''


@pytest.fixture(scope="module")
def session():
    z = Zygote()
    try:
        yield z.session()
    finally:
        z.close()


@pytest.fixture
def jail(session):
    client = JailClient(session, JailSpec(cells=[(0, CELLS)], hidden=[], cell_timeout=20))
    yield client
    client.close()


def _values(after):
    return [v for v, _ in after]


def test_student_object_over_a_generator_of_parameters(jail):
    values = [torch.randn(3, 2), torch.randn(4)]
    grads = [torch.randn(3, 2), torch.randn(4)]
    r = jail.call_method(StudentObject("Halver", Params(values, grads=grads, generator=True), 0.5),
                         ["step", "step", "zero_grad"], device="cpu")
    after = r.obj_args[0]
    assert len(after) == 2
    for (v, g), want in zip(after, values):
        assert torch.equal(v, want * 0.25) and g is None       # both steps moved them; zero_grad cleared them


def test_a_generator_kept_as_such_is_seen_once(jail):
    values, grads = [torch.randn(5)], [torch.randn(5)]
    r = jail.call_method(StudentObject("Forgetful", Params(values, grads=grads, generator=True), 0.5),
                         ["step", "step"], device="cpu")
    assert torch.equal(_values(r.obj_args[0])[0], values[0] * 0.5), "the second pass found the generator empty"
    r = jail.call_method(StudentObject("Forgetful", Params(values, grads=grads, generator=False), 0.5),
                         ["step", "step"], device="cpu")
    assert torch.equal(_values(r.obj_args[0])[0], values[0] * 0.25), "a list can be read twice"


def mean_square(out):
    return (out ** 2).mean()


def test_params_of_a_model_and_a_known_good_loss(jail):
    state = {"weight": torch.randn(1, 3), "bias": torch.randn(1)}
    spec = TorchModel([Layer("Linear", 3, 1)], state=state)
    loss = mean_square                                 # a reference: its source is compiled in the jail
    r = jail.call("sgd_epoch", spec, ParamsOf(0), 0.1, KnownGood(loss), device="cpu")
    after = r.args[1]                                  # the model's parameters as the call left them
    model = spec.build()
    loss(model(torch.ones(2, 3))).backward()
    with torch.no_grad():
        want = [p - 0.1 * p.grad for p in model.parameters()]
    assert len(after) == 2 and all(torch.allclose(v, w) for v, w in zip(_values(after), want))
    assert r.value == pytest.approx(float(loss(torch.ones(2, 3) @ want[0].T + want[1])), rel=1e-5)


def square_reference(x):
    return x * x


def test_known_good_swaps_a_reference_in_for_one_call(jail):
    x = torch.tensor([1.0, 2.0, 3.0])
    assert float(jail.call("uses_square", x, device="cpu").value) == 17.0          # the student's square
    swapped = jail.call("uses_square", x, device="cpu", known_good={"square": square_reference})
    assert float(swapped.value) == 14.0
    assert float(jail.call("uses_square", x, device="cpu").value) == 17.0, "for that call only"
