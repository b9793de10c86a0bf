"""The `mnist_basics` catalogue (tests/catalogue_mnist_basics.py) is what it claims, against the references.

Every RIGHT entry passes every probe and rule of tests/mnist_basics_probes.py on three seeds; every WRONG entry
fails at least one, so a hidden check that compares with the references can catch it. The catalogue itself is
plain data: whole exercise cells defining exactly their exercise's name, at least 25 wrong and 15 right, every
exercise with at least two wrong and one right, and a file that imports nothing but dataclasses.
"""
from __future__ import annotations

import ast
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import catalogue_mnist_basics as catalogue
from mnist_basics_probes import PROBES, load_reference, probe, rule_problems

REF = load_reference()
EXERCISES = ("mean_image", "mnist_distance", "is_3", "init_params", "linear1", "sigmoid", "mnist_loss",
             "calc_grad", "train_epoch", "batch_accuracy", "BasicOptim")
SEEDS = (0, 1, 2)
# What a catalogue cell may use besides its own code: the notebook's imports and the student's other exercises.
DEPENDENCIES = ("sigmoid", "mnist_distance", "calc_grad")


def _define(entry: catalogue.Entry):
    """Run the entry's cell in a namespace like the notebook's (references for the other exercises)."""
    namespace = {"torch": torch, "F": F, "nn": nn, **{name: getattr(REF, name) for name in DEPENDENCIES}}
    exec(compile(textwrap.dedent(entry.code), f"<catalogue {entry.exercise}/{entry.id}>", "exec"), namespace)
    return namespace[entry.exercise]


def _all_problems(entry: catalogue.Entry) -> list[str]:
    impl = _define(entry)
    problems = rule_problems(entry.exercise, entry.code)
    for seed in SEEDS:
        problems += probe(entry.exercise, impl, REF, seed)
    return problems


def test_the_catalogue_covers_every_exercise_and_is_big_enough():
    assert set(PROBES) == set(EXERCISES)
    wrong, right = Counter(e.exercise for e in catalogue.WRONG), Counter(e.exercise for e in catalogue.RIGHT)
    assert len(catalogue.WRONG) >= 25 and len(catalogue.RIGHT) >= 15
    for name in EXERCISES:
        assert wrong[name] >= 2 and right[name] >= 1, f"{name}: {wrong[name]} wrong, {right[name]} right"
    assert set(wrong) | set(right) == set(EXERCISES), "an entry names an exercise the lesson does not have"
    ids = [(e.exercise, e.id, kind) for kind, entries in (("wrong", catalogue.WRONG), ("right", catalogue.RIGHT))
           for e in entries]
    assert len(set(ids)) == len(ids), "ids must be unique within an exercise and kind"


@pytest.mark.parametrize("entry", catalogue.WRONG + catalogue.RIGHT, ids=lambda e: f"{e.exercise}-{e.id}")
def test_each_entry_is_one_cell_defining_exactly_its_exercise(entry):
    tree = ast.parse(textwrap.dedent(entry.code))
    defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert defined == [entry.exercise] and len(tree.body) == 1, f"defines {defined} with {len(tree.body)} statements"
    one_sentence = "\n" not in entry.diagnosis and ". " not in entry.diagnosis and not entry.diagnosis.endswith(".")
    assert entry.diagnosis and one_sentence, "a diagnosis is one sentence in a student's terms, as in the feedback"


def test_the_catalogue_file_imports_nothing_but_dataclasses():
    tree = ast.parse(Path(catalogue.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"dataclasses"}


@pytest.mark.parametrize("entry", catalogue.RIGHT, ids=lambda e: f"{e.exercise}-{e.id}")
def test_right_entries_agree_with_the_references(entry):
    assert _all_problems(entry) == []


@pytest.mark.parametrize("entry", catalogue.WRONG, ids=lambda e: f"{e.exercise}-{e.id}")
@pytest.mark.filterwarnings("ignore:Using a target size:UserWarning")   # what the broadcasting mistakes do
def test_wrong_entries_are_caught_by_a_probe_or_a_rule(entry):
    assert _all_problems(entry), f"nothing distinguishes '{entry.diagnosis}' from the references"


def test_the_probes_name_the_problem_of_known_mistakes():
    """Spot checks that the probes fail for the stated reason, not by accident."""
    by_id = {(e.exercise, e.id): e for e in catalogue.WRONG}
    naive = _all_problems(by_id[("sigmoid", "naive")])
    assert any("gradient" in p and "nan" in p for p in naive), naive
    assert any("shape (28,)" in p for p in _all_problems(by_id[("mnist_distance", "first_two_axes")]))
    assert _all_problems(by_id[("mnist_distance", "python_loop")])[0] == "mnist_distance loops over the images in Python"
    assert _all_problems(by_id[("sigmoid", "torch_sigmoid")])[0] == "sigmoid uses PyTorch's sigmoid (sigmoid)"
    assert any("is_leaf False" in p for p in _all_problems(by_id[("init_params", "scaled_after_requires_grad")]))
    flattened = _all_problems(by_id[("mnist_loss", "flattened_targets")])
    assert flattened and all(p.startswith("mnist_loss on (9, 1): values differ") for p in flattened), flattened
    assert _all_problems(by_id[("mean_image", "divides_in_place")])[0].endswith("modifies its input in place")
    slope_at_zero = _all_problems(by_id[("sigmoid", "abs_kills_slope_at_zero")])
    assert slope_at_zero and all("gradient" in p for p in slope_at_zero), slope_at_zero
