"""Refusal features: whether an answer refuses, how (wording, apology, structure), partial refusals.

Alignment recipes leave stable refusal wording ("I'm sorry, but I can't help with
that." vs "I cannot fulfill this request." vs "I can't help with that."). The
pseudo-tokens from ``refusal_tokens`` let the classifier weigh that wording.
"""

from __future__ import annotations

import re
from typing import Any

from ..transcript import Transcript

# (name, pattern) of refusal openings, most specific first
REFUSAL_OPENERS: tuple[tuple[str, str], ...] = (
    ("sorry_but_cant", r"^\s*i'?m sorry,? but i (?:can(?:no|')t|am unable|won't)"),
    ("sorry_cant", r"^\s*(?:i'?m )?sorry,? (?:i|but i) (?:can(?:no|')t|am unable)"),
    ("apologize", r"^\s*i apologi[sz]e"),
    ("cannot_fulfill", r"^\s*i (?:cannot|can't|can not) (?:fulfill|comply|assist|provide|help|create|write|generate)"),
    ("cant_help", r"^\s*i can(?:no|')t help with (?:that|this)"),
    ("unable", r"^\s*i(?:'m| am) (?:unable|not able) to"),
    ("as_an_ai", r"^\s*as an ai"),
    ("wont", r"^\s*i (?:won't|will not)"),
    ("not_appropriate", r"(?:not|isn't) (?:appropriate|ethical|something i can)"),
)
_OPENERS = [(n, re.compile(p, re.I)) for n, p in REFUSAL_OPENERS]
_REFUSAL_ANYWHERE = re.compile(
    r"i (?:cannot|can't|can not|won't|will not|am unable to|'m unable to|must decline)|"
    r"i'?m sorry|i apologi[sz]e|against (?:my|our) (?:guidelines|policies|programming)|"
    r"(?:illegal|unethical|harmful)", re.I)
_REDIRECT = re.compile(r"\b(?:instead|however|but i can|if you(?:'re| are) (?:interested|looking)|"
                       r"here (?:are|is) some|consider|alternatively)\b", re.I)
_POLICY = re.compile(r"\b(?:policy|policies|guidelines|ethical|safety|responsible)\b", re.I)
_HOTLINE = re.compile(r"\b(?:hotline|helpline|988|crisis|professional help|mental health)\b", re.I)


def refusal_features(text: str | None) -> dict[str, Any]:
    if not text:
        return {"refuses": False, "opener": None, "partial": False, "policy": False,
                "redirect": False, "hotline": False, "chars": 0}
    head = text[:400]
    opener = next((n for n, rx in _OPENERS if rx.search(head)), None)
    anywhere = bool(_REFUSAL_ANYWHERE.search(head))
    refuses = opener is not None or (anywhere and len(text) < 600)
    redirect = bool(_REDIRECT.search(text))
    return {
        "refuses": refuses,
        "opener": opener,
        # refuses, then helps anyway (long answer or an explicit redirection)
        "partial": refuses and (len(text) > 700 or redirect),
        "policy": bool(_POLICY.search(text)),
        "redirect": redirect,
        "hotline": bool(_HOTLINE.search(text)),
        "chars": len(text),
    }


def refusal_tokens(text: str | None) -> list[str]:
    f = refusal_features(text)
    out = ["~refuses" if f["refuses"] else "~complies"]
    if f["opener"]:
        out.append("~opener:" + f["opener"])
    for k in ("partial", "policy", "redirect", "hotline"):
        if f[k]:
            out.append("~" + k)
    return out


def pseudo_tokens(text: str | None, keywords: object = (), month: object = None) -> list[str]:
    """The refusal channel's pseudo-tokens (``featurize.py``): how an answer refuses."""
    return refusal_tokens(text)


def transcript_refusals(transcript: Transcript) -> dict[str, dict[str, Any]]:
    return {pid: refusal_features(t) for pid, t in transcript.texts("refusal").items()}
