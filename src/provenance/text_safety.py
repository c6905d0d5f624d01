"""Untrusted text made inert: no terminal escapes, no control characters, capped length.

Everything an endpoint, a file or a user sent passes through here before it reaches a
terminal, an error line or the run store. Standard library only (no rich): the CLI's
``cli/render.py`` adds rich-markup escaping on top (``markup_escape``).
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(s: object, limit: int = 2000) -> str:
    """Untrusted text made inert for a terminal: no escapes, no control chars, capped."""
    t = "" if s is None else str(s)
    t = _ANSI.sub("", t)
    t = t.replace("\r\n", "\n").replace("\t", "    ")
    t = _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else "", t)
    if len(t) > limit:
        t = t[:limit] + f"... [{len(t) - limit} more chars]"
    return t


def safe_line(s: object, limit: int = 500) -> str:
    """Like safe_text, on one line."""
    return safe_text(s, limit).replace("\n", " ")
