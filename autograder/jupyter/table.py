"""The result of `%autograde` and of the Check button: one table, as HTML for Jupyter and as plain text for
terminals and nbconvert.

One row per exercise: its name, points, a bar, the first hint (what to fix first), and the exercise's checks
folded away under it (each check's status, points and hint). Everything here comes from a
`SubmissionResult` (names, points, hints, the student's own cell errors): never check code or expected values.
Every text that came from the notebook, a file name or a check goes through `safetext.clean` (in the HTML
also `html.escape`: the feedback page's own `esc`). Styles are inline, so the
table reads the same in a notebook's output (live, or sanitised after a reload) and in the Check dialog;
the colours are JupyterLab's theme variables with light-theme fallbacks.
"""
from __future__ import annotations

from autograder.report.common import by_exercise, cell_errors, num
from autograder.report.html import esc
from autograder.report.text import render_table
from autograder.results import (CHECK_ERROR, CRASHED, GRADED, INTERNAL_ERROR, INVALID_NOTEBOOK, MISSING, PASSED,
                                TIMEOUT, SubmissionResult)
from autograder.safetext import clean

TITLE = "Hidden checks"
WHAT = "the course's grading of your saved notebook, run apart from this kernel"

# Why a notebook was not (fully) graded, in words (its message follows, when there is one).
NOT_GRADED = {
    TIMEOUT: "Not graded: your notebook ran past its time limit (an endless loop, or far too slow).",
    CRASHED: "Not graded: your code ended the process it ran in (os._exit, a crash, or more memory than allowed).",
    INVALID_NOTEBOOK: "Not graded: the notebook file could not be read.",
    MISSING: "Not graded: no notebook was found.",
    INTERNAL_ERROR: "Not graded: the autograder kit failed, not your code (tell your instructor).",
    CHECK_ERROR: ("Some hidden checks could not run: a fault of the kit or of the course, not of your code (tell "
                  "your instructor); the points are those of the checks that ran."),
}

_OK, _BAD = "var(--jp-success-color1, #1a7f37)", "var(--jp-error-color1, #c62828)"
_WARN = "var(--jp-warn-color1, #9a6700)"
_MUTED, _LINE = "var(--jp-ui-font-color2, #57606a)", "var(--jp-border-color2, #d0d7de)"
_CELL = f"padding:3px 8px;border-bottom:1px solid {_LINE};text-align:left;vertical-align:top"
_SUB = "padding:1px 6px;vertical-align:top"  # a check's row, inside its exercise's row


def headline(result: SubmissionResult) -> str:
    """`Hidden checks: 93 / 100 points`, the words the table, the dialog and the tests share."""
    return f"{TITLE}: {num(result.score)} / {num(result.max_score)} points"


def not_graded(result: SubmissionResult) -> str:
    """Why the notebook was not graded, in words; empty when it was."""
    if result.status == GRADED:
        return ""
    return NOT_GRADED.get(result.status, f"Not graded ({result.status}).")


def _bar(score: float, max_score: float) -> str:
    pct = 0.0 if max_score <= 0 else max(0.0, min(100.0, 100 * score / max_score))
    colour = _OK if pct >= 100 else (_WARN if pct > 0 else _BAD)
    return (f'<div class="ag-bar" style="width:120px;height:8px;border-radius:4px;background:{_LINE};'
            f'overflow:hidden;margin-top:5px"><div style="width:{pct:.1f}%;height:100%;background:{colour}">'
            "</div></div>")


def _checks(name: str, tests) -> str:
    """One exercise's checks, folded away: status, points, hint."""
    def row(t) -> str:
        check = t.name[len(name) + 2:] if t.name.startswith(name + ": ") else t.name
        return (f'<tr><td style="{_SUB}">{esc(check)}</td>'
                f'<td style="{_SUB};color:{_OK if t.status == PASSED else _BAD}">{esc(t.status)}</td>'
                f'<td style="{_SUB};text-align:right;white-space:nowrap">{num(t.score)} / {num(t.max_score)}</td>'
                f'<td style="{_SUB};white-space:pre-wrap">{esc(t.output) if t.status != PASSED else ""}</td></tr>')
    rows = "".join(row(t) for t in tests)
    failed = sum(t.status != PASSED for t in tests)
    label = f"{len(tests)} checks" + (f", {failed} not passed" if failed else ", all passed")
    return (f'<details class="ag-details"><summary style="cursor:pointer;color:{_MUTED}">{label}</summary>'
            f'<table style="border-collapse:collapse;margin:2px 0 6px 0">{rows}</table></details>')


def _last_line(cell: dict) -> str:
    text = str(cell.get("error") or cell.get("status") or "").strip()
    return text.splitlines()[-1] if text else ""


def render_html(result: SubmissionResult, *, about: str = "") -> str:
    """The table as HTML (a `<div class="autograder-result">`). `about` says which file was graded."""
    full = result.max_score > 0 and result.score >= result.max_score
    parts = ['<div class="autograder-result" style="font-size:13px;line-height:1.45;max-width:1000px">',
             f'<p style="margin:0 0 2px 0"><b class="ag-total" style="font-size:15px;'
             f'color:{_OK if full else "inherit"}">{esc(headline(result))}</b> &mdash; {esc(WHAT)}</p>']
    if about:
        parts.append(f'<p class="ag-about" style="margin:0 0 6px 0;color:{_MUTED}">{esc(about)}</p>')
    if result.status != GRADED:
        message = result.message.strip().splitlines()[-6:]
        parts.append(f'<p class="ag-status" style="margin:4px 0;color:{_BAD}"><b>{esc(not_graded(result))}</b>'
                     + "".join(f"<br>{esc(line)}" for line in message) + "</p>")
    rows = []
    for name, (score, max_score, tests) in by_exercise(result).items():
        hints = [t.output or t.status for t in tests if t.status != PASSED]
        first = esc(hints[0]) if hints else ("ok" if tests else "no check of this exercise ran")
        more = _checks(name, tests) if tests else ""
        ok = max_score > 0 and score >= max_score
        rows.append(
            f'<tr class="ag-row"><td style="{_CELL};font-family:var(--jp-code-font-family, monospace)">'
            f'{esc(name)}</td><td class="ag-points" style="{_CELL};text-align:right;white-space:nowrap">'
            f'{num(score)} / {num(max_score)}</td><td style="{_CELL}">{_bar(score, max_score)}</td>'
            f'<td class="ag-hint" style="{_CELL};white-space:pre-wrap;color:{_MUTED if ok else "inherit"}">'
            f"{first}{more}</td></tr>")
    head = "".join(f'<th style="{_CELL};color:{_MUTED};font-weight:600">{h}</th>'
                   for h in ("exercise", "points", "", "first hint (click for every check)"))
    parts.append(f'<table class="ag-table" style="border-collapse:collapse;margin:0">'
                 f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    errors = cell_errors(result)
    if errors:
        items = "".join(f'<li>cell {esc(c.get("index", "?"))}: {esc(_last_line(c))}</li>' for c in errors)
        parts.append('<p style="margin:8px 0 0 0">Cells that raised an error when your notebook ran:</p>'
                     f'<ul style="margin:2px 0">{items}</ul>')
    parts.append("</div>")
    return "".join(parts)


def render_text(result: SubmissionResult, *, about: str = "") -> str:
    """The same table as plain text: `autograder check`'s table under a line saying what it is."""
    lines = [f"{headline(result)} ({WHAT})"]
    if about:
        lines.append(clean(about, 2000))
    if result.status != GRADED:
        lines.append(not_graded(result))
    return "\n".join(lines) + "\n\n" + render_table(result)
