"""What students never see of `mnist_basics` (CONTRACT §1b): threes against sevens, fastbook chapter 4.

`reference` holds the reference implementations of the eleven exercises, built on PyTorch's own functions
(`torch.sigmoid`, `F.l1_loss`, `F.linear`, `torch.optim.SGD`): the hidden checks' oracle, and an independent
witness of the from-scratch solutions in `source/mnist_basics/mnist_basics.ipynb`. They run in the judge only,
except the few known-good stand-ins the checks hand the student's code (`reference.py`, last section).
`test_<exercise>.py` are the hidden checks (one module per exercise; `_inputs.py`: their inputs and the rules),
`demo.py` the sample class of `autograder demo`.

Points, 10 per exercise (each written once, in its module's `points` markers or `points=` dict; "earned" points
count only once the exercise's values are right; a broken rule scores the whole exercise 0):

| exercise | value checks | earned (contract, device, own code) | rule (CONTRACT §1c) |
|---|---|---|---|
| mean_image | values 5, gradient 2 | contract 2, meta 1 | def of its cell |
| mnist_distance | values 6, gradient 2 | contract 1, meta 1 | no Python loop |
| is_3 | values 7 (known-good mnist_distance) | contract 2, meta 1 | def of its cell |
| init_params | values 4, default std 2 | leaf that requires grad 3, float32 and shape 1 | def of its cell |
| linear1 | values 5, gradient 3 | contract 1, meta 1 | def of its cell |
| sigmoid | values 3, gradient 2, large scores 3 | contract 1, meta 1 | no PyTorch sigmoid |
| mnist_loss | values 5, gradient 2 (known-good sigmoid) | contract 1, meta 1, own sigmoid 1 | no PyTorch sigmoid |
| calc_grad | function model 5, nn.Linear model 3 | returns None 1, meta 1 | def of its cell |
| train_epoch | trajectory 5, lr and small batches 2 (known-good calc_grad) | zeroed 2, meta 1 | no torch.optim |
| batch_accuracy | values 7 (known-good sigmoid) | contract 2, meta 1 | def of its cell |
| BasicOptim | one step 4, every step 2, a list 1 | zero_grad 2, meta 1 | no torch.optim |

Value checks run on every device present (cpu, and cuda where there is one), splitting their points.
"""
from .reference import (BasicOptim, batch_accuracy, calc_grad, init_params, is_3, linear1, mean_image,
                        mnist_distance, mnist_loss, sigmoid, train_epoch)

# The exercises in the order the lesson teaches them (one notebook cell each, named like the exercise).
EXERCISES = ("mean_image", "mnist_distance", "is_3", "init_params", "linear1", "sigmoid", "mnist_loss",
             "calc_grad", "train_epoch", "batch_accuracy", "BasicOptim")

__all__ = ["EXERCISES", *EXERCISES]
