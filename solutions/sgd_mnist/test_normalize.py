"""Hidden checks of `normalize(x_train, x_valid) -> (x_train', x_valid')`: both standardised with the
training set's scalar mean and std (Bessel-corrected or population: both accepted) (10 points)."""
from __future__ import annotations

import torch

from autograder.checking import (ELEMENTWISE, Fail, ask, check_meta, check_result_tensor, check_unchanged, close,
                                 exercise, points)
from autograder.checking.rules import Rule, rule_checks

from . import reference

NAME = "normalize"
pytestmark = exercise(NAME)


def _data(gen, n_train=40, n_valid=25, d=12):
    # training and validation sets with clearly different statistics, so mixing them up shows
    x_train = 0.3 + 0.4 * torch.rand(n_train, d, generator=gen)
    x_valid = 0.1 + 0.8 * torch.rand(n_valid, d, generator=gen)
    return x_train, x_valid


def _references(x_train, x_valid):
    """Both accepted answers: Bessel-corrected std (the reference) and the population std."""
    t, v = x_train.double(), x_valid.double()
    bessel = reference.normalize(t, v)
    m, s = t.mean(), t.std(unbiased=False)
    return [bessel, ((t - m) / s, (v - m) / s)]


def _variants(x, ref_stats_of):
    """Wrong ways to standardise `x` (float64); `ref_stats_of` is the set whose statistics belong to it."""
    x, r = x.double(), ref_stats_of.double()
    return {
        "the mean and std are taken per pixel (per column, dim 0); the contract asks for one scalar mean and "
        "one scalar std over the whole training set":
            lambda: (x - r.mean(0)) / r.std(0),
        "it subtracts the mean but does not divide by the std":
            lambda: x - r.mean(),
        "it divides by the variance instead of the standard deviation":
            lambda: (x - r.mean()) / r.var(),
        "it divides by the std but does not subtract the mean":
            lambda: x / r.std(),
        "it scales to [0, 1] by min and max instead of standardising with the mean and std":
            lambda: (x - r.min()) / (r.max() - r.min()),
    }


def _outputs(value):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise Fail("`normalize` should return two tensors, `(x_train_normalised, x_valid_normalised)`")
    return value


def _matches(got, want_list, i):
    return any(close(got, w[i], ELEMENTWISE) for w in want_list)


def _explain(got, x, stats_of, which):
    for hint, make in _variants(x, stats_of).items():
        if close(got, make(), ELEMENTWISE):
            raise Fail(f"`normalize`'s {which} output is wrong: {hint}")
    raise Fail(f"`normalize`'s {which} output is not `(x - mean) / std` with the training set's mean and std")


@points(5)
def test_training_set(jail, gen, device):
    for shape in [(40, 12), (1, 30)]:
        x_train, x_valid = _data(gen, shape[0], 20, shape[1])
        r = ask(jail.call, NAME, x_train, x_valid, device=device)
        got = check_result_tensor(_outputs(r.value)[0], name=NAME, device=device, shape=x_train.shape)
        if shape[0] == 1:
            continue    # one image is still a set of 30 pixels; values are graded on the larger case
        if not _matches(got, _references(x_train, x_valid), 0):
            _explain(got, x_train, x_train, "training")


@points(2)
def test_validation_uses_training_statistics(jail, gen, device):
    x_train, x_valid = _data(gen)
    r = ask(jail.call, NAME, x_train, x_valid, device=device)
    got = check_result_tensor(_outputs(r.value)[1], name=NAME, device=device, shape=x_valid.shape)
    if _matches(got, _references(x_train, x_valid), 1):
        return
    v = x_valid.double()
    if close(got, (v - v.mean()) / v.std(), ELEMENTWISE) or close(got, (v - v.mean()) / v.std(unbiased=False), ELEMENTWISE):
        raise Fail("`normalize` standardises the validation set with its *own* mean and std. Use the training "
                   "set's: the model was trained on data shifted and scaled that way, and at test time you "
                   "cannot look at the test set's statistics")
    _explain(got, x_valid, x_train, "validation")


@points(2, earned=True)
def test_inputs_unchanged(jail, gen):
    x_train, x_valid = _data(gen)
    r = ask(jail.call, NAME, x_train, x_valid, device="cpu")
    _outputs(r.value)
    check_unchanged([x_train, x_valid], r.args, NAME)


@points(1, earned=True)
def test_meta_device(jail, gen):
    x_train, x_valid = _data(gen)
    r = check_meta(lambda: jail.call(NAME, x_train, x_valid, device="meta"), NAME)
    if r is not None:
        out = _outputs(r.value)
        check_result_tensor(out[0], name=NAME, device="meta", shape=x_train.shape)
        check_result_tensor(out[1], name=NAME, device="meta", shape=x_valid.shape)


globals().update(rule_checks(NAME, Rule()))
