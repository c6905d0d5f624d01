"""Knowledge-cutoff features: which dated events an answer knows, the cutoff it states.

``event_keywords`` derives match keywords (numbers, dates, names) from an
event's expected answer; ``event_knowledge`` grades an answer against them
(``knows`` / ``abstains`` / ``wrong``). ``stated_cutoff`` reads a stated
training cutoff ("as of my last update in October 2023") as ``YYYY-MM``.
``estimate_cutoff`` turns per-month knowledge into a cutoff month estimate.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

MONTHS = {m: i + 1 for i, m in enumerate((
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december"))}
_STOP = {"the", "and", "was", "were", "has", "had", "his", "her", "their", "with", "from", "for",
         "that", "this", "at", "in", "on", "of", "a", "an", "to", "by", "as", "is", "he", "she",
         "it", "they", "died", "age", "after", "into", "its", "who", "which", "also", "been"}
_ABSTAIN = re.compile(
    r"(?:as of my (?:last|knowledge|training)|my (?:knowledge|training)(?: data)? (?:cutoff|cut-off|only goes|ends)|"
    r"i (?:don't|do not) have (?:any )?(?:information|real-time|access|data)|"
    r"i(?:'m| am) not aware|no (?:information|record|reports)|cannot confirm|can't confirm|"
    r"unable to (?:confirm|verify|provide))", re.I)
_STATED = re.compile(
    r"(?:cutoff|cut-off|last update|last updated|knowledge (?:extends|goes)|trained (?:on|up to|until)|"
    r"training data (?:goes|extends|up to|until)|as of)[^.\n]{0,40}?"
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december)?\s*(20[12]\d)\b",
    re.I)


def event_keywords(expected: str, subject: str = "") -> list[str]:
    """Distinctive lower-case keywords of an expected answer (years, numbers, names, months)."""
    toks = re.findall(r"[A-Za-z][A-Za-z'\-]+|\d+(?:[.,]\d+)?", expected)
    subj = {w.lower() for w in re.findall(r"[A-Za-z]+", subject)}
    out: list[str] = []
    for t in toks:
        low = t.lower()
        if low in _STOP or low in subj or len(low) < 3 and not low.isdigit():
            continue
        if t[0].isupper() or low.isdigit() or low in MONTHS or "," in t or "." in t:
            if low not in out:
                out.append(low)
    return out[:8]


def event_knowledge(text: str | None, keywords: Iterable[str]) -> str:
    """``knows`` (most keywords present), ``abstains`` (says it cannot know) or ``wrong``."""
    if not text:
        return "abstains"
    low = text.lower()
    kws = list(keywords)
    hits = sum(1 for k in kws if k in low)
    if kws and hits >= max(1, (len(kws) + 1) // 2):
        return "knows"
    if _ABSTAIN.search(text):
        return "abstains"
    return "wrong"


def stated_cutoff(text: str | None) -> str | None:
    """The training cutoff an answer states, as ``YYYY-MM`` (month 06 when only a year)."""
    if not text:
        return None
    m = _STATED.search(text)
    if not m:
        return None
    month = MONTHS.get((m.group(1) or "").lower(), 6)
    return f"{m.group(2)}-{month:02d}"


def cutoff_tokens(text: str | None, keywords: Iterable[str] = (), month: str | None = None) -> list[str]:
    grade = event_knowledge(text, keywords)
    out = ["~event:" + grade]
    if month:
        out.append(f"~event:{grade}:{month[:4]}")
    sc = stated_cutoff(text)
    if sc:
        out.append("~stated:" + sc[:4])
        out.append("~stated:" + sc)
    return out


def pseudo_tokens(text: str | None, keywords: Iterable[str] = (), month: str | None = None) -> list[str]:
    """The cutoff channel's pseudo-tokens (``featurize.py``): what an answer knows of the event."""
    return cutoff_tokens(text, keywords, month)


def estimate_cutoff(knowledge: Mapping[str, str]) -> str | None:
    """Latest month with a known event, given month -> best grade (``knows`` etc.)."""
    known = sorted(m for m, g in knowledge.items() if g == "knows")
    return known[-1] if known else None
