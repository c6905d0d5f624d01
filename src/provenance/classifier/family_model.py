"""The model-family guess (GPT-4o, Claude 3.5, Llama 3, ...), calibrated (numpy only).

Given the creator, which of its families produced the transcript, or a family the
training data does not hold? Per candidate family (the creator's families in
training) the evidence is, per channel, a centred family score: the naive-Bayes
channels' family log-likelihoods, the nearest-model channels' best model of the
family, and the aligned channels' best reference model of the family. A
conditional logit over ``[S, S*log1p(n), vote]`` per channel, plus the log of the
family's number of training models, chooses among the candidates and one more
option, "a family not in training", whose only feature is a bias. The weights are
fitted on leave-one-model-out rows (train.py), so an unseen model's family is
scored as the evaluation scores it. The conditional logit ranks well but its top
probability is underconfident (measured: 0.6-0.8 predicted, 0.86 right), so a
Platt step maps it, with the number of candidates, to the probability that the
top family is right (``platt_features``). The reported family confidence is the
probability of the creator times that of the family given the creator.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..channels.registry import FIT_CHANNELS

FAMILY_CHANNELS = FIT_CHANNELS      # the channels that score model families too
PER_CHANNEL = 3
N_FAMILY_DESIGN = PER_CHANNEL * len(FAMILY_CHANNELS) + 2   # channel columns, log family size, "unseen" bias


def neutral(raw: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Families without a model in a channel get the present families' mean (no information)."""
    out = np.asarray(raw, dtype=np.float64).copy()
    if present.any():
        out[~present] = out[present].mean()
    else:
        out[:] = 0.0
    return out


def best_per_family(model_scores: np.ndarray, model_family: Sequence[str], families: Sequence[str]) -> np.ndarray:
    """Per family, its best model's score (``-inf`` entries: models not scored); a family
    without a scored model gets the scored families' mean. Returns a vector over ``families``."""
    fidx = {f: i for i, f in enumerate(families)}
    out = np.full(len(families), -np.inf)
    for s, f in zip(model_scores, model_family):
        j = fidx.get(f)
        if j is not None and np.isfinite(s) and s > out[j]:
            out[j] = s
    return neutral(np.where(np.isfinite(out), out, 0.0), np.isfinite(out))


def design(fsumm: Mapping[str, np.ndarray], counts: Mapping[str, int], cand: Sequence[int],
           log_size: np.ndarray) -> np.ndarray:
    """(len(cand) + 1, N_FAMILY_DESIGN): rows are the candidate families (indices into the
    family list) and last the unseen-family option."""
    k = len(cand)
    F = np.zeros((k + 1, N_FAMILY_DESIGN))
    idx = np.asarray(cand, dtype=np.int64)
    for j, ch in enumerate(FAMILY_CHANNELS):
        v = fsumm.get(ch)
        n = counts.get(ch, 0)
        if v is None or n == 0 or k == 0:
            continue
        s = v[idx] - v[idx].mean()
        F[:k, PER_CHANNEL * j] = s
        F[:k, PER_CHANNEL * j + 1] = s * np.log1p(n)
        if np.ptp(s) > 1e-9:
            F[int(np.argmax(s)), PER_CHANNEL * j + 2] = 1.0
    if k:
        ls = log_size[idx]
        F[:k, -2] = ls - ls.mean()
    F[k, -1] = 1.0
    return F


def candidates(families: Sequence[str], family_creator: Mapping[str, str], creator: str,
               sizes: np.ndarray | None = None) -> list[int]:
    """Indices of ``creator``'s families (with ``sizes``, those with a training model left)."""
    return [i for i, f in enumerate(families)
            if family_creator.get(f) == creator and (sizes is None or sizes[i] > 0)]


def top(F: np.ndarray, w: np.ndarray) -> tuple[int, float]:
    """(index of the most probable candidate family, its probability); the unseen option
    (the last row of ``F``) is never named."""
    q = posterior(F, w)
    best = int(np.argmax(q[:-1]))
    return best, float(q[best])


def platt_features(q_top: float, n_candidates: int) -> np.ndarray:
    q = min(max(float(q_top), 1e-4), 1 - 1e-4)
    return np.array([1.0, np.log(q / (1 - q)), np.log(max(1, n_candidates))])


def platt(x: np.ndarray, v: np.ndarray) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x @ v, -50, 50))))


def posterior(F: np.ndarray, w: np.ndarray) -> np.ndarray:
    z = F @ w
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


# The unseen option's share (q[-1]) is not reported: it does not tell a model of a new family
# from one of a known family (ROC AUC 0.30 on the 18 LOMO models whose family is absent from
# training), though it keeps the candidates' probabilities honest on average.
def guess(fsumm: Mapping[str, np.ndarray], counts: Mapping[str, int], families: Sequence[str],
          family_creator: Mapping[str, str], log_size: np.ndarray, w: np.ndarray, v: np.ndarray,
          creator: str, p_creator: float) -> dict[str, object] | None:
    """The family guess for ``creator`` (named with probability ``p_creator``), or None when
    the training data holds no family of that creator."""
    cand = candidates(families, family_creator, creator)
    if not cand:
        return None
    best, q_best = top(design(fsumm, counts, cand, log_size), w)
    given = platt(platt_features(q_best, len(cand)), v)
    return {"name": families[cand[best]], "confidence": round(float(p_creator * given), 4),
            "given_creator": round(given, 4),
            "calibrated": True, "among": len(cand)}
