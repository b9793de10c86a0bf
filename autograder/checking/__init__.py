"""The public check-writing API: what an assignment's hidden checks (`solutions/A/test_*.py`) import.

    from autograder.checking import (Case, FunctionExercise, Gradient, ELEMENTWISE, REDUCTION, Fail,
                                     exercise, points, ask, expect_close, ...)
    from . import reference                     # solutions/A/reference.py: the references of A

A check asks the jail (the `jail` fixture) to call the student's code on fresh inputs (`gen`), on a `device`,
compares in the judge under a named tolerance, and fails with a hint that names the misconception. See
docs/instructor-guide.md for a worked exercise from stub to hints.
"""
from autograder.checking.ask import (KEEPDIM_ADVICE, ask, ask_method, asks_for_gpu, check_meta, data_dependent,
                                     explain, mixes_devices)
from autograder.checking.compare import (ELEMENTWISE, EXACT, F32_EPS, REDUCTION, TRAJECTORY, Tol, close,
                                         expect_close, misconception, scaled_to)
from autograder.checking.contract import as_tensor, check_result_tensor, check_unchanged, grad_of
from autograder.checking.declare import Case, FunctionExercise, Gradient, exercise, points
from autograder.checking.bundle import public_module
from autograder.checking.rules import (BINARY_CROSS_ENTROPY, CONVOLUTION, CROSS_ENTROPY, LOG_SOFTMAX,
                                       MATRIX_PRODUCT, NLL_LOSS, OPTIMIZER, SIGMOID, SOFTMAX, Forbidden, Rule,
                                       rule_checks)
from autograder.judge.feedback import Fail, RuleBroken, StudentError
from autograder.judge.specs import (KnownGood, Layer, Optimizer, Params, ParamsOf, Ref, StudentModule, StudentObject,
                                    T, TorchFn, TorchModel)

__all__ = [
    "Case", "FunctionExercise", "Gradient", "exercise", "points",
    "ask", "ask_method", "explain", "check_meta", "mixes_devices", "asks_for_gpu", "data_dependent",
    "KEEPDIM_ADVICE",
    "Tol", "ELEMENTWISE", "REDUCTION", "TRAJECTORY", "EXACT", "F32_EPS", "close", "expect_close",
    "misconception", "scaled_to",
    "as_tensor", "check_result_tensor", "check_unchanged", "grad_of",
    "Fail", "RuleBroken", "StudentError",
    "T", "StudentModule", "StudentObject", "TorchModel", "Layer", "TorchFn", "Optimizer", "Params", "ParamsOf",
    "KnownGood", "Ref",
    "public_module",
    "Rule", "Forbidden", "rule_checks", "SOFTMAX", "LOG_SOFTMAX", "NLL_LOSS", "CROSS_ENTROPY",
    "BINARY_CROSS_ENTROPY", "MATRIX_PRODUCT", "CONVOLUTION", "SIGMOID", "OPTIMIZER",
]
