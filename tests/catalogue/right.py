"""Other correct ways to write each exercise (at least two per exercise): each must score full marks."""
from __future__ import annotations

from . import Entry

RIGHT = [
    Entry("where", "binary_loss", '''
def binary_loss(y, p):
    return torch.where(y == 1, -torch.log(p), -torch.log(1 - p)).mean()
'''),
    Entry("log1p", "binary_loss", '''
def binary_loss(y, p):
    return torch.mean(-(y * p.log() + (1 - y) * torch.log1p(-p)))
'''),
    Entry("gather", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return -p.gather(1, y[:, None]).log().mean()
'''),
    Entry("one_hot", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return -(F.one_hot(y, p.shape[1]) * p.log()).sum(dim=1).mean()
'''),
    Entry("logsumexp", "softmax", '''
def softmax(x):
    return torch.exp(x - torch.logsumexp(x, dim=-1, keepdim=True))
'''),
    Entry("unsqueeze", "softmax", '''
def softmax(x):
    z = (x - x.max(-1, keepdim=True)[0]).exp()
    return z / z.sum(-1).unsqueeze(-1)
'''),
    Entry("logsumexp", "log_softmax", '''
def log_softmax(x):
    return x - torch.logsumexp(x, dim=-1, keepdim=True)
'''),
    Entry("amax", "log_softmax", '''
def log_softmax(x):
    m = x.amax(dim=-1, keepdim=True)
    return x - m - (x - m).exp().sum(-1, keepdim=True).log()
'''),
    Entry("unsqueeze", "matmul", '''
def matmul(a, b):
    return (a.unsqueeze(-1) * b.unsqueeze(0)).sum(-2)
'''),
    Entry("transpose_b", "matmul", '''
def matmul(a, b):
    # (n, 1, k) * (1, m, k) -> (n, m, k), summed over k
    return (a[:, None, :] * b.T[None, :, :]).sum(-1)
'''),
    Entry("operator", "LogReg", '''
def get_weights(*dims):
    return nn.Parameter(torch.randn(*dims) / dims[0])

class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = get_weights(28 * 28, 10)
        self.l1_b = get_weights(10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return log_softmax(x @ self.l1_w + self.l1_b)
'''),
    Entry("zeros_flatten", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.zeros(784, 10))
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return log_softmax(torch.matmul(x.flatten(1), self.l1_w) + self.l1_b)
'''),
    Entry("zero_after_step", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    dev = next(model.parameters()).device
    history = []
    for epoch in range(epochs):
        for i, (xb, yb) in enumerate(train_dl):
            out = model(xb.to(dev))
            loss = loss_fn(out, yb.to(dev))
            loss.backward()
            optimizer.step()
            model.zero_grad()
            history.append(float(loss))
    return history
'''),
    Entry("zero_first", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            p = next(model.parameters())
            optimizer.zero_grad()
            loss = loss_fn(model(xb.to(p.device)), yb.to(p.device))
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().cpu().item())
    return losses
'''),
    Entry("data_none", "sgd_step", '''
def sgd_step(params, lr):
    for p in params:
        p.data -= lr * p.grad.data
        p.grad = None
'''),
    Entry("add_alpha", "sgd_step", '''
@torch.no_grad()
def sgd_step(params, lr):
    for p in params:
        p.add_(p.grad, alpha=-lr)
    for p in params:
        p.grad.zero_()
'''),
    Entry("population_std", "normalize", '''
def normalize(x_train, x_valid):
    m, s = x_train.mean(), x_train.std(unbiased=False)
    return (x_train - m) / s, (x_valid - m) / s
'''),
    Entry("by_hand", "normalize", '''
def normalize(x_train, x_valid):
    mean = x_train.mean()
    std = ((x_train - mean) ** 2).mean().sqrt()
    return tuple((x - mean) / std for x in (x_train, x_valid))
'''),
    Entry("sum_over_len", "accuracy", '''
def accuracy(log_probs, y):
    return (torch.argmax(log_probs, dim=1) == y).sum().item() / len(y)
'''),
    Entry("indices", "accuracy", '''
def accuracy(log_probs, y):
    return float((log_probs.max(dim=-1).indices == y).double().mean())
'''),
]
