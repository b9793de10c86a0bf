"""Known-wrong and known-right answers to the `mnist_basics` exercises (CONTRACT §1b), as data.

Each entry is `(id, exercise, code, diagnosis, hint)`: `code` is a whole exercise cell, defining exactly the
exercise's name as a student would; `diagnosis` names the misconception (or, for a right one, what makes it right)
in a student's terms; `hint` (WRONG only) is a distinctive piece of the feedback the hidden checks must give it.
The hidden checks must give every WRONG entry less than full marks on its exercise, with a hint containing its
`hint`, and every RIGHT entry full marks. The code runs after the notebook's imports (`IMPORTS`: `torch`, `F`,
`nn`) and may call the student's other exercises (`sigmoid`, `mnist_distance`, `calc_grad`).

`BASE` is a complete, from-scratch correct answer to every exercise (one cell each, as the contract says): a test
notebook is the imports cell, then `BASE` with some cells replaced by entries' code.

`tests/test_mnist_basics_catalogue.py` proves each entry is what it claims against the reference solutions;
`tests/test_mnist_basics_checks.py` grades them with the hidden checks. This module imports nothing but
dataclasses, so that a check-writer can load it anywhere.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    id: str
    exercise: str
    code: str
    diagnosis: str
    hint: str = ""          # WRONG only: a distinctive substring of the feedback it must earn


IMPORTS = "import torch\nimport torch.nn.functional as F\nfrom torch import nn"

# A from-scratch correct answer to every exercise, in the lesson's order (CONTRACT §1b).
BASE = {
    "mean_image": '''
def mean_image(images):
    return images.sum(dim=0) / len(images)
''',
    "mnist_distance": '''
def mnist_distance(a, b):
    return (a - b).abs().mean((-1, -2))
''',
    "is_3": '''
def is_3(x, mean3, mean7):
    return mnist_distance(x, mean3) < mnist_distance(x, mean7)
''',
    "init_params": '''
def init_params(size, std=1.0):
    return (torch.randn(size) * std).requires_grad_()
''',
    "linear1": '''
def linear1(xb, weights, bias):
    return xb @ weights + bias
''',
    "sigmoid": '''
def sigmoid(x):
    positive = 1 / (1 + torch.exp(-x.clamp(min=0)))   # each exp sees only numbers <= 0: no overflow
    e = torch.exp(x.clamp(max=0))
    return torch.where(x >= 0, positive, e / (1 + e))
''',
    "mnist_loss": '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets == 1, 1 - s, s).mean()
''',
    "calc_grad": '''
def calc_grad(xb, yb, model, loss_fn):
    loss = loss_fn(model(xb), yb)
    loss.backward()
''',
    "train_epoch": '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()
''',
    "batch_accuracy": '''
def batch_accuracy(predictions, targets):
    return ((sigmoid(predictions) > 0.5) == (targets == 1)).float().mean()
''',
    "BasicOptim": '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
''',
}
EXERCISES = tuple(BASE)


WRONG = [
    # ---- mean_image
    Entry("mean_all_axes", "mean_image", '''
def mean_image(images):
    return images.mean()
''', "averages over every axis, giving one number instead of a (28, 28) image",
      'averages over every axis (`images.mean()`)'),
    Entry("mean_pixel_axes", "mean_image", '''
def mean_image(images):
    return images.mean(dim=(1, 2))
''', "averages over the pixel axes, giving one number per image instead of one image",
      'averages over the two pixel axes'),
    Entry("sum_not_mean", "mean_image", '''
def mean_image(images):
    return images.sum(dim=0)
''', "adds the images up without dividing by how many there are",
      'adds the images up without dividing'),
    Entry("divides_in_place", "mean_image", '''
def mean_image(images):
    images /= len(images)
    return images.sum(dim=0)
''', "divides the caller's images in place, so the stack it was given is changed",
      'modifies its input in place'),
    # ---- mnist_distance
    Entry("all_axes", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().mean()
''', "averages over every axis, giving one number for the whole batch",
      'averages over every axis (`.mean()`)'),
    Entry("no_abs", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).mean((-1, -2))
''', "forgets the absolute value, so differences of opposite sign cancel",
      'forgets the absolute value'),
    Entry("l2_distance", "mnist_distance", '''
def mnist_distance(a, b):
    return ((a - b) ** 2).mean((-1, -2)).sqrt()
''', "computes the L2 distance (root mean square) instead of the mean absolute difference",
      'is the L2 distance'),
    Entry("first_two_axes", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().mean((0, 1))
''', "averages over the first two axes (images and rows) instead of the last two (rows and columns)",
      'averages over the first two axes'),
    Entry("python_loop", "mnist_distance", '''
def mnist_distance(a, b):
    if a.dim() == 2:
        return (a - b).abs().mean()
    return torch.stack([(image - b).abs().mean() for image in a])
''', "a Python loop over images instead of broadcasting",
      "breaks the exercise's rule (no Python loops)"),
    Entry("sum_not_mean", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().sum((-1, -2))
''', "sums the differences instead of averaging them, 784 times too large",
      'sums the absolute differences instead of averaging'),
    # ---- is_3
    Entry("reversed", "is_3", '''
def is_3(x, mean3, mean7):
    return mnist_distance(x, mean3) > mnist_distance(x, mean7)
''', "calls an image a 3 when it is closer to the ideal 7: the comparison is the wrong way round",
      'the comparison is the wrong way round'),
    Entry("float_not_bool", "is_3", '''
def is_3(x, mean3, mean7):
    return (mnist_distance(x, mean3) < mnist_distance(x, mean7)).float()
''', "returns 1.0 / 0.0 floats instead of a bool tensor",
      'where the contract asks for bool'),
    Entry("batch_average", "is_3", '''
def is_3(x, mean3, mean7):
    return mnist_distance(x, mean3).mean() < mnist_distance(x, mean7).mean()
''', "compares the batch's average distances, giving one answer for all the images",
      "compares the batch's average distances"),
    # ---- init_params
    Entry("scaled_after_requires_grad", "init_params", '''
def init_params(size, std=1.0):
    return torch.randn(size, requires_grad=True) * std
''', "scales a tensor made with requires_grad=True: the result is not a leaf, and its .grad stays None",
      'it is not a leaf'),
    Entry("no_requires_grad", "init_params", '''
def init_params(size, std=1.0):
    return torch.randn(size) * std
''', "forgets requires_grad, so backward computes no gradient for these parameters",
      'without `requires_grad=True`'),
    Entry("ignores_std", "init_params", '''
def init_params(size, std=1.0):
    return torch.randn(size).requires_grad_()
''', "ignores std: the values are always standard normal",
      'ignores `std`'),
    Entry("uniform", "init_params", '''
def init_params(size, std=1.0):
    return (torch.rand(size) * std).requires_grad_()
''', "draws uniform numbers in [0, 1) with torch.rand instead of normal ones with torch.randn",
      'draws uniform numbers in [0, 1) with `torch.rand`'),
    # ---- linear1
    Entry("elementwise", "linear1", '''
def linear1(xb, weights, bias):
    return xb * weights.T + bias
''', "multiplies element by element instead of a matrix product: one number per pixel, not one score per image",
      'multiplies element by element'),
    Entry("no_bias", "linear1", '''
def linear1(xb, weights, bias):
    return xb @ weights
''', "forgets to add the bias",
      'forgets to add the bias'),
    Entry("row_not_column", "linear1", '''
def linear1(xb, weights, bias):
    return weights.T @ xb.T + bias
''', "returns the scores as a row (1, N) instead of a column (N, 1)",
      'returns the scores as a row (1, N)'),
    Entry("sums_the_batch", "linear1", '''
def linear1(xb, weights, bias):
    return (xb * weights.T).sum() + bias
''', "sums over the whole batch, giving one score for all the images together",
      'sums over the whole batch'),
    # ---- sigmoid
    Entry("naive", "sigmoid", '''
def sigmoid(x):
    return 1 / (1 + torch.exp(-x))
''', "naive sigmoid: gradient nan for very negative scores",
      'the gradient of your `sigmoid` is nan for very negative scores: the slope of 1 / (1 + exp(-x))'),
    Entry("where_unclamped", "sigmoid", '''
def sigmoid(x):
    return torch.where(x >= 0, 1 / (1 + torch.exp(-x)), torch.exp(x) / (1 + torch.exp(x)))
''', "picks a safe formula with torch.where but feeds both branches every input: the branch not picked overflows "
         "and still makes the gradient nan",
      'evaluates (and differentiates) both of its branches'),
    Entry("exp_over_one_plus_exp", "sigmoid", '''
def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))
''', "uses only the form e^x / (1 + e^x), which is inf / inf = nan for large positive scores",
      'returns inf or nan for very positive scores'),
    Entry("torch_sigmoid", "sigmoid", '''
def sigmoid(x):
    return torch.sigmoid(x)
''', "uses torch.sigmoid instead of writing the formula",
      "breaks the exercise's rule (no PyTorch's sigmoid): it uses `torch.sigmoid`"),
    Entry("tensor_method", "sigmoid", '''
def sigmoid(x):
    return x.sigmoid()
''', "uses Tensor.sigmoid instead of writing the formula",
      "breaks the exercise's rule (no PyTorch's sigmoid): it uses `x.sigmoid`"),
    Entry("abs_kills_slope_at_zero", "sigmoid", '''
def sigmoid(x):
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
''', "takes -|x| with x.abs(), whose gradient at 0 is 0: the slope at a score of exactly 0 comes out 0 instead of "
         "0.25, so a model started at zero never learns",
      'at a score of exactly 0 is wrong'),
    # ---- mnist_loss
    Entry("no_sigmoid", "mnist_loss", '''
def mnist_loss(predictions, targets):
    return torch.where(targets == 1, 1 - predictions, predictions).mean()
''', "forgets the sigmoid: raw scores are used as if they were between 0 and 1",
      'forgets the sigmoid'),
    Entry("cases_swapped", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets == 1, s, 1 - s).mean()
''', "swaps the two cases, rewarding the model for calling a 3 a 7",
      'swaps the two cases'),
    Entry("borrowed_sigmoid", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = torch.sigmoid(predictions)
    return torch.where(targets == 1, 1 - s, s).mean()
''', "uses torch.sigmoid instead of your own sigmoid",
      "breaks the exercise's rule (no PyTorch's sigmoid): it uses `torch.sigmoid`"),
    Entry("flattened_targets", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets.flatten() == 1, 1 - s, s).mean()
''', "targets (N,) against predictions (N, 1) broadcast to (N, N): every prediction is compared with every target",
      '(the targets flattened), which broadcast to an (N, N) table'),
    Entry("sum_not_mean", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets == 1, 1 - s, s).sum()
''', "sums the losses over the batch instead of averaging them",
      'sums over the batch instead of averaging'),
    Entry("no_reduction", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets == 1, 1 - s, s)
''', "returns one loss per image instead of their mean (a 0-d tensor)",
      'returns one loss per image'),
    # ---- calc_grad
    Entry("zeroes_first", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    model.zero_grad()
    loss_fn(model(xb), yb).backward()
''', "calc_grad calls zero_grad, throwing away the gradients it should add to",
      "zeroing the gradients is the caller's job"),
    Entry("no_backward", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    loss = loss_fn(model(xb), yb)
''', "computes the loss but never calls backward, so no gradient is stored",
      'leaves no gradient behind'),
    Entry("arguments_swapped", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    loss_fn(yb, model(xb)).backward()
''', "passes the targets as predictions and the predictions as targets to the loss",
      'passes the targets as predictions'),
    Entry("detached", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    loss_fn(model(xb).detach(), yb).backward()
''', "detaches the predictions, so backward has no graph to follow back to the parameters",
      'cut from autograd (`.detach()`'),
    # ---- train_epoch
    Entry("never_zeroes", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
''', "train_epoch never zeroes the gradients, so every step adds up all the earlier batches' gradients",
      'never zeroes the gradients'),
    Entry("no_no_grad", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        for p in params:
            p -= lr * p.grad
            p.grad.zero_()
''', "steps without torch.no_grad(): PyTorch refuses an in-place change of a leaf that requires grad",
      'wrap the update in `with torch.no_grad():`'),
    Entry("rebinds_the_name", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p = p - lr * p.grad
                p.grad = None
''', "writes p = p - lr * p.grad, which makes a new tensor and leaves the parameter itself unchanged",
      'the gradients pile up, as when `p = p - ...` only rebinds the name'),
    Entry("uphill", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p += lr * p.grad
                p.grad.zero_()
''', "steps up the gradient (p += ...) instead of down, so the loss grows",
      'steps up the gradient'),
    Entry("zeroes_before_the_step", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p.grad.zero_()
                p -= lr * p.grad
''', "zeroes each gradient before using it, so every step is a step of zero",
      '(here: the gradients are zeroed before the step)'),
    Entry("one_step_per_epoch", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad.zero_()
''', "computes every batch's gradient but steps once, after the loop, with their sum",
      'steps once, after the loop'),
    # ---- batch_accuracy
    Entry("raw_score_at_half", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((predictions > 0.5) == (targets == 1)).float().mean()
''', "thresholds the raw score at 0.5 instead of its sigmoid (or the score at 0)",
      'thresholds the raw score at 0.5'),
    Entry("sigmoid_equals_target", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return (sigmoid(predictions) == targets).float().mean()
''', "compares the sigmoid itself, a number between 0 and 1, with the 0/1 target instead of thresholding it",
      'compares the sigmoid itself'),
    Entry("python_float", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((sigmoid(predictions) > 0.5) == (targets == 1)).float().mean().item()
''', "returns a Python float with .item() instead of a 0-d tensor",
      'should return a torch.Tensor, not float'),
    Entry("flattened_targets", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((sigmoid(predictions) > 0.5) == (targets.flatten() == 1)).float().mean()
''', "targets (N,) against predictions (N, 1) broadcast to (N, N): every prediction is compared with every target",
      '(the targets flattened), which broadcast to an (N, N) table'),
    Entry("error_rate", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((sigmoid(predictions) > 0.5) != (targets == 1)).float().mean()
''', "returns the fraction wrong (the error rate) instead of the fraction right",
      'the fraction wrong (the error rate)'),
    # ---- BasicOptim
    Entry("keeps_the_generator", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
''', "BasicOptim stores the generator and only updates on the first step",
      'moves the parameters on its first step only'),
    Entry("no_no_grad", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        for p in self.params:
            p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
''', "steps without torch.no_grad(): PyTorch refuses an in-place change of a leaf that requires grad",
      'wrap the update in `with torch.no_grad():`'),
    Entry("zero_without_call", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad.zero_
''', "writes p.grad.zero_ without the parentheses, so zero_grad clears nothing and the gradients pile up",
      '`p.grad.zero_` alone only names the method'),
    Entry("rebinds_the_name", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p = p - self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
''', "step writes p = p - lr * p.grad, which makes a new tensor and leaves the parameter itself unchanged",
      'only rebinds the name `p`'),
    # ---- more, one per misconception the hidden checks name (added with the checks)
    Entry("cpu_accumulator", "mean_image", '''
def mean_image(images):
    total = torch.zeros(28, 28)
    for image in images:
        total = total + image
    return total / len(images)
''', "adds the images into a total made on the CPU, so it breaks for images on a GPU",
      "mixes devices"),
    Entry("last_axis", "mean_image", '''
def mean_image(images):
    return images.mean(-1)
''', "averages along the last axis, the columns of each image, instead of over the images",
      "averages along the last axis"),
    Entry("default_l1_loss", "mnist_distance", '''
def mnist_distance(a, b):
    return F.l1_loss(a, b)
''', "uses F.l1_loss with its default mean over every element, one number for the whole batch",
      "averages over every axis (`.mean()`)"),
    Entry("last_axis_only", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().mean(-1)
''', "averages over the last axis only, one number per row of pixels",
      "averages over the last axis only"),
    Entry("numpy", "is_3", '''
def is_3(x, mean3, mean7):
    return torch.from_numpy(mnist_distance(x, mean3).numpy() < mnist_distance(x, mean7).numpy())
''', "leaves PyTorch for NumPy to compare, which cannot follow the images to a GPU",
      "leaves PyTorch for NumPy"),
    Entry("divides_by_std", "init_params", '''
def init_params(size, std=1.0):
    return (torch.randn(size) / std).requires_grad_()
''', "divides the standard normal numbers by std instead of multiplying",
      "divides by `std` instead of multiplying"),
    Entry("unpacks_the_size", "init_params", '''
def init_params(size, std=1.0):
    return (torch.randn(*size) * std).requires_grad_()
''', "unpacks size with *, which fails for a plain number such as init_params(1)",
      "fails for a size that is a plain number"),
    Entry("times_bias", "linear1", '''
def linear1(xb, weights, bias):
    return (xb @ weights) * bias
''', "multiplies by the bias instead of adding it",
      "multiplies by the bias instead of adding it"),
    Entry("cpu_ones", "linear1", '''
def linear1(xb, weights, bias):
    return xb @ weights + bias * torch.ones(xb.shape[0], 1)
''', "broadcasts the bias with a column of ones made on the CPU, which breaks on a GPU",
      "mixes devices"),
    Entry("sign_flipped", "sigmoid", '''
def sigmoid(x):
    return 0.5 * (1 - torch.tanh(x / 2))
''', "has the sign flipped: it computes sigmoid(-x), which goes to 0 for large scores",
      "the sign of the exponent flipped"),
    Entry("log_sigmoid", "sigmoid", '''
def sigmoid(x):
    return F.logsigmoid(x).exp()
''', "borrows PyTorch's log-sigmoid, which is PyTorch's sigmoid in disguise",
      "breaks the exercise's rule (no PyTorch's sigmoid): it uses `torch.nn.functional.logsigmoid`"),
    Entry("cross_entropy", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return -(targets * torch.log(s) + (1 - targets) * torch.log(1 - s)).mean()
''', "computes the binary cross-entropy instead of the lesson's distance from the target",
      "is the binary cross-entropy"),
    Entry("inlines_the_sigmoid", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = 1 / (1 + torch.exp(-predictions))
    return torch.where(targets == 1, 1 - s, s).mean()
''', "writes the sigmoid formula again instead of calling the sigmoid written above",
      "does not call your `sigmoid`"),
    Entry("global_loss", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    mnist_loss(model(xb), yb).backward()
''', "calls mnist_loss itself instead of the loss_fn it was given",
      "instead of the `loss_fn` it was given"),
    Entry("backward_twice", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    loss = loss_fn(model(xb), yb)
    loss.backward(retain_graph=True)
    loss.backward()
''', "calls backward twice, so each batch's gradient is added twice",
      "adds this batch's gradient twice"),
    Entry("returns_the_loss", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    loss = loss_fn(model(xb), yb)
    loss.backward()
    return loss
''', "returns the loss, where the contract says calc_grad returns nothing",
      "returns something"),
    Entry("ignores_lr", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p -= p.grad
                p.grad.zero_()
''', "steps by the whole gradient, ignoring the learning rate",
      "ignores the learning rate"),
    Entry("borrowed_optimizer", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    opt = torch.optim.SGD(params, lr=lr)
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        opt.step()
        opt.zero_grad()
''', "borrows torch.optim.SGD instead of writing the step",
      "breaks the exercise's rule (no torch.optim's optimizers)"),
    Entry("zero_before_calc_grad", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        for p in params:
            if p.grad is not None:
                p.grad.zero_()
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
''', "zeroes before each batch instead of after each step, so the last batch's gradients stay behind",
      "leaves the last batch's gradients in `.grad`"),
    Entry("percentage", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return 100 * ((sigmoid(predictions) > 0.5) == (targets == 1)).float().mean()
''', "returns a percentage instead of a fraction",
      "is a percentage"),
    Entry("count", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((sigmoid(predictions) > 0.5) == (targets == 1)).float().sum()
''', "counts the right rows without dividing by their number",
      "does not divide by their number"),
    Entry("uphill", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p += self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
''', "steps up the gradient instead of down",
      "steps up the gradient"),
    Entry("borrowed_sgd", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.sgd = torch.optim.SGD(list(params), lr=lr)

    def step(self):
        self.sgd.step()

    def zero_grad(self):
        self.sgd.zero_grad()
''', "wraps torch.optim.SGD instead of writing the step",
      "breaks the exercise's rule (no torch.optim's optimizers)"),
]


RIGHT = [
    # ---- mean_image
    Entry("mean_dim0", "mean_image", '''
def mean_image(images):
    return images.mean(0)
''', "the mean over axis 0, the images"),
    Entry("sum_over_count", "mean_image", '''
def mean_image(images):
    return images.sum(dim=0) / images.shape[0]
''', "the sum over the images divided by how many there are"),
    Entry("keepdim_then_squeeze", "mean_image", '''
def mean_image(images):
    return images.mean(dim=0, keepdim=True).squeeze(0)
''', "keepdim variant: (1, 28, 28) squeezed back to (28, 28)"),
    # ---- mnist_distance
    Entry("abs_mean_last_two", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().mean((-1, -2))
''', "`.abs().mean((-1,-2))`: broadcasting, then the mean over the two pixel axes"),
    Entry("dim_keyword_other_order", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().mean(dim=(-2, -1))
''', "`(a-b).abs().mean(dim=(-2,-1))`: the same two axes in the other order"),
    Entry("one_axis_at_a_time", "mnist_distance", '''
def mnist_distance(a, b):
    return torch.abs(a - b).mean(-1).mean(-1)
''', "the mean over the columns, then over the rows: equal, since every row has 28 pixels"),
    Entry("keepdim_then_squeeze", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().mean((-1, -2), keepdim=True).squeeze(-1).squeeze(-1)
''', "keepdim variant, with the two size-1 axes squeezed away"),
    Entry("flatten_pixels", "mnist_distance", '''
def mnist_distance(a, b):
    return (a - b).abs().flatten(-2).mean(-1)
''', "the two pixel axes flattened into one, then averaged"),
    # ---- is_3
    Entry("compare_distances", "is_3", '''
def is_3(x, mean3, mean7):
    return mnist_distance(x, mean3) < mnist_distance(x, mean7)
''', "the comparison of the two distances, broadcast over the batch"),
    Entry("difference_below_zero", "is_3", '''
def is_3(x, mean3, mean7):
    return (mnist_distance(x, mean3) - mnist_distance(x, mean7)) < 0
''', "the sign of the difference of the distances"),
    Entry("torch_lt", "is_3", '''
def is_3(x, mean3, mean7):
    return torch.lt(mnist_distance(x, mean3), mnist_distance(x, mean7))
''', "torch.lt, the function behind <"),
    # ---- init_params
    Entry("scale_then_requires_grad", "init_params", '''
def init_params(size, std=1.0):
    return (torch.randn(size) * std).requires_grad_()
''', "scaled first, then made a leaf that requires grad"),
    Entry("attribute", "init_params", '''
def init_params(size, std=1.0):
    p = torch.randn(size).mul(std)
    p.requires_grad = True
    return p
''', "the requires_grad attribute set on the scaled tensor, which is still a leaf"),
    # ---- linear1
    Entry("matmul_operator", "linear1", '''
def linear1(xb, weights, bias):
    return xb @ weights + bias
''', "the matrix product plus the broadcast bias"),
    Entry("torch_matmul", "linear1", '''
def linear1(xb, weights, bias):
    return torch.matmul(xb, weights) + bias
''', "torch.matmul, the function behind @"),
    Entry("broadcast_and_sum", "linear1", '''
def linear1(xb, weights, bias):
    return (xb * weights.T).sum(dim=1, keepdim=True) + bias
''', "the products broadcast and summed along each row, kept as a column"),
    # ---- sigmoid
    Entry("clamped_where", "sigmoid", '''
def sigmoid(x):
    positive = 1 / (1 + torch.exp(-x.clamp(min=0)))
    e = torch.exp(x.clamp(max=0))
    return torch.where(x >= 0, positive, e / (1 + e))
''', "`torch.where` over two stable forms, each branch's input clamped to its own side"),
    Entry("exp_of_minus_abs_via_where", "sigmoid", '''
def sigmoid(x):
    e = torch.exp(torch.where(x >= 0, -x, x))  # exp(-|x|), with the slope of -x kept at 0
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
''', "a stable sigmoid via exp of -|x|, with -|x| taken by torch.where so its slope at 0 is kept"),
    Entry("tanh_identity", "sigmoid", '''
def sigmoid(x):
    return 0.5 * (1 + torch.tanh(x / 2))
''', "the identity sigmoid(x) = (1 + tanh(x / 2)) / 2: tanh never overflows"),
    Entry("exp_of_softplus", "sigmoid", '''
def sigmoid(x):
    return torch.exp(-F.softplus(-x))
''', "sigmoid(x) = exp(-log(1 + exp(-x))) with PyTorch's stable softplus"),
    Entry("clamp_the_score", "sigmoid", '''
def sigmoid(x):
    return 1 / (1 + torch.exp(-x.clamp(-80.0, 80.0)))
''', "the score clamped to +-80 first: exp never overflows, and beyond that the true slope is below 1e-34"),
    # ---- mnist_loss
    Entry("where_mean", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets == 1, 1 - s, s).mean()
''', "the torch.where loss on the student's own sigmoid"),
    Entry("arithmetic_mix", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return (targets * (1 - s) + (1 - targets) * s).mean()
''', "the same choice made by arithmetic, exact for 0/1 targets"),
    Entry("bool_condition", "mnist_loss", '''
def mnist_loss(predictions, targets):
    s = sigmoid(predictions)
    return torch.where(targets.bool(), 1 - s, s).mean()
''', "`torch.where` form with the targets as the condition"),
    # ---- calc_grad
    Entry("two_lines", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    loss = loss_fn(model(xb), yb)
    loss.backward()
''', "forward, loss, backward, and nothing zeroed"),
    Entry("one_line", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    loss_fn(model(xb), yb).backward()
''', "the same in one line"),
    # ---- train_epoch
    Entry("no_grad_step_then_zero", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()
''', "step under torch.no_grad(), then the gradient zeroed"),
    Entry("data_like_the_book", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        for p in params:
            p.data -= p.grad.data * lr
            p.grad.zero_()
''', "the book's .data form: the update is not recorded either"),
    Entry("sub_and_none", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p.sub_(lr * p.grad)
                p.grad = None
''', "in-place sub_ under torch.no_grad(), gradients cleared by setting them to None"),
    # ---- batch_accuracy
    Entry("sigmoid_threshold", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((sigmoid(predictions) > 0.5) == (targets == 1)).float().mean()
''', "the sigmoid above 0.5 compared with the target"),
    Entry("score_above_zero", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((predictions > 0) == targets.bool()).float().mean()
''', "the score above 0, the same test without the sigmoid"),
    Entry("float_comparison", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return ((sigmoid(predictions) > 0.5).float() == targets).float().mean()
''', "the prediction as 0.0 / 1.0 compared with the float target"),
    # ---- BasicOptim
    Entry("list_and_none", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = None
''', "the parameters kept as a list; gradients cleared by setting them to None"),
    Entry("list_comprehension", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params = [p for p in params]
        self.lr = lr

    def step(self, *args, **kwargs):
        for p in self.params:
            p.data -= p.grad.data * self.lr

    def zero_grad(self, *args, **kwargs):
        for p in self.params:
            p.grad = None
''', "`BasicOptim` via a list comprehension, stepping with .data like the book"),
    Entry("tuple_and_zero_", "BasicOptim", '''
class BasicOptim:
    def __init__(self, params, lr):
        self.params = tuple(params)
        self.lr = lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p.sub_(self.lr * p.grad)

    def zero_grad(self):
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()
''', "the parameters kept as a tuple; gradients zeroed in place"),
    # ---- more (added with the checks)
    Entry("broadcast_l1_loss", "mnist_distance", '''
def mnist_distance(a, b):
    return F.l1_loss(*torch.broadcast_tensors(a, b), reduction="none").mean((-1, -2))
''', "F.l1_loss without its reduction on the broadcast pair, then the mean over the two pixel axes"),
    Entry("normal_in_place", "init_params", '''
def init_params(size, std=1.0):
    return torch.empty(size).normal_(0, std).requires_grad_()
''', "normal_ draws the same numbers torch.randn(size) * std does"),
    Entry("sum_of_products", "linear1", '''
def linear1(xb, weights, bias):
    return (xb[:, :, None] * weights[None, :, :]).sum(1) + bias
''', "the product written as broadcasting and a sum over the pixels"),
    Entry("rounded_sigmoid", "batch_accuracy", '''
def batch_accuracy(predictions, targets):
    return (sigmoid(predictions).round() == targets).float().mean()
''', "the sigmoid rounded to 0 or 1 and compared with the float target"),
    Entry("three_steps_spelled_out", "calc_grad", '''
def calc_grad(xb, yb, model, loss_fn):
    predictions = model(xb)
    loss = loss_fn(predictions, yb)
    loss.backward()
    return None
''', "the three steps spelled out, returning None explicitly"),
    Entry("zero_grad_method", "train_epoch", '''
def train_epoch(model, dl, params, lr, loss_fn):
    params = list(params)
    for xb, yb in dl:
        calc_grad(xb, yb, model, loss_fn)
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-lr)
        for p in params:
            p.grad = None
''', "the step as add_ with alpha=-lr, the gradients cleared in a second loop"),
]
