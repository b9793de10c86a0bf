"""feedback.html: one self-contained page (inline CSS, no scripts, no external resources) per submission.

Every piece of text that comes from a submission or a check (student id, hints, the student's own error
messages) goes through `esc`: `safetext.clean` (no lone surrogate, so the page always encodes as UTF-8; no
control character or bidi override), then `html.escape`; the page skeleton is `template.html`, filled with
`string.Template`.
"""
from __future__ import annotations

import html
from importlib.resources import files
from string import Template

from autograder.results import GRADED, SubmissionResult
from autograder.safetext import clean

from .common import by_exercise, cell_errors, cell_name, diagnosis, hint_below, num

GENERATOR = "autograder feedback v1"
TEXT_LIMIT = 100_000   # characters of any one text on the page


def esc(text: object) -> str:
    return html.escape(clean(text, TEXT_LIMIT), quote=True)


def _pill(status: str) -> str:
    cls = status if status in ("passed", "failed", "error", GRADED) else "status-other"
    return f'<span class="pill {cls}">{esc(status)}</span>'


def _check_name(name: str, exercise: str) -> str:
    return name[len(exercise) + 2:] if name.startswith(exercise + ": ") else name


def _exercise_section(name: str, score: float, max_score: float, tests, graded: bool) -> str:
    """One exercise as a <details> block: open when points were lost, folded away at full marks."""
    full = max_score > 0 and score >= max_score
    head = (f'<summary><span class="ex-name">{esc(name)}</span>'
            f'<span class="ex-pts{" ex-full" if full else ""}">{num(score)} / {num(max_score)}</span></summary>')
    if not tests:
        why = "No check of this exercise ran." if graded else "Not graded: see the status above."
        body = f'<p class="meta">{why}</p>'
    else:
        said = diagnosis(tests)
        rows = "\n".join(
            f'<tr><td class="name">{esc(_check_name(t.name, name))}</td><td class="st">{_pill(t.status)}</td>'
            f'<td class="pts">{num(t.score)} / {num(t.max_score)}</td>'
            f'<td class="hint">{esc(hint_below(t, said))}</td></tr>'
            for t in tests)
        lead = f'<p class="diagnosis">{esc(said)}</p>\n' if said else ""
        body = (f'{lead}<table>\n<tr><th>check</th><th>status</th><th class="pts">points</th><th>hint</th></tr>\n'
                f"{rows}\n</table>")
    return f'<details id="ex-{esc(name)}"{"" if full else " open"}>{head}\n{body}\n</details>'


def _summary(rows) -> str:
    """The overview table: one row per exercise, linking to its section."""
    out = []
    for name, (score, max_score, _tests, _graded) in rows.items():
        pct = 0.0 if max_score <= 0 else max(0.0, min(100.0, 100 * score / max_score))
        cls = "full" if max_score > 0 and score >= max_score else ("none" if score <= 0 else "part")
        out.append(f'<tr class="{cls}"><td><a href="#ex-{esc(name)}">{esc(name)}</a></td>'
                   f'<td class="pts">{num(score)} / {num(max_score)}</td>'
                   f'<td class="minibar"><div class="bar"><span style="width:{pct:.1f}%"></span></div></td></tr>')
    return ('<table class="summary">\n<tr><th>exercise</th><th class="pts">points</th><th></th></tr>\n'
            + "\n".join(out) + "\n</table>")


def render_html(result: SubmissionResult) -> str:
    """The student's feedback page for one graded (or ungradable) submission."""
    rows = {name: (*row, result.status == GRADED) for name, row in by_exercise(result).items()}
    sections = _summary(rows) + "\n" + "\n".join(_exercise_section(name, *row) for name, row in rows.items())
    errors = cell_errors(result)
    cells = ""
    if errors:
        cells = "<h2><span>Cells that raised an error when your notebook ran</span></h2>\n" + "\n".join(
            f'<p class="meta">{esc(cell_name(c).capitalize())} ({esc(c.get("status", "error"))})</p>'
            f'<pre>{esc(str(c.get("error", "")).strip())}</pre>' for c in errors)
    note = f'<p class="note">{esc(result.message)}</p>' if result.message and result.status != GRADED else ""
    percent = 0.0 if result.max_score <= 0 else max(0.0, min(100.0, 100 * result.score / result.max_score))
    footer = " &middot; ".join(esc(x) for x in (
        GENERATOR, f"isolation: {result.isolation}" if result.isolation else "",
        f"notebook sha256 {result.notebook_sha256[:12]}" if result.notebook_sha256 else "",
        f"{result.seconds:.1f} s" if result.seconds else "") if x)
    page = Template(files("autograder.report").joinpath("template.html").read_text(encoding="utf-8"))
    return page.substitute(
        generator=esc(GENERATOR), title=esc(f"{result.assignment}: {result.student_id}"),
        assignment=esc(result.assignment), student=esc(result.student_id), status=esc(result.status),
        status_class=GRADED if result.status == GRADED else "status-other",
        score=num(result.score), max_score=num(result.max_score), percent=f"{percent:.1f}",
        note=note, exercises=sections, cells=cells, footer=footer)
