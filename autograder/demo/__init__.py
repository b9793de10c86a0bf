"""`autograder demo`: grade the sample class of each assignment (`solutions/A/demo.py`) and show the result.

A bundle's demo.py defines `STUDENTS`, a list of `Student`s: who they are and what they wrote, as data."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Student:
    """One sample student: the release notebooks with the reference solutions pasted in, then `cells` (exercise
    -> the student's code for its cell) replacing some of them. `lost` lists the exercises whose checks must
    catch the mistake; `full` marks a student who must score full marks."""
    id: str
    about: str                                            # one line for the demo's table
    cells: dict[str, str] = field(default_factory=dict)
    lost: tuple[str, ...] = ()
    stubs: bool = False                                   # hand in the release notebook untouched
    truncate: bool = False                                # a corrupted file: the notebook's JSON cut in half
    full: bool = False


from .build import build_class, load_students, run_demo  # noqa: E402  (they need Student)

__all__ = ["Student", "build_class", "load_students", "run_demo"]
