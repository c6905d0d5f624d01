"""Step 1 of classifying a transcript: score it with every channel (numpy only).

``behavioural`` reads the answers: each answer channel's naive-Bayes (or
nearest-model) summary over the creator labels and the model families, the
self-identification claims, the lexical model per style source and the aligned
similarity to reference answers. ``content_independent`` reads the whole
transcript: the tokenizer and API-surface channels (``channels/registry.py``) and
the upstream provider a router names. Both return plain data (``Scores``,
``Independent``) for the next steps (``decide.py``, ``explain.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels import aligned as aligned_mod
from ..channels.base import ChannelResult, Evidence
from ..channels.featurize import DEFAULT_BUDGET, answer_indices, vocab_columns
from ..channels.identity import claim_of_text
from ..channels.lexical import pooled_summary
from ..channels.provider import loglik as provider_loglik
from ..channels.registry import ANSWER_CHANNELS, CLAIM_FAMILIES, aligned_channel_of, sub_channel
from ..channels.text import truncate
from ..transcript import Transcript
from . import family_model
from .combine import neutral_summary

if TYPE_CHECKING:
    from .model import TrainedClassifier


@dataclass
class Scores:
    """What the answers say, per score channel (summaries centred over the labels)."""

    summ: dict[str, np.ndarray] = field(default_factory=dict)      # channel -> scores over creators
    counts: dict[str, int] = field(default_factory=dict)           # channel -> answers behind it
    fits: dict[str, float] = field(default_factory=dict)           # channel -> best label's fit
    fsumm: dict[str, np.ndarray] = field(default_factory=dict)     # channel -> scores over families
    fcounts: dict[str, int] = field(default_factory=dict)
    claims: list[tuple[str, str, float]] = field(default_factory=list)   # (probe, claimed maker, firmness)
    used: dict[str, list[str]] = field(default_factory=dict)       # channel -> probe ids behind it
    nearest: dict[str, str] = field(default_factory=dict)          # aligned channel -> nearest reference model
    texts: list[str] = field(default_factory=list)                 # the behavioural answers scored

    @property
    def n_behavioural(self) -> int:
        return sum(self.counts.get(ch, 0) for ch in ANSWER_CHANNELS)


@dataclass
class Independent:
    """What the content-independent channels say: log-likelihoods added after calibration."""

    extra: np.ndarray                                   # summed log-likelihood ratios over the labels
    info: dict[str, Any] = field(default_factory=dict)  # per channel: available, summary, reason
    pinned: list[Evidence] = field(default_factory=list)     # each channel's first evidence line
    evidence: list[Evidence] = field(default_factory=list)   # the rest
    tokenizer: ChannelResult | None = None              # the tokenizer result, when available


def _is_greeting(pid: str) -> bool:
    return "greeting" in pid


def _channel_of(clf: "TrainedClassifier", family: str, pid: str) -> str | None:
    """The artifact's channel for an answer: its family's, or its source's sub-channel (an
    unknown source falls back to the family's first sub-channel)."""
    ch = sub_channel(family, clf.probes.get(pid, {}).get("source", ""))
    if ch in clf.vocab:
        return ch
    if ch == family:
        return None
    subs = [c for c in clf.channels if c.startswith(family + "-")]
    return subs[0] if subs else None


def _indices(clf: "TrainedClassifier", ch: str, pid: str, text: str) -> np.ndarray:
    """The answer's hashed feature indices, cut to its probe's budget (as in training)."""
    fam = ch.split("-")[0]
    budget = int(clf.probes.get(pid, {}).get("max_tokens", DEFAULT_BUDGET[fam]))
    cp = clf.cutoff_probes.get(pid, {})
    return np.asarray(answer_indices(fam, text, budget, cp.get("keywords", ()), cp.get("month")), dtype=np.int64)


def _columns(clf: "TrainedClassifier", ch: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    uc = vocab_columns(clf.vocab[ch], idx)
    if uc is None:
        return None
    u, n = uc
    return u, n / n.sum()


def channel_summary(clf: "TrainedClassifier", ch: str, answers: list[tuple[np.ndarray, np.ndarray]]
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """(creator summary, family summary, fit), summaries centred, from one channel's answers.

    ``fit``: the best label's mean log-likelihood per token over the background's.
    """
    base = float(np.mean([clf.logbg[ch][u] @ x for u, x in answers]))
    L, F = len(clf.labels), len(clf.families)
    fidx = {f: i for i, f in enumerate(clf.families)}
    lidx = {c: i for i, c in enumerate(clf.labels)}
    if ch in clf.nn:
        lt = clf.mtheta[ch]
        sm = np.mean([lt[:, u].astype(np.float64) @ x for u, x in answers], axis=0)
        s = np.full(L, base)
        f = np.full(F, base)
        have_s = np.zeros(L, dtype=bool)
        have_f = np.zeros(F, dtype=bool)
        for val, (creator, family) in zip(sm, clf.nn[ch]):
            i = lidx.get(creator)
            if i is not None:
                s[i] = val if not have_s[i] else max(s[i], val)
                have_s[i] = True
            j = fidx.get(family)
            if j is not None:
                f[j] = val if not have_f[j] else max(f[j], val)
                have_f[j] = True
    else:
        s = np.mean([clf.theta[ch][:, u].astype(np.float64) @ x for u, x in answers], axis=0)
        f = np.mean([clf.ftheta[ch][:, u].astype(np.float64) @ x for u, x in answers], axis=0)
    s, fit = neutral_summary(s, clf.weight[ch], base)
    f, _ = neutral_summary(f, clf.fweight[ch], base)
    return s, f, fit


def behavioural(clf: "TrainedClassifier", transcript: Transcript) -> Scores:
    """Every score channel's summary of the transcript's behavioural answers."""
    out = Scores()
    by_channel: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    lex: dict[str, list[np.ndarray]] = {}
    sims: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    used = out.used
    for r in transcript.ok_results():
        if r.family not in ANSWER_CHANNELS or not r.text:
            continue
        out.texts.append(r.text)
        ch = _channel_of(clf, r.family, r.probe_id)
        if ch is None:
            continue
        idx = _indices(clf, ch, r.probe_id, r.text)
        if ch in clf.lexical:
            lp = clf.lexical[ch].logp(idx)
            if lp is not None:
                lex.setdefault(ch, []).append(lp)
                used.setdefault("lexical", []).append(r.probe_id)
        sim = clf.aligned.similarities(r.probe_id, idx, dense=False) if clf.aligned is not None else None
        if sim is not None:
            ach = aligned_channel_of(r.family)
            sims.setdefault(ach, []).append(sim)
            used.setdefault(ach, []).append(r.probe_id)
        cols = _columns(clf, ch, idx)
        if cols is None:
            continue
        by_channel.setdefault(ch, []).append(cols)
        used.setdefault(r.family, []).append(r.probe_id)
        if r.family in CLAIM_FAMILIES:
            budget = int(clf.probes.get(r.probe_id, {}).get("max_tokens", DEFAULT_BUDGET[r.family]))
            c = claim_of_text(truncate(r.text, budget))
            # a greeting that names nobody says nothing about identity
            if not (_is_greeting(r.probe_id) and c.creator == "none"):
                out.claims.append((r.probe_id, c.creator, c.firmness))
    # answer channels: sub-channels (one per style source) pooled by their answers
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, int, float]]] = {}
    for ch, answers in by_channel.items():
        s, f, fit = channel_summary(clf, ch, answers)
        parts.setdefault(ch.split("-")[0], []).append((s, f, len(answers), fit))
    for fam, lst in parts.items():
        n = sum(k for _, _, k, _ in lst)
        out.summ[fam] = sum(s * k for s, _, k, _ in lst) / n
        out.fsumm[fam] = sum(f * k for _, f, k, _ in lst) / n
        out.counts[fam] = n
        out.fits[fam] = sum(ft * k for _, _, k, ft in lst) / n
    if out.claims:
        other = clf.claim_index["other"]
        L = np.array([clf.claim_loglik[clf.claim_index.get(c, other)] for _, c, _ in out.claims])
        L = L - L.mean(axis=1, keepdims=True)
        out.summ["claim"] = L.mean(axis=0)
        out.counts["claim"] = len(out.claims)
    if lex:
        out.summ["lexical"], out.counts["lexical"] = pooled_summary(
            [(clf.lexical[ch].classes, v) for ch, v in lex.items()], clf.labels)
    out.fcounts = dict(out.counts)
    for ach, lst in sims.items():
        ix = clf.aligned
        ms = aligned_mod.model_scores(lst, len(ix.models), min_shared=ix.min_shared)
        if ms is None:
            continue
        got = aligned_mod.label_scores(ms, ix.creators, clf.labels, top=ix.top, clip=ix.clip)
        if got is not None:
            out.summ[ach], out.counts[ach], j = got
            out.nearest[ach] = ix.models[j]
            out.fits[ach] = float(ms[0][j])     # how close the nearest reference model stands
        if clf.family_w is not None:
            out.fsumm[ach] = family_model.best_per_family(ms[0], clf.aligned_family, clf.families)
            out.fcounts[ach] = ms[1]
    return out


def content_independent(clf: "TrainedClassifier", transcript: Transcript) -> Independent:
    """The transcript channels' log-likelihoods (tokenizer, API surface), and the upstream
    provider's (learned P(provider | creator), ``channels/provider.py``)."""
    from ..channels.independent import content_independent_channels
    out = Independent(extra=np.zeros(len(clf.labels)))
    for cr in content_independent_channels(transcript):
        out.info[cr.name] = {"available": cr.available, "summary": cr.summary, "reason": cr.reason}
        if cr.name == "tokenizer" and cr.available:
            out.tokenizer = cr
        if cr.available:
            # a channel may state its own weight in its summary (default 1)
            weight = float(cr.summary.get("weight", 1.0)) if isinstance(cr.summary, dict) else 1.0
            ll = np.array([cr.loglik.get(c, cr.default) for c in clf.labels], dtype=np.float64)
            out.extra += weight * (ll - ll.mean())
            out.pinned.extend(cr.evidence[:1])
            out.evidence.extend(cr.evidence[1:])
    providers = sorted({r.provider for r in transcript.results if getattr(r, "provider", None)})
    pl = provider_loglik(providers, clf.provider_vocab, clf.provider_logp) if clf.w_provider else None
    if pl is not None:
        out.extra += clf.w_provider * pl
        j = int(np.argmax(pl))
        out.evidence.append(Evidence(
            text=f"upstream provider named by the router: {', '.join(providers)[:80]} "
                 f"(favours {clf.labels[j]}, +{float(clf.w_provider * (pl[j] - np.median(pl))):.1f} log-odds)",
            probes=[], channel="api", strength=float(clf.w_provider * pl[j]), favours=clf.labels[j]))
        out.info["provider"] = {"available": True, "providers": providers}
    return out
