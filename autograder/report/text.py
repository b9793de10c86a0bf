"""Plain-text views of one result: the self-learner's terminal table and the Markdown feedback.

Hints and student ids are untrusted text (a hint may quote the student's own exception message). Every text
goes through `safetext.clean` first (no lone surrogate, control character, terminal escape or bidi override:
the terminal table cannot clear a screen or draw a fake score). In Markdown it is then HTML-escaped and kept
on one table row, and no bare URL or e-mail address becomes a link: GitHub's and CommonMark's autolinks need
a `:` after `http`/`https`/`ftp`/`mailto`/`xmpp`, a `.` after `www`, an `@` between two words, which are
written as character references (`&#58;`, `&#46;`, `&#64;`); a renderer shows the same characters, inert.
"""
from __future__ import annotations

import html
import re
import textwrap
from collections import Counter

from autograder.results import GRADED, PASSED, SubmissionResult
from autograder.safetext import clean

from .common import by_exercise, cell_errors, cell_name, diagnosis, hint_below, num

TEXT_LIMIT = 100_000   # characters of any one text


def _t(text: object) -> str:
    return clean(text, TEXT_LIMIT)


def render_table(result: SubmissionResult, *, width: int = 100) -> str:
    """The `autograder check` table: one row per exercise (points), then a hint under each failed check."""
    rows = {_t(name): row for name, row in by_exercise(result).items()}
    name_w = max([len("exercise"), *(len(name) for name in rows)])
    lines = [f"{_t(result.assignment)}: {num(result.score)} / {num(result.max_score)} points"
             + ("" if result.status == "graded" else f"  [{_t(result.status)}]")]
    if result.message and result.status != "graded":
        for line in _t(result.message).strip().splitlines()[-6:]:  # the gist (a traceback's last lines)
            lines += textwrap.wrap(line, width, initial_indent="  ", subsequent_indent="    ")
    lines += ["", f"{'exercise':<{name_w}}  {'points':>11}", f"{'-' * name_w}  {'-' * 11}"]
    for name, (score, max_score, tests) in rows.items():
        mark = "ok" if score >= max_score and max_score > 0 else "  "
        lines.append(f"{name:<{name_w}}  {num(score):>5} / {num(max_score):<3} {mark}".rstrip())
        said = diagnosis(tests)
        hints = [_t(said)] if said else []       # the diagnosis first, then each other distinct hint once
        hints += [_t(t.output or t.status) for t in tests if t.status != PASSED and t.output != said]
        for hint, count in dict(Counter(hints)).items():
            hint += f" (x{count})" if count > 1 else ""
            lines += textwrap.wrap(hint, width, initial_indent="    - ", subsequent_indent="      ")
    errors = cell_errors(result)
    if errors:
        lines += ["", "Cells that raised an error when the notebook ran:"]
        for cell in errors:
            first = _t(cell.get("error") or cell.get("status", "")).strip().splitlines()[-1:] or [""]
            lines += textwrap.wrap(f"{_t(cell_name(cell))}: {first[0]}", width,
                                   initial_indent="    ", subsequent_indent="      ")
    return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"[\\\[\]|]")  # links/images need [ ], tables split on |
# What makes a bare URL or address an autolink (GFM's extended autolinks; CommonMark's need `<`, escaped):
# the `:` of a scheme, the `.` after `www`, an `@` (e-mail, and `mailto:`/`xmpp:` ones).
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp):|(www)\.|@")


def _inert(m: re.Match) -> str:
    if m.group(1):
        return m.group(1) + "&#58;"
    if m.group(2):
        return m.group(2) + "&#46;"
    return "&#64;"


def unlink(text: str) -> str:
    """Markdown-ready text (already HTML-escaped) in which no bare URL or e-mail address becomes a link."""
    return _AUTOLINK.sub(_inert, text)


def md(text: object) -> str:
    """Untrusted text as one Markdown table cell: made safe (`safetext.clean`), HTML-escaped, `\\ [ ] |`
    backslash-escaped (no link or image can be smuggled in, no extra column), no autolink, newlines as <br>."""
    escaped = html.escape(_t(text), quote=False)
    escaped = unlink(_MD_SPECIAL.sub(lambda m: "\\" + m.group(0), escaped))
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
        said = diagnosis(tests)
        if said:
            out += [f"**{md(said)}**", ""]
        out += ["| check | status | points | hint |", "|---|---|---|---|"]
        for t in tests:
            hint = hint_below(t, said)
            out.append(f"| {md(t.name)} | {md(t.status)} | {num(t.score)} / {num(t.max_score)} | {md(hint)} |")
    errors = cell_errors(result)
    if errors:
        out += ["", "## Cells that raised an error", ""]
        for cell in errors:
            out += [f"{md(cell_name(cell).capitalize())} ({md(cell.get('status', 'error'))}):", "",
                    "```", _t(cell.get("error", "")).replace("```", "` ` `").strip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"
