"""Channel combination, shared by training and inference (numpy only).

A transcript's behavioural evidence is summarised per channel as a vector over
the creator labels: the mean (over answers) of each answer's centred per-token
log-likelihood, and for self-identification the mean log P(claim | creator).
The calibrated log-posterior is a weighted sum of these summaries, each weight
growing with the log of the number of answers (``design``), so confidence
reflects how much evidence there was. The unknown decision is a logistic model
over the shape of the posterior and the claims (``reject_features``).
"""

from __future__ import annotations

import numpy as np

from ..channels.registry import ALIGNED_CHANNELS, ANSWER_CHANNELS, FIT_CHANNELS, SCORE_CHANNELS

PER_CHANNEL = 3
N_DESIGN = PER_CHANNEL * len(SCORE_CHANNELS)
REJECT_PRESENCE = ("identity", "style", "cutoff")      # channels whose presence the rejector reads
REJECT_FEATURES = (("bias", "p_top", "margin", "entropy", "claims_outside", "claims_top", "no_claim", "log_answers")
                   + tuple(f"has_{ch}" for ch in REJECT_PRESENCE) + tuple(f"fit_{ch}" for ch in FIT_CHANNELS))


def neutral_summary(raw: np.ndarray, weight: np.ndarray, base: float) -> tuple[np.ndarray, float]:
    """Centre a channel's per-label scores, shrinking each label toward the present labels'
    mean by its weight (answers behind it, ``NBChannel.present``): a label the channel has
    no model for gets no information (the mean), not the background's score, which would
    make it attract every answer; a label backed by few answers counts only partly. Also
    returns the fit: the best present label's score over the background's."""
    raw = raw.astype(np.float64)
    have = weight > 0
    if not have.any():
        return np.zeros_like(raw), 0.0
    m = raw[have].mean()
    out = m + weight * (raw - m)
    fit = float(raw[have].max() - base)
    return out - out.mean(), fit


def design(summ: dict[str, np.ndarray], counts: dict[str, int], n_labels: int) -> np.ndarray:
    """(n_labels, N_DESIGN) matrix: per channel [S, S*log1p(n), 1 if the label is the channel's top].

    The last column is a vote: it lets the calibrator trust a channel's ranking even
    when its log-likelihood differences are small (short answers such as greetings).
    """
    F = np.zeros((n_labels, N_DESIGN))
    for j, ch in enumerate(SCORE_CHANNELS):
        s = summ.get(ch)
        n = counts.get(ch, 0)
        if s is None or n == 0:
            continue
        k = PER_CHANNEL * j
        F[:, k] = s
        F[:, k + 1] = s * np.log1p(n)
        if np.ptp(s) > 1e-9:
            F[int(np.argmax(s)), k + 2] = 1.0
    return F


def channel_contribution(F: np.ndarray, w: np.ndarray, j: int) -> np.ndarray:
    """The part of the log-posterior channel ``j`` (index in SCORE_CHANNELS) contributes."""
    k = PER_CHANNEL * j
    return F[:, k:k + PER_CHANNEL] @ w[k:k + PER_CHANNEL]


def posterior(F: np.ndarray, w: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    z = F @ w
    if extra is not None:
        z = z + extra
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def reject_features(p: np.ndarray, labels: list[str], claims: list[str], counts: dict[str, int],
                    fit: dict[str, float] | None = None) -> np.ndarray:
    """Features of the unknown decision. ``fit``: per channel, how much better the best
    label explains the answers than the background does (log-lik per token), and for the
    aligned channels the nearest reference model's mean standardised similarity; an
    unseen creator's model tends to fit every known creator less well and to stand
    less close to any known model."""
    fit = fit or {}
    order = np.argsort(-p)
    top = p[order[0]]
    second = p[order[1]] if len(p) > 1 else 0.0
    ent = float(-(p * np.log(np.maximum(p, 1e-12))).sum() / np.log(max(2, len(p))))
    lab = set(labels)
    real = [c for c in claims if c != "none"]
    n_claims = max(1, len(claims))
    outside = sum(1 for c in real if c not in lab) / n_claims
    top_lab = labels[order[0]]
    agree = sum(1 for c in real if c == top_lab) / n_claims
    no_claim = (len(claims) - len(real)) / n_claims if claims else 0.0
    n_all = sum(counts.get(ch, 0) for ch in ANSWER_CHANNELS)
    return np.array([1.0, top, top - second, ent, outside, agree, no_claim, np.log1p(n_all)]
                    + [float(counts.get(ch, 0) > 0) for ch in REJECT_PRESENCE]
                    + [float(fit.get(ch, 0.0)) for ch in FIT_CHANNELS])


def p_unknown(x: np.ndarray, v: np.ndarray) -> float:
    z = float(x @ v)
    return float(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))


# -- evidence-dependent temperature ----------------------------------------------------------------
# The calibrator's channel weights are shared by every run; how far its posterior can be trusted
# depends on the evidence the run actually has (only a few style answers, only cutoff answers, every
# probe). A second stage scales the log-posterior by exp(theta . x), with x describing the run's
# evidence profile, fitted on out-of-fold posteriors (``train.fit_temperature``).
# the prompt sets whose answers differ most in how much they tell (a share of the run's answers each)
PROFILE_SOURCES = ("alpaca_eval", "arena_hard", "mt_bench", "benchpress", "speechmap")
PROFILE_CHANNELS = ("claim",) + ANSWER_CHANNELS        # a "has_<channel>" feature each
PROFILE_FEATURES = (("bias", "log_answers") + tuple(f"has_{ch}" for ch in PROFILE_CHANNELS)
                    + ("n_channels", "log_aligned") + tuple(f"share_{s}" for s in PROFILE_SOURCES))


def profile_features(counts: dict[str, int], sources: dict[str, int] | None = None) -> np.ndarray:
    """The evidence profile of a run (or of an out-of-fold row) from its per-channel answer counts
    and its answers per corpus source of the probes (``sources``)."""
    n_behav = sum(counts.get(ch, 0) for ch in ANSWER_CHANNELS)
    n_aligned = sum(counts.get(ch, 0) for ch in ALIGNED_CHANNELS)
    present = sum(1 for ch in SCORE_CHANNELS if counts.get(ch, 0) > 0)
    sources = sources or {}
    total = max(1, sum(sources.values()))
    return np.array([1.0, np.log1p(n_behav)] + [float(counts.get(ch, 0) > 0) for ch in PROFILE_CHANNELS]
                    + [float(present), np.log1p(n_aligned)]
                    + [sources.get(s, 0) / total for s in PROFILE_SOURCES])


def temper(p: np.ndarray, x: np.ndarray, theta: np.ndarray | None) -> np.ndarray:
    """The posterior ``p`` with its log-odds scaled by exp(theta . x) (unchanged without theta)."""
    if theta is None or not len(theta):
        return p
    k = min(len(theta), len(x))
    z = np.log(np.maximum(p, 1e-300)) * float(np.exp(np.clip(x[:k] @ theta[:k], -5.0, 5.0)))
    z = z - z.max()
    q = np.exp(z)
    return q / q.sum()


# -- the confidence a named verdict states ---------------------------------------------------------
# The creator posterior is conditional on the maker being one the classifier knows; the rejector's
# P(unknown maker) is fitted class-balanced (as many unseen makers' rows as known ones'). A named
# verdict's confidence is the probability that the named creator is right: P(known) * P(top | known),
# with P(unknown) moved to UNKNOWN_PRIOR, the share of endpoints by makers the classifier does not
# know that a user is taken to meet (a quarter; the project's own held-out runs and the issue's
# independent check both had a quarter to a half).
UNKNOWN_PRIOR = 0.25


# Below NAME_THRESHOLD of the stated confidence (after the verdict map below) the verdict names nobody:
# the best guess stays a candidate, but a guess that would be wrong two times in three is not a
# verdict. Chosen on an earlier dump of the 0.3.0 out-of-fold rows (with the unmapped confidence:
# known makers' models named right 0.460 -> 0.434, LOCO unknown 0.768 -> 0.833); eval's
# ``name_threshold_sweep`` shows the trade at other levels.
NAME_THRESHOLD = 0.35


# -- the verdict map: third parties' fine-tunes ------------------------------------------------------
# A fine-tune of open weights (a Llama or Mistral model post-trained by someone else) is made by its
# fine-tuner, whom no label names, yet it answers much like its base maker's models and the rejector
# rarely flags it. The last stage re-states a named verdict's confidence as P(named creator right) on
# a mix that also holds such fine-tunes, FINE_TUNE_PRIOR of the endpoints a user meets: a logistic
# model of the confidence's logit, whether the named maker publishes open weights others fine-tune
# (``lineage.OPEN_WEIGHT_MAKERS``), and their product, fitted on the out-of-fold verdicts of known
# makers' models, unknown makers' models and the corpus's fine-tunes (``training/verdicts.py``).
FINE_TUNE_PRIOR = 0.10
VERDICT_FEATURES = ("bias", "logit", "open_weights", "open_weights_x_logit")


def verdict_features(conf: float, open_weights: bool) -> np.ndarray:
    c = min(max(float(conf), 1e-6), 1 - 1e-6)
    lg = float(np.log(c / (1 - c)))
    o = float(open_weights)
    return np.array([1.0, lg, o, o * lg])


def map_verdict(conf: float, open_weights: bool, coef: np.ndarray | None) -> float:
    """A named verdict's confidence re-stated by the verdict map ``coef`` (unchanged without it)."""
    if coef is None or not len(coef):
        return float(conf)
    z = float(verdict_features(conf, open_weights) @ coef)
    return float(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))


def named_confidence(p_top: float, pu: float, prior: float | None) -> float:
    """P(the named creator is right) from the posterior's top ``p_top`` and the class-balanced
    P(unknown maker) ``pu``, at the prior share ``prior`` of unknown makers (None: ``p_top``)."""
    if prior is None:
        return float(p_top)
    pu = min(max(pu, 1e-9), 1 - 1e-9)
    z = np.log(pu / (1 - pu)) + np.log(prior / (1 - prior))
    return float(p_top) * float(1.0 / (1.0 + np.exp(z)))


# -- top-label recalibration ----------------------------------------------------------------------
# Scaling the log-posterior (``temper``) keeps its shape, and some evidence profiles are over-confident
# in the middle and right at the top (a greeting that names its maker, or none). The last stage
# re-states the top creator's probability with a logistic model of its logit and the run's evidence
# profile, fitted on out-of-fold rows (``train.fit_top``); the other candidates share the rest in
# their proportions. (With the logit's interactions with the profile too, the worst profile's gap
# was the same and the log loss 0.11 worse on the 0.3.0 out-of-fold rows: not adopted.)
def top_features(p_top: float, x: np.ndarray) -> np.ndarray:
    pt = min(max(float(p_top), 1e-6), 1 - 1e-6)
    lg = np.log(pt / (1 - pt))
    return np.r_[1.0, lg, x[1:]]


def recalibrate_top(p: np.ndarray, x: np.ndarray, coef: np.ndarray | None) -> np.ndarray:
    """``p`` with its top re-stated by ``coef`` (unchanged without it); never below the next."""
    if coef is None or not len(coef):
        return p
    j = int(np.argmax(p))
    f = top_features(p[j], x)
    k = min(len(coef), len(f))
    q = float(1.0 / (1.0 + np.exp(-np.clip(f[:k] @ coef[:k], -30, 30))))
    rest = 1.0 - p[j]
    if len(p) == 1:
        return p
    if rest > 1e-12:
        out = p * ((1.0 - q) / rest)
    else:                                 # the others had no mass: they share what the top gives up
        out = np.full_like(p, (1.0 - q) / (len(p) - 1))
    out[j] = q
    second = float(np.max(np.delete(out, j)))
    if second >= out[j]:                  # a re-stated top stays the top: the ranking is the posterior's
        out[j] = np.nextafter(second, 1.0)
        out = out / out.sum()
    return out
