"""The hidden checks against a catalogue of student code (tests/catalogue): every known-wrong implementation
scores below full on its exercise, earns its own hint, and costs nothing elsewhere; every alternative correct
implementation scores full marks. Entries of different exercises share a grading run to keep this fast."""
from __future__ import annotations

import pytest

from _grading import grade, hints, short_of_full
from catalogue import EVASIONS, RIGHT, WRONG, batches, notebook, write

pytestmark = pytest.mark.slow

WRONG_BATCHES = batches(WRONG)
EVASION_BATCHES = batches(EVASIONS)
RIGHT_BATCHES = batches(RIGHT)


def _name(batch):
    return "+".join(f"{e.exercise}.{e.id}" for e in batch)


@pytest.mark.parametrize("batch", WRONG_BATCHES, ids=[f"wrong{i}" for i in range(len(WRONG_BATCHES))])
def test_known_wrong_code_is_caught_with_its_hint(batch, tmp_path):
    path = write(notebook({e.exercise: e.code for e in batch}, after=[e.after for e in batch]), tmp_path / "wrong.ipynb")
    result = grade(path, student_id=f"catalogue-{_name(batch)}"[:120])
    below = short_of_full(result)
    problems = []
    for entry in batch:
        if entry.exercise not in below:
            problems.append(f"{entry.exercise}.{entry.id}: scored full marks")
            continue
        got = hints(result, entry.exercise)
        if not any(entry.hint in h for h in got):
            problems.append(f"{entry.exercise}.{entry.id}: expected a hint containing {entry.hint!r}, got {got}")
    touched = {e.exercise for e in batch}
    for exercise, (score, top) in below.items():
        if exercise not in touched:
            problems.append(f"{exercise} lost points ({score}/{top}) for a mistake elsewhere: "
                            f"{hints(result, exercise)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("batch", EVASION_BATCHES, ids=[f"evasion{i}" for i in range(len(EVASION_BATCHES))])
def test_evasions_of_the_rules_score_zero_with_the_rule_named(batch, tmp_path):
    """CONTRACT §1c: a broken rule scores 0 on its exercise, whatever its values, says which rule, and costs
    nothing elsewhere."""
    path = write(notebook({e.exercise: e.code for e in batch}, after=[e.after for e in batch]), tmp_path / "evasion.ipynb")
    result = grade(path, student_id=f"evasion-{_name(batch)}"[:120])
    scores, problems = result.exercise_scores(), []
    for entry in batch:
        if scores[entry.exercise] != 0:
            problems.append(f"{entry.exercise}.{entry.id}: scored {scores[entry.exercise]}, not 0: {hints(result, entry.exercise)}")
        elif not any(entry.hint in h for h in hints(result, entry.exercise)):
            problems.append(f"{entry.exercise}.{entry.id}: no hint names the rule: {hints(result, entry.exercise)}")
    touched = {e.exercise for e in batch}
    problems += [f"{ex} lost points ({s}/{m}) for an evasion elsewhere: {hints(result, ex)}"
                 for ex, (s, m) in short_of_full(result).items() if ex not in touched]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("batch", RIGHT_BATCHES, ids=[f"right{i}" for i in range(len(RIGHT_BATCHES))])
def test_other_correct_code_scores_full_marks(batch, tmp_path):
    path = write(notebook({e.exercise: e.code for e in batch}), tmp_path / "right.ipynb")
    result = grade(path, student_id=f"catalogue-{_name(batch)}"[:120])
    below = short_of_full(result)
    assert not below, "\n".join(f"{ex}: {s}/{m}: {hints(result, ex)}" for ex, (s, m) in below.items())


def test_catalogue_covers_every_exercise():
    from catalogue import EXERCISES
    for exercise in EXERCISES:
        assert sum(e.exercise == exercise for e in RIGHT) >= 2, exercise
        assert sum(e.exercise == exercise for e in WRONG) >= 2, exercise
    assert len(WRONG) >= 20 and len(EVASIONS) >= 10 + 10   # the evasions and ten more of our own
    assert len({(e.exercise, e.id) for e in WRONG + RIGHT}) == len(WRONG + RIGHT)
