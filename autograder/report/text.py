"""Plain-text views of one result: the self-learner's terminal table and the Markdown feedback.

Hints and student ids are untrusted text (a hint may quote the student's own exception message): in Markdown
they are HTML-escaped and kept on one table row, so no renderer turns them into markup or links to run.
"""
from __future__ import annotations

import html
import re
import textwrap
from collections import Counter

from autograder.results import GRADED, PASSED, SubmissionResult

from .common import by_exercise, cell_errors, num


def render_table(result: SubmissionResult, *, width: int = 100) -> str:
    """The `autograder check` table: one row per exercise (points), then a hint under each failed check."""
    rows = by_exercise(result)
    name_w = max([len("exercise"), *(len(name) for name in rows)])
    lines = [f"{result.assignment}: {num(result.score)} / {num(result.max_score)} points"
             + ("" if result.status == "graded" else f"  [{result.status}]")]
    if result.message and result.status != "graded":
        for line in result.message.strip().splitlines()[-6:]:  # the gist (a traceback's last lines)
            lines += textwrap.wrap(line, width, initial_indent="  ", subsequent_indent="    ")
    lines += ["", f"{'exercise':<{name_w}}  {'points':>11}", f"{'-' * name_w}  {'-' * 11}"]
    for name, (score, max_score, tests) in rows.items():
        mark = "ok" if score >= max_score and max_score > 0 else "  "
        lines.append(f"{name:<{name_w}}  {num(score):>5} / {num(max_score):<3} {mark}".rstrip())
        hints = [t.output or t.status for t in tests if t.status != PASSED]
        for hint, count in dict(Counter(hints)).items():  # one line per distinct hint, in order
            hint += f" (x{count})" if count > 1 else ""
            lines += textwrap.wrap(hint, width, initial_indent="    - ", subsequent_indent="      ")
    errors = cell_errors(result)
    if errors:
        lines += ["", "Cells that raised an error when the notebook ran:"]
        for cell in errors:
            first = (cell.get("error") or cell.get("status", "")).strip().splitlines()[-1:] or [""]
            lines += textwrap.wrap(f"cell {cell.get('index', '?')}: {first[0]}", width,
                                   initial_indent="    ", subsequent_indent="      ")
    return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"[\\\[\]|]")  # links/images need [ ], tables split on |


def md(text: str) -> str:
    """Untrusted text as one Markdown table cell: HTML-escaped, `\\ [ ] |` backslash-escaped (no
    link or image can be smuggled in, no extra column), newlines as <br>."""
    escaped = html.escape(str(text), quote=False)
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), escaped)
    return "<br>".join(escaped.splitlines()) or " "


def render_markdown(result: SubmissionResult) -> str:
    """feedback.md: the same content as feedback.html, for a terminal, an LMS comment box or a git host."""
    out = [f"# Feedback: {md(result.assignment)}", "",
           f"- Student: {md(result.student_id)}",
           f"- Score: **{num(result.score)} / {num(result.max_score)}**",
           f"- Status: {md(result.status)}"]
    if result.message and result.status != GRADED:  # why it was not graded; a graded result's notes are
        out.append(f"- Note: {md(result.message)}")  # for the instructor (results.json), not the student
    for name, (score, max_score, tests) in by_exercise(result).items():
        out += ["", f"## {md(name)}: {num(score)} / {num(max_score)}", ""]
        if not tests:
            out.append("No check of this exercise ran." if result.status == GRADED
                       else "Not graded: see the status above.")
            continue
        out += ["| check | status | points | hint |", "|---|---|---|---|"]
        for t in tests:
            hint = t.output if t.status != PASSED else ""
            out.append(f"| {md(t.name)} | {md(t.status)} | {num(t.score)} / {num(t.max_score)} | {md(hint)} |")
    errors = cell_errors(result)
    if errors:
        out += ["", "## Cells that raised an error", ""]
        for cell in errors:
            out += [f"Cell {md(cell.get('index', '?'))} ({md(cell.get('status', 'error'))}):", "",
                    "```", str(cell.get("error", "")).replace("```", "` ` `").strip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"
