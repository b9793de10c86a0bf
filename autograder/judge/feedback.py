"""What a check raises to talk to the student, and what the jail client raises about student code.

A check fails with `Fail("hint in the student's terms")`. Only that text reaches the student: the judge
never shows a check's code, its expected values or pytest's assertion rewriting (checks run with
--assert=plain). A bare AssertionError becomes a generic "does not match the reference" hint.
"""
from __future__ import annotations


class Fail(AssertionError):
    """A check failed; `hint` is the student-facing explanation (name the misconception)."""

    def __init__(self, hint: str):
        super().__init__(hint)
        self.hint = hint


class RuleBroken(Fail):
    """The exercise's rule is broken (docs/contract.md §1c: a borrowed function, a forbidden operation, a name not
    defined by its exercise cell): the whole exercise scores 0, and the hint says which rule and why."""


class CheckError(Exception):
    """The check itself is broken (the instructor's fault, never the student's): a request the jail cannot
    serve, a known-good stand-in that does not compile, ... Reported to the instructor with its cause; the
    student reads that this check could not run."""


class StudentError(Exception):
    """The student's code could not answer a request.

    kind: "exception" (their code raised; `exc_type`/`message` are theirs), "timeout" (ran past its time
    limit; the jail was killed and is restarted for the next request), "crash" (the jail process died:
    os._exit, segfault, memory limit), "missing" (the name is not defined by the notebook),
    "bad_output" (returned something that cannot travel over the wire: not a tensor, too big, ...).
    """

    def __init__(self, kind: str, message: str, *, name: str = "", exc_type: str = "", detail: str = "",
                 raised_in: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.name = name
        self.exc_type = exc_type
        self.detail = detail  # the student's own traceback (their frames only); safe to show them
        self.raised_in = raised_in  # "cell": their own code raised it; "library": torch/Python did

    def hint(self) -> str:
        """A default student-facing sentence for this error."""
        who = f"`{self.name}`" if self.name else "your code"
        if self.kind == "exception":
            return f"{who} raised {self.exc_type}: {self.message}"
        if self.kind == "timeout":
            return f"{who} did not finish within its time limit (an endless loop, or far too slow)"
        if self.kind == "crash":
            return (f"{who} ended the process it ran in (os._exit, a crash, or more memory than allowed), "
                    "so it could not be checked")
        if self.kind == "missing":
            return f"{who} is not defined: {self.message}"
        return f"{who}: {self.message}"
