"""References of the example assignment: PyTorch's own functions, the oracle the hidden checks compare with."""
import torch
import torch.nn.functional as F


def relu(x: torch.Tensor) -> torch.Tensor:
    """max(x, 0) element-wise, any shape."""
    return F.relu(x)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean of (pred - target)², a 0-d tensor; both of the same shape."""
    return F.mse_loss(pred, target)
