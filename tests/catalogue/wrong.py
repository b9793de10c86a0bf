"""Known-wrong implementations, each with a distinctive piece of the hint it must earn from the checks."""
from __future__ import annotations

from . import Entry

WRONG = [
    # ---- binary_loss
    Entry("no_one_minus_y", "binary_loss", '''
def binary_loss(y, p):
    return -(y * torch.log(p)).mean()
''', "`(1 - y) * log(1 - p)` term is missing"),
    Entry("sum", "binary_loss", '''
def binary_loss(y, p):
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum()
''', "sums over the examples"),
    Entry("swapped_args", "binary_loss", '''
def binary_loss(p, y):
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
''', "Check the argument order"),
    Entry("not_negated", "binary_loss", '''
def binary_loss(y, p):
    return (y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
''', "negate it"),
    Entry("if_on_tensor", "binary_loss", '''
def binary_loss(y, p):
    if y == 1:
        return -torch.log(p).mean()
    return -torch.log(1 - p).mean()
''', "uses a whole tensor in an `if`"),
    Entry("numpy", "binary_loss", '''
def binary_loss(y, p):
    y, p = y.numpy(), p.numpy()
    return torch.tensor(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
''', "leaves PyTorch for NumPy"),
    # ---- categorical_cross_entropy
    Entry("columns", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return -torch.log(p[:, y]).mean()
''', "picks, for every row, the columns"),
    Entry("not_negated", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return torch.log(p[range(len(y)), y]).mean()
''', "*negative* log-probability"),
    Entry("cpu_arange", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    one_hot = (y[:, None] == torch.arange(p.shape[1])).float()
    return -(one_hot * torch.log(p)).sum(dim=1).mean()
''', "mixes devices"),
    Entry("binary_per_class", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    t = F.one_hot(y, p.shape[1]).float()
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).sum(dim=1).mean()
''', "binary formula applied per class"),
    Entry("borrowed_nll", "categorical_cross_entropy", '''
def categorical_cross_entropy(y, p):
    return F.nll_loss(torch.log(p), y)
''', "breaks the exercise's rule"),
    # ---- softmax
    Entry("seed", "softmax", '''
def softmax(x):
    return torch.exp(x) / (1 + torch.exp(x).sum(dim=0))
''', "the seed's"),
    Entry("dim0", "softmax", '''
def softmax(x):
    e = torch.exp(x - x.max())
    return e / e.sum(dim=0, keepdim=True)
''', "along dim 0"),
    Entry("unstable", "softmax", '''
def softmax(x):
    return torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)
''', "exp(x) overflows"),
    Entry("no_keepdim", "softmax", '''
def softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1)
''', "keepdim=True"),
    Entry("borrowed", "softmax", '''
def softmax(x):
    return torch.softmax(x, dim=-1)
''', "breaks the exercise's rule"),
    Entry("dim1", "softmax", '''
def softmax(x):
    e = torch.exp(x - x.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)
''', "along dim 1"),
    # ---- log_softmax
    Entry("log_of_softmax", "log_softmax", '''
def log_softmax(x):
    e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
    return torch.log(e / e.sum(dim=-1, keepdim=True))
''', "that is log(softmax(x))"),
    Entry("no_max", "log_softmax", '''
def log_softmax(x):
    return x - torch.log(torch.exp(x).sum(dim=-1, keepdim=True))
''', "log-sum-exp trick"),
    Entry("dim0", "log_softmax", '''
def log_softmax(x):
    return x - torch.logsumexp(x, dim=0, keepdim=True)
''', "along dim 0"),
    Entry("borrowed", "log_softmax", '''
def log_softmax(x):
    return F.log_softmax(x, dim=-1)
''', "breaks the exercise's rule"),
    # ---- matmul
    Entry("operator", "matmul", '''
def matmul(a, b):
    return a @ b
''', "uses the `@` operator"),
    Entry("einsum", "matmul", '''
def matmul(a, b):
    return torch.einsum("ik,kj->ij", a, b)
''', "called a built-in matrix product"),
    Entry("row_loop", "matmul", '''
def matmul(a, b):
    return torch.stack([(a[i][:, None] * b).sum(dim=0) for i in range(a.shape[0])])
''', "loops in Python"),
    Entry("transposed", "matmul", '''
def matmul(a, b):
    return (a[None, :, :] * b.T[:, None, :]).sum(-1)
''', "is the transpose"),
    Entry("wrong_axis", "matmul", '''
def matmul(a, b):
    return (a[:, :, None] * b[None, :, :]).sum(dim=0)
''', "runs over dim 0"),
    # ---- LogReg
    Entry("seed_forward", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.randn(10) / 10)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = matmul(x, self.l1_w) + self.l1_b
        return torch.log(torch.exp(x) / (1 + torch.exp(x).sum(dim=0)))
''', "the seed's"),
    Entry("transposed_weight", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(10, 784) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return log_softmax(x.reshape(len(x), -1) @ self.l1_w.T + self.l1_b)
''', "transposed"),
    Entry("plain_tensors", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = torch.randn(784, 10) / 784
        self.l1_b = torch.zeros(10)

    def forward(self, x):
        return log_softmax(x.reshape(len(x), -1) @ self.l1_w + self.l1_b)
''', "nn.Parameter"),
    Entry("borrowed", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return F.log_softmax(x.reshape(len(x), -1) @ self.l1_w + self.l1_b, dim=-1)
''', "breaks the exercise's rule"),
    Entry("no_flatten", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return log_softmax(torch.matmul(x, self.l1_w) + self.l1_b)
''', "flatten each image"),
    Entry("cpu_tensor_in_forward", "LogReg", '''
class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_w = nn.Parameter(torch.randn(784, 10) / 784)
        self.l1_b = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        x = x.reshape(len(x), -1)
        out = torch.zeros(len(x), 10)          # made on the CPU, whatever the model's device
        out += x @ self.l1_w + self.l1_b
        return log_softmax(out)
''', "must stay on the input's device"),
    # ---- fit
    Entry("no_zero_grad", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
''', "never zeroes the gradients"),
    Entry("zero_between", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            loss.backward()
            optimizer.zero_grad()
            optimizer.step()
            losses.append(loss.item())
    return losses
''', "your parameters never change"),
    Entry("step_before_backward", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            optimizer.step()
            optimizer.zero_grad()
            loss.backward()
            losses.append(loss.item())
    return losses
''', "*previous* batch's gradients"),
    Entry("no_to_device", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses
''', "without moving them to the model's device"),
    Entry("tensor_losses", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for _ in range(epochs):
        for xb, yb in train_dl:
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
    return losses
''', "returns a list of tensors"),
    Entry("one_epoch", "fit", '''
def fit(model, train_dl, loss_fn, optimizer, epochs=1):
    device = next(model.parameters()).device
    losses = []
    for xb, yb in train_dl:
        loss = loss_fn(model(xb.to(device)), yb.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
''', "runs a single epoch"),
    # ---- sgd_step
    Entry("plus", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p += lr * p.grad
            p.grad.zero_()
''', "climbs the loss"),
    Entry("no_zero", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
''', "leaves the gradients in place"),
    Entry("no_no_grad", "sgd_step", '''
def sgd_step(params, lr):
    for p in params:
        p -= lr * p.grad
        p.grad.zero_()
''', "with torch.no_grad():"),
    Entry("rebind", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p = p - lr * p.grad
''', "leaves the parameters unchanged"),
    Entry("fixed_lr", "sgd_step", '''
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= 0.1 * p.grad
            p.grad.zero_()
''', "fixed learning rate"),
    # ---- normalize
    Entry("valid_own_stats", "normalize", '''
def normalize(x_train, x_valid):
    return (x_train - x_train.mean()) / x_train.std(), (x_valid - x_valid.mean()) / x_valid.std()
''', "its *own* mean and std"),
    Entry("per_pixel", "normalize", '''
def normalize(x_train, x_valid):
    m, s = x_train.mean(dim=0), x_train.std(dim=0)
    return (x_train - m) / s, (x_valid - m) / s
''', "per pixel"),
    Entry("in_place", "normalize", '''
def normalize(x_train, x_valid):
    m, s = x_train.mean(), x_train.std()
    x_train -= m
    x_train /= s
    return x_train, (x_valid - m) / s
''', "modifies its input in place"),
    Entry("no_std", "normalize", '''
def normalize(x_train, x_valid):
    m = x_train.mean()
    return x_train - m, x_valid - m
''', "does not divide by the std"),
    # ---- accuracy
    Entry("seed_minus", "accuracy", '''
def accuracy(log_probs, y):
    return (log_probs.argmax(dim=1) - y).float().mean().item()
''', "the seed's text"),
    Entry("tensor", "accuracy", '''
def accuracy(log_probs, y):
    return (log_probs.argmax(dim=1) == y).float().mean()
''', "return a Python float"),
    Entry("percent", "accuracy", '''
def accuracy(log_probs, y):
    return 100 * (log_probs.argmax(dim=1) == y).float().mean().item()
''', "percentage"),
    Entry("max_values", "accuracy", '''
def accuracy(log_probs, y):
    return (log_probs.max(dim=1).values == y).float().mean().item()
''', "compare the *index*"),
]
