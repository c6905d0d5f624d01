"""What channels hand the classifier: evidence lines, and a transcript channel's result.

``Evidence``: one line of a verdict's evidence, from any channel (``evidence_line`` is
the common wording of a score channel's line). ``ChannelResult``: what a transcript
channel (tokenizer, API surface: ``registry.py``) returns.

A channel reports a log-likelihood for each creator it can speak about: how
much more likely the observations are if that creator made the model. Creators
it cannot distinguish get equal values (no information); a creator absent from
``loglik`` gets ``default`` (the channel's value for "none of the named ones").
The classifier adds these to the behavioural channels' log-posteriors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any



@dataclass
class Evidence:
    text: str                      # short human-readable reason
    probes: list[str]              # probe ids behind it
    channel: str                   # a channel of registry.py (claims read as "identity"), or "api" for echoes
    strength: float | None = None  # log-likelihood ratio or weight, when meaningful
    favours: str | None = None     # the creator it points to, when it points to one (claim checks read it)


@dataclass
class ChannelResult:
    name: str                                   # "tokenizer", "api"
    available: bool                             # False: "no usage reported", "no stream", ...
    loglik: dict[str, float] = field(default_factory=dict)   # creator -> log-likelihood
    default: float = 0.0                        # log-likelihood for creators not in loglik
    evidence: list[Evidence] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)    # e.g. {"family": "qwen2", "confidence": 0.97}
    reason: str | None = None                   # why unavailable


def evidence_line(channel: str, *, count: int, favours: str, margin: float, probes: list[str],
                  **_: Any) -> Evidence:
    """A score channel's evidence line, unless its module words its own (``evidence_line``
    there): how many answers favour which creator, and by how much."""
    return Evidence(text=f"{channel}: {count} answers favour {favours} (+{margin:.2f} log-odds over the next)",
                    probes=probes[:8], channel=channel, strength=round(margin, 3), favours=favours)

