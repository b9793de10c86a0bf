"""Untrusted text made safe to store and show: the one function every string from a jail or a file name
goes through where it enters the judge (`wire.recv(untrusted=True)`, the intake in `notebook.py`), and that
every writer applies again (belt and braces).

`clean(text, limit)` returns text that
- holds no lone surrogate (each becomes U+FFFD), so it always encodes as UTF-8 (files, SQLite, terminals);
- holds no C0/C1 control character but newline and tab, hence no terminal escape sequence: CSI/OSC/DCS/...
  sequences are removed whole, `\\r\\n` and a lone `\\r` (which lets a line overwrite itself) become `\\n`,
  U+2028/U+2029/U+0085 (line and paragraph separators) become `\\n`;
- holds no bidirectional override, embedding, isolate or mark (U+202A-E, U+2066-9, U+200E/F, U+061C: the
  "Trojan Source" characters that make text display in another order than it reads), nor Unicode tag
  characters (U+E0000-E007F, invisible);
- is at most `limit` characters long, a cut saying so.
It is idempotent (`clean(clean(s, n), n) == clean(s, n)`) and cheap on text that needs nothing (ASCII: one pass
in C, ~2 ns a character).
"""
from __future__ import annotations

import re

DEFAULT_LIMIT = 20_000

# Terminal escape sequences (ECMA-48), removed whole so that no stray parameters are left on screen:
# CSI (ESC [ or U+009B), OSC/DCS/SOS/PM/APC strings (ESC ] P X ^ _ or their C1 forms, up to BEL or ST, never
# past a newline), and any other ESC + intermediates + final byte.
_SEQUENCE = (r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
             r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
             r"|\x1b[ -/]*[0-~]?")
_NEWLINE = r"\r\n?|[\x85\u2028\u2029]"
_DROP = (r"[\x00-\x08\x0b-\x1f\x7f-\x9f"          # C0 but tab and newline, DEL, C1
         r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
         r"\U000e0000-\U000e007f]")                # tag characters
_SURROGATE = r"[\ud800-\udfff]"
_BAD = re.compile(f"({_SEQUENCE})|({_NEWLINE})|({_SURROGATE})|{_DROP}")


def _fix(m: re.Match) -> str:
    if m.group(2) is not None:
        return "\n"
    if m.group(3) is not None:
        return "\ufffd"
    return ""


def clean(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """`text` (any object: a non-str is shown with `str()`) as safe text of at most `limit` characters."""
    if type(text) is str and len(text) < 256 and len(text) <= limit and text.isascii() and text.isprintable():
        return text   # the common case (a key, a name, a dtype): ~50 ns
    if type(text) is not str:
        try:
            text = str(text) if not isinstance(text, str) else str.__str__(text)
        except BaseException:  # noqa: BLE001 - a hostile __str__
            text = f"<{type(text).__name__}>"
    total = len(text)
    if total > 4 * limit + 64:  # never scan more than a bounded prefix of a huge text
        text = text[:4 * limit + 64]
    if not _plain_ascii(text) and _BAD.search(text) is not None:
        text = _BAD.sub(_fix, text)
    if len(text) > limit or total > 4 * limit + 64:
        text = _cut(text, limit, total)
    return text


_PRINTABLE_ASCII = bytes(range(0x20, 0x7f)) + b"\n\t"


def _plain_ascii(text: str) -> bool:
    """The fast path (about 2 ns a character, the regex takes 40): ASCII with no control but newline and tab."""
    return text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII)


def _cut(text: str, limit: int, total: int) -> str:
    marker = f" [... cut: {total} characters in all]"
    if len(marker) >= limit:
        return text[:limit]
    return text[:limit - len(marker)] + marker


def display_name(name: str | bytes, limit: int = 255) -> str:
    """A file or folder name as text: bytes that are not UTF-8 (Python's surrogate escapes, or raw bytes)
    shown as `\\xNN`, then `clean`ed. Different names can display the same (e.g. `a\\xff` and the four
    characters `a`, `\\`, `x`, `ff`): callers that need an identity keep the raw name too."""
    if isinstance(name, str) and _has_surrogate(name):
        try:
            name = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that no byte escapes to: its UTF-8-like bytes, shown escaped
            name = name.encode("utf-8", "surrogatepass")
    if isinstance(name, bytes):
        name = name.decode("utf-8", "backslashreplace")
    return clean(name, limit)


def _has_surrogate(text: str) -> bool:
    return re.search(_SURROGATE, text) is not None


def is_clean(text: str, limit: int = DEFAULT_LIMIT) -> bool:
    """Whether `clean` would leave `text` as it is."""
    return len(text) <= limit and (_plain_ascii(text) or _BAD.search(text) is None)


__all__ = ["clean", "display_name", "is_clean", "DEFAULT_LIMIT"]
