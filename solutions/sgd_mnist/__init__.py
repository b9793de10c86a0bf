"""The hidden material of `sgd_mnist`: `reference.py` (the references, PyTorch's own functions), one check
module `test_<exercise>.py` per exercise (see docs/instructor-guide.md), `_inputs.py` (fresh inputs and the
exercises' rules) and `demo.py` (the sample class of `autograder demo`).

Points: 10 per exercise, 100 in all, written once in each check's `points` marker (a check parametrized over
devices splits its points, so the maximum does not depend on the machine). `earned` points count only where
the exercise's values are right; every exercise has a rule check (0 points: a broken rule scores the whole
exercise 0, CONTRACT §1c).

| exercise                  | checks (points)                                                                       |
|---------------------------|---------------------------------------------------------------------------------------|
| normalize                 | training set 5, validation uses training stats 2, inputs unchanged 2*, meta device 1* |
| binary_loss               | values 4, edge probabilities 2, gradient 2, contract 1*, meta device 1*; no BCE      |
| categorical_cross_entropy | values 4, edge probabilities 2, gradient 2, contract 1*, meta device 1*; no NLL/CE   |
| softmax                   | values 4, large logits 2, gradient 2, contract 1*, meta device 1*; no softmax        |
| log_softmax               | values 4, large logits 2, gradient 2, contract 1*, meta device 1*; no (log-)softmax  |
| matmul                    | values 5, gradient 3, contract 1*, meta device 1*; no built-in product, no loops     |
| LogReg                    | parameters 2*, forward 3, gradient 2, calls your log_softmax 2*, meta device 1*; no log-softmax |
| fit                       | SGD trajectory 4, Adam trajectory 2, learns MNIST 2, moves batches to the device 2*  |
| sgd_step                  | update 4, gradients zeroed 3*, lr argument 1, contract 1*, meta device 1*; no optim  |
| accuracy                  | values 5, Python float 2*, batch of one 1, on each device 2                          |

(* earned: only with right values.)
"""

EXERCISES = ("normalize", "binary_loss", "categorical_cross_entropy", "softmax", "log_softmax", "matmul",
             "LogReg", "fit", "sgd_step", "accuracy")
