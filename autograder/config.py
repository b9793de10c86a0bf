"""The options of a grading run, typed and defined once. Only the command line turns the environment
(AUTOGRADER_ISOLATION, AUTOGRADER_NO_SERVER, ...) into these; nothing deeper in the engine reads it."""
from __future__ import annotations

from dataclasses import dataclass

ISOLATIONS = ("namespaces", "rlimits")


@dataclass(frozen=True)
class GradeOptions:
    """Knobs of grading one submission. Every default lives here."""
    cell_timeout: float = 30.0           # seconds per notebook cell
    submission_timeout: float = 600.0    # seconds for the whole judge of one submission
    exercises: tuple[str, ...] = ()      # grade only these (all when empty)
    select_cells: bool = True            # run only the cells grading needs (judge/source.py: needed_cells)
    fast_checks: bool = True             # call the collected checks directly, not through a pytest session
    isolation: str = "namespaces"        # "namespaces" where the machine allows, or "rlimits" (the fallback)

    def __post_init__(self):
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, not {self.isolation!r}")
        if self.cell_timeout <= 0 or self.submission_timeout <= 0:
            raise ValueError("timeouts must be positive")
        object.__setattr__(self, "exercises", tuple(self.exercises))
