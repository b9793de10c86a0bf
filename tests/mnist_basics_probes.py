"""Probes for the `mnist_basics` exercises (CONTRACT §1b): compare one implementation with the references.

Not the hidden checks (those live in `solutions/mnist_basics/` and grade students through the jail): a small,
in-process battery that the kit's own tests use twice, to prove that the notebook's from-scratch solutions
agree with the references (values and gradients, float64 where it matters) and that every entry of the
catalogue `tests/catalogue_mnist_basics.py` is what it claims (each RIGHT one passes everything, each WRONG one
fails something). `probe(name, impl, ref, seed)` returns a list of problems in words, empty when all agree.
"""
from __future__ import annotations

import ast
import importlib.util
import textwrap
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
REFERENCE_PATH = REPO / "solutions" / "mnist_basics" / "reference.py"
F64 = dict(rtol=1e-10, atol=1e-12)      # two float64 computations of the same formula
F32 = dict(rtol=1e-5, atol=1e-6)        # float32 against torch's own kernels (e.g. sigmoid at |x| = 1e4)
# Scores this close to 0 make `sigmoid(p) > 0.5` and `p > 0` disagree by rounding; the probes keep away.
MIN_ABS_SCORE = 1e-3
# What a sigmoid exercise may not call, and what mnist_loss may not borrow instead of the student's sigmoid.
SIGMOID_NAMES = {"sigmoid", "Sigmoid", "expit", "logsigmoid", "LogSigmoid"}
# What train_epoch and BasicOptim may not borrow: they are the optimizer, written by hand.
OPTIMIZER_NAMES = {"optim", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"}
# Inputs on PyTorch's `meta` device (shapes only) for the tensor exercises: code that makes a tensor on the CPU
# (or leaves for NumPy) fails there, as it would with inputs on a GPU.
META_INPUTS = {
    "mean_image": lambda: [torch.empty(5, 28, 28, device="meta")],
    "mnist_distance": lambda: [torch.empty(5, 28, 28, device="meta"), torch.empty(28, 28, device="meta")],
    "is_3": lambda: [torch.empty(5, 28, 28, device="meta"), torch.empty(28, 28, device="meta"),
                     torch.empty(28, 28, device="meta")],
    "linear1": lambda: [torch.empty(5, 784, device="meta"), torch.empty(784, 1, device="meta"),
                        torch.empty(1, device="meta")],
    "sigmoid": lambda: [torch.empty(5, 1, device="meta")],
    "mnist_loss": lambda: [torch.empty(5, 1, device="meta"), torch.empty(5, 1, device="meta")],
    "batch_accuracy": lambda: [torch.empty(5, 1, device="meta"), torch.empty(5, 1, device="meta")],
}


def load_reference():
    """solutions/mnist_basics/reference.py, loaded by path (independent of how `solutions` is packaged)."""
    spec = importlib.util.spec_from_file_location("mnist_basics_reference", REFERENCE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)


def _fresh(a):
    """A private copy of an argument: tensors that require grad become new leaves."""
    if not isinstance(a, torch.Tensor):
        return a
    return _leaf(a) if a.requires_grad else a.clone()


def _compare(what: str, ours, theirs, tol) -> list[str]:
    if not isinstance(ours, torch.Tensor):
        return [f"{what}: returned {type(ours).__name__}, not a tensor"]
    if ours.shape != theirs.shape:
        return [f"{what}: shape {tuple(ours.shape)}, expected {tuple(theirs.shape)}"]
    if ours.dtype != theirs.dtype:
        return [f"{what}: dtype {ours.dtype}, expected {theirs.dtype}"]
    try:
        torch.testing.assert_close(ours.detach(), theirs.detach(), **tol)
    except AssertionError as err:
        return [f"{what}: values differ ({str(err).splitlines()[-1].strip()})"]
    return []


def _values_and_grads(what: str, impl, ref, args, *, tol=F64, grad_output_seed=0) -> list[str]:
    """impl(*args) against ref(*args): values, then gradients of a random weighting of the output."""
    return [f"{what}: {p}" if p.startswith("raised") else p
            for p in _catch(_values_and_grads_of, what, impl, ref, args, tol=tol, grad_output_seed=grad_output_seed)]


def _values_and_grads_of(what: str, impl, ref, args, *, tol, grad_output_seed) -> list[str]:
    problems = []
    ours_in, theirs_in = ([_fresh(a) for a in args] for _ in range(2))  # each side its own copies
    before = [a.detach().clone() for a in ours_in if isinstance(a, torch.Tensor)]
    ours = impl(*ours_in)
    theirs = ref(*theirs_in)
    problems += _compare(what, ours, theirs, tol)
    if problems:
        return problems
    after = [a.detach() for a in ours_in if isinstance(a, torch.Tensor)]
    if not all(torch.equal(b, a) for b, a in zip(before, after)):
        return [f"{what}: modifies its input in place"]
    wanted = [i for i, a in enumerate(theirs_in) if isinstance(a, torch.Tensor) and a.requires_grad]
    if not wanted or not theirs.requires_grad:
        return problems
    if not ours.requires_grad:
        return [f"{what}: the result does not keep the gradient (detached or rebuilt from numbers)"]
    weight = torch.randn(theirs.shape, generator=_gen(grad_output_seed), dtype=theirs.dtype)
    g_ours = torch.autograd.grad((ours * weight).sum(), [ours_in[i] for i in wanted], allow_unused=True)
    g_theirs = torch.autograd.grad((theirs * weight).sum(), [theirs_in[i] for i in wanted], allow_unused=True)
    for i, go, gt in zip(wanted, g_ours, g_theirs):
        if go is None:
            problems.append(f"{what}: no gradient reaches argument {i}")
        elif gt is not None:
            problems += _compare(f"{what}, gradient of argument {i}", go, gt, tol)
    return problems


def _catch(fn, *args, **kwargs) -> list[str]:
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # a crash is a failed probe, reported in words
        return [f"raised {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"]


# -- one probe per exercise ----------------------------------------------------------------------------------


def _mean_image(impl, ref, seed):
    g = _gen(seed)
    plain = torch.rand(4, 28, 28, generator=g)  # no gradient wanted: an in-place change would go unnoticed
    problems = _values_and_grads("mean_image of a plain (4, 28, 28) float32 stack", impl, ref.mean_image, [plain],
                                 tol=F32)
    for n in (5, 1):
        images = torch.rand(n, 28, 28, generator=g, dtype=torch.float64).requires_grad_(True)
        problems += _values_and_grads(f"mean_image of ({n}, 28, 28)", impl, ref.mean_image, [images])
    return problems


def _mnist_distance(impl, ref, seed):
    g = _gen(seed)
    batch = torch.rand(6, 28, 28, generator=g, dtype=torch.float64).requires_grad_(True)
    one = torch.rand(28, 28, generator=g, dtype=torch.float64).requires_grad_(True)
    other = torch.rand(28, 28, generator=g, dtype=torch.float64).requires_grad_(True)
    single = torch.rand(1, 28, 28, generator=g, dtype=torch.float64).requires_grad_(True)
    problems = []
    for what, a, b in [("(6, 28, 28) against (28, 28)", batch, one), ("(28, 28) against (28, 28)", one, other),
                       ("(1, 28, 28) against (28, 28)", single, one), ("(6, 28, 28) against (6, 28, 28)", batch, batch * 0.5)]:
        problems += _values_and_grads(f"mnist_distance {what}", impl, ref.mnist_distance, [a, b])
    return problems


def _is_3(impl, ref, seed):
    g = _gen(seed)
    mean3, mean7 = torch.rand(28, 28, generator=g), torch.rand(28, 28, generator=g)
    # half near mean3, half near mean7, so that both answers occur
    x = torch.cat([mean3 + 0.3 * torch.rand(4, 28, 28, generator=g), mean7 + 0.3 * torch.rand(4, 28, 28, generator=g)])
    problems = []
    for what, images in [("a batch (8, 28, 28)", x), ("one image (28, 28)", x[0]), ("a batch of one", x[5:6])]:
        ours, theirs = impl(images, mean3, mean7), ref.is_3(images, mean3, mean7)
        if not isinstance(ours, torch.Tensor) or ours.dtype != torch.bool:
            problems.append(f"is_3 on {what}: expected a bool tensor, got "
                            f"{ours.dtype if isinstance(ours, torch.Tensor) else type(ours).__name__}")
        elif ours.shape != theirs.shape or not torch.equal(ours, theirs):
            problems.append(f"is_3 on {what}: {ours.tolist()} instead of {theirs.tolist()}")
    return problems


def _init_params(impl, ref, seed):
    problems = []
    for size, std in [((784, 1), 1.0), (1, 1.0), ((3, 4), 0.01)]:
        torch.manual_seed(seed)
        ours = impl(size, std) if std != 1.0 else impl(size)
        torch.manual_seed(seed)
        theirs = ref.init_params(size, std)
        what = f"init_params({size}, std={std})"
        problems += _compare(what, ours, theirs, F32)  # float32 draws; torch.normal may round once differently
        if isinstance(ours, torch.Tensor) and not (ours.is_leaf and ours.requires_grad):
            problems.append(f"{what}: is_leaf {ours.is_leaf}, requires_grad {ours.requires_grad}; expected a leaf "
                            "that requires grad")
    return problems


def _linear1(impl, ref, seed):
    g = _gen(seed)
    problems = []
    for n in (7, 1):
        xb = torch.rand(n, 784, generator=g, dtype=torch.float64).requires_grad_(True)
        w = torch.randn(784, 1, generator=g, dtype=torch.float64).requires_grad_(True)
        b = torch.randn(1, generator=g, dtype=torch.float64).requires_grad_(True)
        problems += _values_and_grads(f"linear1 on ({n}, 784)", impl, ref.linear1, [xb, w, b])
    return problems


def _sigmoid(impl, ref, seed):
    g = _gen(seed)
    problems = []
    for shape in [(50,), (4, 1), (2, 3, 5), ()]:
        x = (5 * torch.randn(shape, generator=g, dtype=torch.float64)).requires_grad_(True)
        problems += _values_and_grads(f"sigmoid on float64 {shape}", impl, ref.sigmoid, [x])
    # Finite float32 scores as large as 1e4, both signs, and exactly 0 (slope 0.25 there).
    extremes = torch.tensor([-1e4, -1e3, -100.0, -88.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 88.0, 100.0, 1e3, 1e4],
                            requires_grad=True)
    problems += _values_and_grads("sigmoid at |x| up to 1e4 (float32)", impl, ref.sigmoid, [extremes], tol=F32)
    return problems


def _mnist_loss(impl, ref, seed):
    g = _gen(seed)
    problems = []
    for shape in [(9,), (9, 1), (1,), (1, 1)]:
        preds = (3 * torch.randn(shape, generator=g, dtype=torch.float64)).requires_grad_(True)
        targets = torch.randint(0, 2, shape, generator=g).double()
        targets.view(-1)[0] = 1.0  # at least one 3
        problems += _values_and_grads(f"mnist_loss on {shape}", impl, ref.mnist_loss, [preds, targets])
    far = torch.tensor([[-1e4], [1e4], [-1e4], [1e4]], requires_grad=True)
    problems += _values_and_grads("mnist_loss on scores of +-1e4 (float32)", impl, ref.mnist_loss,
                                  [far, torch.tensor([[1.0], [0.0], [0.0], [1.0]])], tol=F32)
    return problems


def _linear_model(seed: int, n_in: int = 5) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(n_in, 1).double()


def _batches(seed: int, n: int = 3, size: int = 4, n_in: int = 5):
    g = _gen(seed)
    return [(torch.randn(size, n_in, generator=g, dtype=torch.float64),
             torch.randint(0, 2, (size, 1), generator=g).double()) for _ in range(n)]


def _same_parameters(what: str, ours: list[torch.Tensor], theirs: list[torch.Tensor], *, grads=True) -> list[str]:
    problems = []
    for i, (o, t) in enumerate(zip(ours, theirs)):
        problems += _compare(f"{what}, parameter {i}", o.detach(), t.detach(), F64)
        if not (o.is_leaf and o.requires_grad):
            problems.append(f"{what}, parameter {i}: no longer a leaf that requires grad")
        if grads:
            og = torch.zeros_like(o) if o.grad is None else o.grad
            tg = torch.zeros_like(t) if t.grad is None else t.grad
            problems += _compare(f"{what}, gradient of parameter {i}", og, tg, F64)
    return problems


def _calc_grad(impl, ref, seed):
    problems = []
    (xb, yb), (xb2, yb2) = _batches(seed, n=2)
    results = []
    for fn in (impl, ref.calc_grad):
        model = _linear_model(seed)
        model(xb2).sum().backward()  # gradients already there: calc_grad must add to them
        returned = fn(xb, yb, model, ref.mnist_loss)
        results.append((returned, list(model.parameters())))
    if results[0][0] is not None:
        problems.append(f"calc_grad returned {type(results[0][0]).__name__}, expected None")
    problems += _same_parameters("calc_grad on an nn.Linear with gradients already stored", results[0][1], results[1][1])
    # the lesson's way: a plain function of the batch, closing over leaf tensors
    results = []
    for fn in (impl, ref.calc_grad):
        w = torch.randn(5, 1, generator=_gen(seed + 1), dtype=torch.float64).requires_grad_(True)
        b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        fn(xb, yb, lambda x: x @ w + b, ref.mnist_loss)
        fn(xb2, yb2, lambda x: x @ w + b, ref.mnist_loss)
        results.append([w, b])
    problems += _same_parameters("calc_grad twice on a function model", results[0], results[1])
    return problems


def _train_epoch(impl, ref, seed):
    batches = _batches(seed, n=4)
    results = []
    for fn in (impl, ref.train_epoch):
        w = (0.3 * torch.randn(5, 1, generator=_gen(seed + 2), dtype=torch.float64)).requires_grad_(True)
        b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        returned = fn(lambda x: x @ w + b, batches, [w, b], 0.5, ref.mnist_loss)
        results.append((returned, [w, b]))
    problems = [] if results[0][0] is None else [f"train_epoch returned {type(results[0][0]).__name__}, expected None"]
    return problems + _same_parameters("train_epoch over 4 batches", results[0][1], results[1][1])


def _batch_accuracy(impl, ref, seed):
    g = _gen(seed)
    problems = []
    for shape in [(20,), (20, 1), (1, 1), (1,)]:
        preds = torch.randn(shape, generator=g, dtype=torch.float64)
        preds = torch.where(preds.abs() < MIN_ABS_SCORE, torch.full_like(preds, 0.5), preds)
        targets = torch.randint(0, 2, shape, generator=g).double()
        ours, theirs = impl(preds, targets), ref.batch_accuracy(preds, targets)
        problems += _compare(f"batch_accuracy on {shape}", ours, theirs, F64)
    return problems


def _basic_optim(impl, ref, seed):
    batches = _batches(seed, n=3)
    results = []
    for cls in (impl, ref.BasicOptim):
        model = _linear_model(seed)
        opt = cls(model.parameters(), 0.3)  # a generator, as torch hands it out
        for xb, yb in batches:
            ref.calc_grad(xb, yb, model, ref.mnist_loss)
            opt.step()
            opt.zero_grad()
        results.append(list(model.parameters()))
    problems = _same_parameters("BasicOptim(model.parameters(), 0.3), three steps", results[0], results[1])
    for i, p in enumerate(results[0]):
        if p.grad is not None and bool((p.grad != 0).any()):
            problems.append(f"BasicOptim.zero_grad left a non-zero gradient on parameter {i}")
    return problems


PROBES = {"mean_image": _mean_image, "mnist_distance": _mnist_distance, "is_3": _is_3,
          "init_params": _init_params, "linear1": _linear1, "sigmoid": _sigmoid, "mnist_loss": _mnist_loss,
          "calc_grad": _calc_grad, "train_epoch": _train_epoch, "batch_accuracy": _batch_accuracy,
          "BasicOptim": _basic_optim}


def _on_meta(name: str, impl, ref) -> list[str]:
    """`impl` runs on meta inputs (no CPU tensor made inside, no NumPy) and keeps the result there."""
    if name not in META_INPUTS:
        return []
    args = META_INPUTS[name]()
    try:
        out = impl(*args)
    except Exception as err:  # a failure in words, as every probe reports one
        first = str(err).splitlines()[0] if str(err) else ""
        return [f"{name} on the meta device: raised {type(err).__name__}: {first}"]
    if not isinstance(out, torch.Tensor) or out.device.type != "meta":
        return [f"{name} on the meta device: the result is not a meta tensor"]
    return []


def probe(name: str, impl, ref, seed: int = 0) -> list[str]:
    """Problems of `impl` (the exercise `name`) against the references `ref`, on inputs drawn from `seed`, and
    on the meta device (shapes only)."""
    return _catch(PROBES[name], impl, ref, seed) + _on_meta(name, impl, ref)


# -- the rules an exercise's source must follow (CONTRACT §1b) ---------------------------------------------


def _referenced_names(tree: ast.AST) -> set[str]:
    """Every bare name and attribute name used in `tree` (`torch.sigmoid` gives 'torch' and 'sigmoid')."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


def rule_problems(name: str, source: str) -> list[str]:
    """The contract's rules on the exercise's own code: no borrowed sigmoid, no loop over images, own sigmoid
    in mnist_loss, no borrowed torch.optim in train_epoch and BasicOptim."""
    tree = ast.parse(textwrap.dedent(source))
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name]
    body = functions[0] if functions else tree
    problems = []
    if name == "sigmoid":
        borrowed = SIGMOID_NAMES & _referenced_names(ast.Module(body=list(body.body), type_ignores=[]))
        if borrowed:
            problems.append(f"sigmoid uses PyTorch's sigmoid ({', '.join(sorted(borrowed))})")
    if name == "mnist_distance":
        loops = [n for n in ast.walk(body) if isinstance(n, (ast.For, ast.While, ast.ListComp, ast.GeneratorExp,
                                                             ast.SetComp, ast.DictComp))]
        if loops:
            problems.append("mnist_distance loops over the images in Python")
    if name in ("train_epoch", "BasicOptim"):
        borrowed = OPTIMIZER_NAMES & _referenced_names(body)
        if borrowed:
            problems.append(f"{name} borrows torch.optim ({', '.join(sorted(borrowed))})")
    if name == "mnist_loss":
        attributes = {n.attr for n in ast.walk(body) if isinstance(n, ast.Attribute)}
        calls_own = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "sigmoid"
                        for n in ast.walk(body))
        if SIGMOID_NAMES & attributes or not calls_own:
            problems.append("mnist_loss does not use the student's own sigmoid")
    return problems
