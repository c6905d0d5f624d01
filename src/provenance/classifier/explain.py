"""Step 3 of classifying a transcript: explain the verdict (numpy only).

Each score channel says which creator it favours and by how much (an evidence
line, strongest first, after the content-independent channels' pinned lines);
the reliability notes say what limits the verdict (little evidence, an evidence
profile that fared badly on unseen models, no self-identification, a creator
with few training models, claims of a maker without a label); the model family
is named under a named creator, the open-weights lineage under ``unknown``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels.base import Evidence, evidence_line
from ..channels.registry import ANSWER_CHANNELS, SCORE_CHANNELS, implementation
from .base import UNKNOWN
from .combine import PER_CHANNEL, channel_contribution, map_verdict
from . import family_model
from .decide import Decision
from .lineage import lineage as lineage_of
from .score import Independent, Scores

if TYPE_CHECKING:
    from .model import TrainedClassifier

MIN_BEHAVIOURAL = 10      # fewer behavioural answers than this is a reliability note
ABOUT_HALF = 0.35         # from this share of the behavioural probes up, a run is "about half of the probe set"


def evidence(clf: "TrainedClassifier", s: Scores, d: Decision, ind: Independent,
             channel_info: dict[str, Any]) -> list[Evidence]:
    """The evidence lines, best first (the content-independent channels' first lines pinned
    on top); fills ``channel_info`` with each score channel's summary."""
    lines = list(ind.evidence)
    for ch in SCORE_CHANNELS:
        if ch not in s.summ:
            continue
        contrib = channel_contribution(d.F, clf.w, SCORE_CHANNELS.index(ch))
        best = int(np.argmax(contrib))
        srt = np.sort(contrib)
        margin = float(srt[-1] - srt[-2]) if len(srt) > 1 else 0.0
        ids = s.used.get(ch, [pid for pid, _, _ in s.claims])
        favours = clf.labels[best]
        channel_info[ch] = {"answers": s.counts[ch], "favours": favours, "log_odds_margin": round(margin, 3)}
        words = getattr(implementation(ch), "evidence_line", evidence_line)     # the module's own wording
        lines.append(words(ch, count=s.counts[ch], favours=favours, margin=margin, probes=ids,
                           claims=s.claims, nearest=s.nearest.get(ch)))
    lines.sort(key=lambda e: -(e.strength or 0.0))
    return ind.pinned + lines


def reliability(clf: "TrainedClassifier", s: Scores, d: Decision) -> list[str]:
    notes = list(d.notes)
    n_behav = s.n_behavioural
    if n_behav < MIN_BEHAVIOURAL:
        notes.append(f"only {n_behav} behavioural probes answered")
    note = profile_note(clf, d.answered)
    if note:
        notes.append(note)
    if "identity" not in s.counts:
        notes.append("no self-identification answer")
    if clf.creator_models.get(d.top, 99) < 3:
        notes.append(f"the creator {d.top} has few training models ({clf.creator_models.get(d.top, 0)})")
    if (d.status != "unknown" and d.top in clf.open_weight_makers and clf.verdict_coef is not None
            and map_verdict(d.named, True, clf.verdict_coef) < map_verdict(d.named, False, clf.verdict_coef)):
        notes.append(f"{d.top} publishes open weights: a third party's fine-tune of them answers much like "
                     "this, and the confidence allows for that")
    outside = sorted({c for _, c, _ in s.claims if c not in clf.labels and c != "none"})
    if outside:
        notes.append("answers claim a maker outside the training labels: " + ", ".join(outside))
    return notes


def profile_note(clf: "TrainedClassifier", answered: Counter[str]) -> str | None:
    """What the training figures say about runs with evidence like this one's: when every
    behavioural answer came from one prompt set, or under half of the probe set answered,
    the held-out figures of that evidence profile (``eval``'s per-profile table)."""
    profiles = (clf.manifest.get("figures") or {}).get("profiles") or {}
    n = sum(answered.values())
    if not n or not profiles:
        return None
    name = None
    n_set = sum(1 for p in clf.probes.values() if p.get("family") in ANSWER_CHANNELS)
    if len(answered) == 1:
        from .corpus_sources import profile_of_source
        name = profile_of_source(next(iter(answered)))
    elif n < 0.5 * n_set:
        name = "half"
    fig = profiles.get(name or "")
    if not fig or not fig.get("models"):
        return None
    right = (f"the best guess was right {100 * fig['top1']:.0f}% of the time (mean confidence "
             f"{100 * fig['mean_confidence']:.0f}%)")
    if name == "half" and n < ABOUT_HALF * n_set:
        # the held-out figure is of runs with a random half of the probes: it is not about runs
        # with far fewer answers, so it is stated as what it is, an upper bound of sorts
        return (f"evidence: only {n} of {n_set} behavioural probes answered; on {fig['models']} unseen models "
                f"with half of them, {right}; with fewer answers, expect less")
    what = (f"about half of the probe set ({n} of {n_set} behavioural probes answered)" if name == "half"
            else f"only {name.replace(':', ' answers from ')}")
    return f"evidence: {what}; on {fig['models']} unseen models with evidence like this, {right}"


def family_and_lineage(clf: "TrainedClassifier", s: Scores, d: Decision, ind: Independent
                       ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The model family under a named creator; under ``unknown``, the open weights the model
    appears to build on (by tokenizer, else by a behavioural family guess)."""
    calibrated = clf.family_w is not None and clf.family_v is not None and clf.family_log_size is not None
    if d.creator == UNKNOWN:
        if d.degenerate:
            return None, None
        guess = (family_model.guess(s.fsumm, s.fcounts, clf.families, clf.family_creator, clf.family_log_size,
                                    clf.family_w, clf.family_v, d.top, d.p_top) if calibrated else None)
        lin = lineage_of(ind.tokenizer.summary if ind.tokenizer is not None else None, d.top, d.p_top,
                         (guess or {}).get("name"))
        return None, lin    # no creator named, so no family of it (the candidates stay listed)
    # P(creator and family) = the creator's stated confidence (what the verdict line says: P(named
    # creator right), unknown makers and fine-tunes allowed for) x P(family | creator): never above
    # the creator's own percentage (the posterior among known makers, d.p_top, could exceed it)
    if calibrated:
        return family_model.guess(s.fsumm, s.fcounts, clf.families, clf.family_creator, clf.family_log_size,
                                  clf.family_w, clf.family_v, d.top, d.confidence), None
    fam = uncalibrated_family(clf, d.top, s)
    if fam is not None:
        fam["given_creator"] = fam["confidence"]
        fam["confidence"] = round(float(d.confidence) * fam["given_creator"], 4)
    return fam, None


def uncalibrated_family(clf: "TrainedClassifier", creator: str, s: Scores) -> dict[str, Any] | None:
    """An older artifact's family guess (no family calibrator): the channels' family scores
    weighed with the creator calibrator's weights."""
    wmap = {chn: (clf.w[PER_CHANNEL * j], clf.w[PER_CHANNEL * j + 1]) for j, chn in enumerate(SCORE_CHANNELS)}
    idx = [i for i, f in enumerate(clf.families) if clf.family_creator.get(f) == creator]
    if not idx or not s.fsumm:
        return None
    z = np.zeros(len(idx))
    for ch, vec in s.fsumm.items():
        a, b = wmap[ch]
        z += vec[idx] * (a + b * np.log1p(s.counts[ch]))
    z = z - z.max()
    q = np.exp(z)
    q = q / q.sum()
    best = int(np.argmax(q))
    return {"name": clf.families[idx[best]], "confidence": round(float(q[best]), 4),
            "calibrated": False, "among": len(idx)}
