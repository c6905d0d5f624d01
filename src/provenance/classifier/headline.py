"""The best guess a verdict may headline: the most probable candidate the tokenizer allows.

The classifier's candidates are ranked by the combined posterior; a confident
tokenizer match can rule the first of them out (a Qwen tokenizer under answers
that sound like OpenAI's). Such a candidate must never be the headline of a
verdict. ``best_guess`` re-reads the tokenizer channel from the transcript (a
pure, cheap function of it) and applies the same rule as the classifier's veto
(``channels/tokenizer.py``: ``confident``, ``shortfall``): with a match at least
``VETO_CONFIDENCE`` confident, a creator whose tokenizer log-likelihood is more
than ``VETO_NATS`` below the best creator's is excluded.

The result is stored in the report as ``attribution.best_guess``::

    {"creator": "Alibaba" | None, "probability": 0.55 | None,
     "excluded": [{"creator": "OpenAI", "probability": 0.38, "reason": "..."}],
     "tokenizer": "qwen2" | None}

``creator`` None means no candidate is consistent with the tokenizer.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..transcript import Transcript

def excluded_by_tokenizer(transcript: Transcript, creators: Iterable[str]) -> tuple[dict[str, str], str | None]:
    """{creator: reason} for the creators a confident tokenizer match rules out, and the
    tokenizer family (None when no confident match)."""
    from ..channels.tokenizer import VETO_NATS, confident, shortfall, tokenizer_channel
    try:
        tok = tokenizer_channel(transcript)
    except Exception:  # noqa: BLE001 - a feature failing must not break the verdict
        return {}, None
    if not confident(tok):
        return {}, None
    fam = str((tok.summary or {}).get("family") or "?")
    lls = dict(tok.loglik)
    best = max(list(lls.values()) + [tok.default])
    owners = sorted(c for c, v in lls.items() if v >= best - 1e-9)
    out: dict[str, str] = {}
    for c in creators:
        if shortfall(tok, c) > VETO_NATS:
            out[c] = (f"the tokenizer ({fam}) rules it out"
                      + (f"; it belongs to {', '.join(owners[:3])}" if owners else ""))
    return out, fam


def best_guess(transcript: Transcript, candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """The first candidate the tokenizer allows, and the ones it excludes (best first)."""
    names = [str(c.get("creator")) for c in candidates if c.get("creator")]
    excluded, fam = excluded_by_tokenizer(transcript, names)
    head: dict[str, Any] | None = None
    out: list[dict[str, Any]] = []
    for c in candidates:
        name = str(c.get("creator"))
        if name in excluded:
            out.append({"creator": name, "probability": c.get("probability"), "reason": excluded[name]})
        elif head is None:
            head = c
    return {"creator": head.get("creator") if head else None,
            "probability": head.get("probability") if head else None,
            "excluded": out, "tokenizer": fam}
