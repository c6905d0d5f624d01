"""Step 2 of classifying a transcript: combine the channels, then decide (numpy only).

``decide`` turns the channel scores (``score.py``) into a verdict:

1. combine: the calibrated weights give the behavioural posterior; the
   evidence-dependent temperature and the top-label recalibration re-state it for
   the run's evidence profile; the content-independent log-likelihoods (tokenizer,
   API, provider) are then added as the likelihood ratios they are;
2. unknown: the learned rejector's P(unknown maker); a named verdict states P(named
   creator right) at the prior share of unknown makers, re-stated by the verdict map
   for the chance of a third party's fine-tune, and under ``combine.NAME_THRESHOLD``
   of it names nobody;
3. vetoes: a confident tokenizer match that rules the top creator out (or belongs
   to a maker without a label), and degenerate answers (the same text whatever the
   prompt), each lead to ``unknown`` with a reliability note saying why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels.base import ChannelResult
from ..channels.registry import ANSWER_CHANNELS
from ..channels.tokenizer import VETO_NATS, confident, shortfall
from .base import UNKNOWN, Candidate
from .combine import (design, map_verdict, named_confidence, p_unknown, posterior, profile_features, recalibrate_top,
                      reject_features, temper)
from .degenerate import degenerate
from .score import Independent, Scores

if TYPE_CHECKING:
    from .model import TrainedClassifier

# p(unknown) reported at least when the answers are degenerate (the same text whatever the prompt)
DEGENERATE_P_UNKNOWN = 0.95


@dataclass
class Decision:
    creator: str                   # the named creator or "unknown"
    status: str                    # match | ambiguous | unknown
    top: str                       # the posterior's best creator (named or not)
    p_top: float
    p: np.ndarray                  # the calibrated posterior over the labels
    order: np.ndarray              # label indices, best first
    p_unknown: float
    confidence: float              # what the verdict states
    F: np.ndarray                  # the design matrix (explain reads each channel's part)
    answered: Counter[str] = field(default_factory=Counter)     # behavioural answers per corpus source
    notes: list[str] = field(default_factory=list)              # reliability notes of the vetoes
    degenerate: bool = False
    named: float = 0.0             # the named confidence before the verdict map

    def candidates(self, labels: list[str], k: int = 5) -> list[Candidate]:
        return [Candidate(labels[int(i)], round(float(self.p[i]), 4)) for i in self.order[:k]]


def tokenizer_veto(tok: ChannelResult | None, top: str, labels: list[str]) -> str | None:
    """Why a confident tokenizer match forbids naming ``top``, or None.

    The tokenizer is deterministic: an exact match that rules out the top creator
    (a Qwen tokenizer under a model whose answers sound like OpenAI's), or that
    belongs to a creator this model has no label for (SmolLM2's tokenizer when
    Hugging Face is not a training label), means the behavioural channels are being
    fooled or the creator is unknown.
    """
    if tok is None or not confident(tok):
        return None
    fam = tok.summary.get("family") or "?"
    if min(shortfall(tok, c) for c in labels) > VETO_NATS:
        ll_all = dict(tok.loglik)
        best_all = max(list(ll_all.values()) + [tok.default])
        owners = sorted(c for c, v in ll_all.items() if v >= best_all - 1e-9 and c not in labels)
        return (f"the tokenizer ({fam}) belongs to {', '.join(owners) or 'a maker'} "
                "that this classifier was not trained on")
    if shortfall(tok, top, among=labels) > VETO_NATS:
        ll_all = dict(tok.loglik)
        best_label = max(ll_all.get(c, tok.default) for c in labels)
        consistent = sorted(c for c in labels if ll_all.get(c, tok.default) >= best_label - 1e-9)
        return (f"the tokenizer ({fam}) rules out {top}, the behavioural best guess; "
                f"it is consistent with {', '.join(consistent)}")
    return None


def decide(clf: "TrainedClassifier", s: Scores, ind: Independent, transcript: Any) -> Decision:
    labels = clf.labels
    F = design(s.summ, s.counts, len(labels))
    pu = p_unknown(reject_features(posterior(F, clf.w, ind.extra), labels, [c for _, c, _ in s.claims], s.counts,
                                   s.fits), clf.v)
    answered: Counter[str] = Counter(clf.probes.get(r.probe_id, {}).get("source", "")
                                     for r in transcript.ok_results() if r.family in ANSWER_CHANNELS and r.text)
    # the calibration stages were fitted on the behavioural evidence alone: they re-state its
    # posterior, and the content-independent evidence (tokenizer, API, provider) is then added
    # as the log-likelihood ratio it is, not scaled with it
    profile = profile_features(s.counts, answered)
    p = recalibrate_top(temper(posterior(F, clf.w), profile, clf.theta_profile), profile, clf.top_coef)
    if ind.extra.any():
        p = posterior(np.log(np.maximum(p, 1e-300))[:, None], np.ones(1), ind.extra)
    order = np.argsort(-p)
    top = labels[int(order[0])]
    ptop = float(p[order[0]])
    # a named verdict states P(named creator right), the chances of an unknown maker and of a third
    # party's fine-tune of the named maker's open weights included
    named = named_confidence(ptop, pu, clf.thresholds.get("unknown_prior"))
    conf = map_verdict(named, top in clf.open_weight_makers, clf.verdict_coef)
    notes: list[str] = []
    veto = tokenizer_veto(ind.tokenizer, top, labels)
    if pu >= clf.thresholds["unknown"]:
        creator, status = UNKNOWN, "unknown"
    elif veto is None and conf < clf.thresholds.get("name", 0.0):
        # a guess that would be wrong most of the time names nobody; P(unknown) becomes the
        # chance that naming it would be wrong, as with the tokenizer veto below
        creator, status = UNKNOWN, "unknown"
        pu = max(pu, 1.0 - conf)
        counted = "an unknown maker's model or a fine-tune" if clf.verdict_coef is not None else "an unknown maker's model"
        notes.append(f"no maker is likely enough to name: the best guess, {top}, would be right about "
                     f"{100 * conf:.0f}% of the time ({counted} counted in)")
    elif conf >= clf.thresholds["match"]:
        creator, status = top, "match"
    else:
        creator, status = top, "ambiguous"
    if veto is not None and status != "unknown":
        creator, status = UNKNOWN, "unknown"
        pu = max(pu, 1.0 - ptop)
    if veto is not None:
        notes.append(veto)
    stuck = degenerate(s.texts)
    if stuck is not None:
        # repeated answers are one piece of evidence counted many times: no verdict rests on them
        creator, status = UNKNOWN, "unknown"
        pu = max(pu, DEGENERATE_P_UNKNOWN)
        notes.append(stuck)
    return Decision(creator=creator, status=status, top=top, p_top=ptop, p=p, order=order, p_unknown=pu,
                    confidence=pu if status == "unknown" else conf, F=F, answered=answered, notes=notes,
                    degenerate=stuck is not None, named=named)
