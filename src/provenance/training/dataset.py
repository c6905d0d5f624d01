"""Featurise a corpus once: per-answer hashed indices, per-model channel distributions, claims.

Training-only (numpy). Every answer is cut to the token budget of the probe
that asks its prompt (or the family default), the same cut a live run gets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from ..channels.cutoff import event_keywords
from ..channels.identity import claim_of_text
from ..channels.text import HASH_DIM, truncate
from ..channels.registry import sub_channel
from .records import Record
from ..channels.featurize import DEFAULT_BUDGET, answer_indices


@dataclass
class Answer:
    model: str
    key: str              # source:prompt_id
    family: str
    variant: str
    run: Any
    idx: np.ndarray       # hashed feature indices (with repeats)
    claim: str | None = None
    firmness: float = 0.0

    @property
    def source(self) -> str:
        """The corpus source of the answer's key (``source:prompt_id``)."""
        return self.key.split(":", 1)[0]

    @property
    def channel(self) -> str:
        return channel_of(self.family, self.source)


@dataclass
class Dataset:
    model_creator: dict[str, str]
    answers: list[Answer]
    model_vecs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # channel -> model -> vec
    model_counts: dict[str, dict[str, int]] = field(default_factory=dict)       # channel -> model -> answers
    keywords: dict[str, list[str]] = field(default_factory=dict)               # event id -> keywords
    event_month: dict[str, str] = field(default_factory=dict)


def channel_of(family: str, source: str) -> str:
    """Style answers get one channel per corpus source (prompt sets differ in content)."""
    return sub_channel(family, source)


def event_of_key(key: str) -> str | None:
    """``knowledge_cutoff:cutoff:<event>`` -> ``<event>``."""
    parts = key.split(":", 2)
    if len(parts) == 3 and parts[0] == "knowledge_cutoff":
        return parts[2]
    return None


def build_keywords(events: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, list[str]], dict[str, str]]:
    kw, month = {}, {}
    for eid, e in events.items():
        kw[eid] = event_keywords(str(e.get("expected_direct", "")), str(e.get("subject", "")))
        month[eid] = str(e.get("month", ""))
    return kw, month


def featurise(records: Iterable[Record], events: Mapping[str, Mapping[str, Any]],
              budgets: Mapping[str, int] | None = None) -> Dataset:
    """``budgets``: corpus key -> max_tokens of the probe asking it (others: family default)."""
    budgets = budgets or {}
    kw, month = build_keywords(events)
    answers: list[Answer] = []
    creators: dict[str, str] = {}
    for r in records:
        fam = r.family
        creators.setdefault(r.model, r.creator)
        ev = event_of_key(r.key)
        budget = budgets.get(r.key, DEFAULT_BUDGET[fam])
        idx = answer_indices(fam, r.response, budget, kw.get(ev or "", ()), month.get(ev or ""))
        a = Answer(r.model, r.key, fam, r.variant, r.extra.get("run"), np.asarray(idx, dtype=np.int64))
        if fam == "identity":
            c = claim_of_text(truncate(r.response, budget))
            a.claim, a.firmness = c.creator, c.firmness
        answers.append(a)
    ds = Dataset(creators, answers, keywords=kw, event_month=month)
    ds.model_vecs = model_vectors(answers)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for a in answers:
        if len(a.idx):
            counts[a.channel][a.model] = counts[a.channel].get(a.model, 0) + 1
    ds.model_counts = dict(counts)
    return ds


def model_vectors(answers: Iterable[Answer]) -> dict[str, dict[str, np.ndarray]]:
    """channel -> model -> mean of the model's normalised answer count vectors."""
    parts: dict[tuple[str, str], list[tuple[np.ndarray, float]]] = defaultdict(list)
    for a in answers:
        if len(a.idx):
            parts[(a.channel, a.model)].append((a.idx, 1.0 / len(a.idx)))
    out: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for (fam, model), lst in parts.items():
        idx = np.concatenate([i for i, _ in lst])
        w = np.concatenate([np.full(len(i), wt) for i, wt in lst])
        v = np.bincount(idx, weights=w, minlength=HASH_DIM) / len(lst)
        out[fam][model] = v.astype(np.float32)
    return dict(out)
