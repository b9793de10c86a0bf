"""Evasions of the exercises' rules (issue #14): each borrows what its exercise forbids, or makes the graded
name something else than what its exercise cell defines, in a way a reading of the names in the source alone
would miss. Every one must score 0 on its exercise, with a hint that names the rule, and cost nothing
elsewhere. `after` is a cell appended at the end of the notebook (the exercise cell itself looks honest)."""
from __future__ import annotations

from . import Entry

RULE = "breaks the exercise's rule"

HONEST_MATMUL = '''
def matmul(a, b):
    return (a[:, :, None] * b[None, :, :]).sum(dim=1)
'''
HONEST_SOFTMAX = '''
def softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
'''
HONEST_LOG_SOFTMAX = '''
def log_softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))
'''
HONEST_CCE = '''
def categorical_cross_entropy(y, p):
    rows = torch.arange(len(y), device=p.device)
    return -torch.log(p[rows, y]).mean()
'''

EVASIONS = [
    # ---- the list
    Entry("getattr_concat", "softmax", '''
def softmax(x):
    return getattr(torch.nn.functional, "soft" + "max")(x, dim=-1)
''', RULE),
    Entry("rebound_globals", "matmul", HONEST_MATMUL, RULE, after="globals()['matmul'] = torch.matmul"),
    Entry("rebound_globals", "softmax", HONEST_SOFTMAX, RULE,
          after="globals()['softmax'] = lambda x: torch.softmax(x, dim=-1)"),
    Entry("rebound_globals", "log_softmax", HONEST_LOG_SOFTMAX, RULE,
          after="globals()['log_softmax'] = lambda x: torch.log_softmax(x, dim=-1)"),
    Entry("rebound_globals", "categorical_cross_entropy", HONEST_CCE, RULE,
          after="globals()['categorical_cross_entropy'] = lambda y, p: F.nll_loss(torch.log(p), y)"),
    Entry("conv1d", "matmul", '''
def matmul(a, b):
    # (1, k, n) conv with m filters of width 1 -> (1, m, n)
    return F.conv1d(a.T[None], b.T[:, :, None])[0].T
''', RULE),
    Entry("aten_softmax", "softmax", '''
def softmax(x):
    return torch.ops.aten._softmax(x, -1, False)
''', RULE),
    Entry("aten_log_softmax", "log_softmax", '''
def log_softmax(x):
    return torch.ops.aten._log_softmax(x, -1, False)
''', RULE),
    Entry("aten_nll", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return torch.ops.aten.nll_loss_forward(torch.log(p), y, None, 1, -100)[0]
''', RULE),
    Entry("aten_bce", "binary_loss", '''
def binary_loss(y, p):
    return torch.ops.aten.binary_cross_entropy(p, y, None, 1)
''', RULE),
    Entry("optim_sgd", "sgd_step", '''
def sgd_step(params, lr):
    params = list(params)
    opt = torch.optim.SGD(params, lr=lr)
    opt.step()
    opt.zero_grad()
''', RULE),
    # ---- more of the same cause, with other names
    Entry("alias_import", "softmax", '''
from torch.nn.functional import softmax as _normalise

def softmax(x):
    return _normalise(x, dim=-1)
''', RULE),
    Entry("importlib", "log_softmax", '''
import importlib

def log_softmax(x):
    fn = importlib.import_module("torch.nn." + "functional")
    return getattr(fn, "log_" + "softmax")(x, dim=-1)
''', RULE),
    Entry("partial", "softmax", '''
import functools
softmax = functools.partial(torch.softmax, dim=-1)
''', RULE),
    Entry("lambda", "matmul", '''
matmul = lambda a, b: (a[:, :, None] * b[None, :, :]).sum(dim=1)
''', RULE),
    Entry("callable_class", "log_softmax", '''
class _LogSoftmax:
    def __call__(self, x):
        z = x - x.max(dim=-1, keepdim=True).values
        return z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))

log_softmax = _LogSoftmax()
''', RULE),
    Entry("decorator", "softmax", '''
def _borrow(f):
    return lambda x: torch.softmax(x, dim=-1)

@_borrow
def softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
''', RULE),
    Entry("tensor_method", "log_softmax", '''
def log_softmax(x):
    return x.log_softmax(-1)
''', RULE),
    Entry("nll_module", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return nn.NLLLoss()(torch.log(p), y)
''', RULE),
    Entry("tensordot", "matmul", '''
def matmul(a, b):
    return torch.tensordot(a, b, dims=1)
''', RULE),
    Entry("dunder_matmul", "matmul", '''
def matmul(a, b):
    return a.__matmul__(b)
''', RULE),
    Entry("f_linear", "matmul", '''
def matmul(a, b):
    return F.linear(a, b.T)
''', RULE),
    Entry("eval", "softmax", '''
def softmax(x):
    return eval("torch." + "soft" + "max")(x, -1)
''', RULE),
    Entry("map_rows", "matmul", '''
def matmul(a, b):
    return torch.stack(list(map(lambda row: (row[:, None] * b).sum(dim=0), a)))
''', RULE),
    Entry("recursion", "matmul", '''
def matmul(a, b):
    if len(a) == 1:
        return (a[0][:, None] * b).sum(dim=0, keepdim=True)
    return torch.cat([matmul(a[:1], b), matmul(a[1:], b)])
''', RULE),
    Entry("builtin_rebound", "binary_loss", '''
def binary_loss(y, p):
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
''', RULE, after="binary_loss = lambda y, p: F.binary_cross_entropy(p, y)"),
    Entry("redefined_later", "matmul", HONEST_MATMUL, RULE,
          after="def matmul(a, b):\n    return a.mm(b)"),
    Entry("optim_by_name", "sgd_step", '''
import importlib

def sgd_step(params, lr):
    params = list(params)
    opt = getattr(importlib.import_module("torch.op" + "tim"), "S" + "GD")(params, lr=lr)
    opt.step()
    opt.zero_grad()
''', RULE),
    Entry("logreg_module", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))
        self.out = getattr(nn, "Log" + "Softmax")(dim=-1)

    def forward(self, x):
        return self.out(x.reshape(len(x), -1) @ self.l1_w + self.l1_b)
''', RULE),
]
