"""Style features: formatting habits, openings, stock phrases, length, lexical n-grams.

``style_summary(text)`` gives human-readable counts; ``style_markers(text)``
turns them into pseudo-tokens (``~h2``, ``~open:certainly ! here``, ``~len:3``)
that the classifier counts beside the words, so formatting habits weigh in the
same naive-Bayes channel as vocabulary.
"""

from __future__ import annotations

import re
from typing import Any

from ..transcript import Transcript
from .text import ngrams, words

_EMOJI_RX = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_HEADER_RX = re.compile(r"^(#{1,6})\s")
_BULLET_RX = re.compile(r"^\s*([-*\u2022+])\s")
_NUMBERED_RX = re.compile(r"^\s*\d+[.)]\s")
_BOLD_RX = re.compile(r"\*\*[^*\n]+\*\*")
_CODE_FENCE_RX = re.compile(r"^```")
_TABLE_RX = re.compile(r"^\s*\|.*\|\s*$")

STOCK_PHRASES = (
    "as an ai", "i'm sorry", "i apologize", "certainly!", "sure!", "of course", "great question",
    "i hope this helps", "let me know if", "feel free to", "in summary", "in conclusion",
    "here's", "here is", "overall,", "it's important to note", "keep in mind", "delve",
    "happy to help", "i'd be happy", "absolutely!", "step-by-step", "note:",
)


def _length_bucket(n: int) -> int:
    for i, edge in enumerate((20, 80, 200, 500, 1000, 2000)):
        if n < edge:
            return i
    return 6


def style_summary(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    low = text.lower()
    return {
        "chars": len(text),
        "lines": len(lines),
        "headers": sum(1 for ln in lines if _HEADER_RX.match(ln)),
        "bullets": sum(1 for ln in lines if _BULLET_RX.match(ln)),
        "numbered": sum(1 for ln in lines if _NUMBERED_RX.match(ln)),
        "bold": len(_BOLD_RX.findall(text)),
        "emoji": len(_EMOJI_RX.findall(text)),
        "code_blocks": sum(1 for ln in lines if _CODE_FENCE_RX.match(ln.strip())) // 2,
        "table_rows": sum(1 for ln in lines if _TABLE_RX.match(ln)),
        "stock_phrases": [p for p in STOCK_PHRASES if p in low],
    }


def _line_shape(line: str) -> str:
    s = line.rstrip()
    if not s.strip():
        return "blank"
    m = _HEADER_RX.match(s)
    if m:
        return f"h{len(m.group(1))}"
    m = _BULLET_RX.match(s)
    if m:
        indent = "i" if s[:1].isspace() else ""
        return f"bullet{indent}{m.group(1)}" + ("b" if "**" in s[:8] else "")
    if _NUMBERED_RX.match(s):
        return "num" + ("b" if "**" in s[:10] else "")
    if _TABLE_RX.match(s):
        return "table"
    if s.startswith("**"):
        return "boldline"
    if s.startswith("```"):
        return "fence"
    return "colon" if s.endswith(":") else "text"


def style_markers(text: str) -> list[str]:
    """Formatting pseudo-tokens of one answer (prefixed with ``~``)."""
    out: list[str] = []
    lines = text.splitlines() or [""]
    prev = ""
    for ln in lines[:200]:
        shape = _line_shape(ln)
        out.append("~" + shape)
        out.append(f"~{prev}>{shape}")
        prev = shape
    w = words(text[:300])
    if w:
        out.append("~open:" + " ".join(w[:1]))
        out.append("~open:" + " ".join(w[:3]))
    tail = words(text[-200:])
    if tail:
        out.append("~close:" + " ".join(tail[-3:]))
    out.append(f"~len:{_length_bucket(len(text))}")
    if _EMOJI_RX.search(text):
        out.append("~emoji")
    low = text.lower()
    out.extend("~stock:" + p for p in STOCK_PHRASES if p in low)
    return out


def answer_tokens(text: str, prefix: str = "") -> list[str]:
    """Lexical unigrams+bigrams plus formatting markers of one answer."""
    return ngrams(words(text), prefix) + [prefix + m for m in style_markers(text)]


def pseudo_tokens(text: str, keywords: object = (), month: object = None) -> list[str]:
    """The style channel adds no pseudo-token: its words are its evidence (``featurize.py``)."""
    return []


def transcript_style(transcript: Transcript) -> dict[str, dict[str, Any]]:
    """probe id -> style summary, for the style answers of a transcript."""
    return {pid: style_summary(t) for pid, t in transcript.texts("style").items()}
