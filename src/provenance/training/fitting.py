"""The fitted stages over out-of-fold rows: the channel weights (calibrator), the unknown
decision (rejector), the family calibrator, the evidence-dependent temperature and the
top-label recalibration (scipy's L-BFGS, imported where used)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from ..classifier import family_model
from ..classifier.combine import (
    N_DESIGN,
    PROFILE_FEATURES,
    design,
    posterior,
    profile_features,
    reject_features,
    top_features,
)
from .families import family_of

if TYPE_CHECKING:
    from .trainer import Row

REJECT_THRESHOLD = 0.5   # p(unknown) at or above -> "unknown"
MATCH_THRESHOLD = 0.6    # calibrated top probability at or above -> "match", else "ambiguous"
L2 = 1e-4
FAMILY_L2 = 1e-4


# -- calibrator: conditional logit over the design matrix ------------------------------------------
def fit_conditional_logit(data: list[tuple[np.ndarray, int]], x0: np.ndarray, bounds: list[tuple[float | None, float | None]],
                          l2: float) -> np.ndarray:
    """Weights ``w`` maximising the mean log softmax(F @ w)[y] over ``data`` (rows of
    (options x features) matrices ``F`` with the index ``y`` of the right option), minus
    ``l2 * |w|^2``, within ``bounds``."""
    from scipy.optimize import minimize

    def f(w):
        nll, g = 0.0, np.zeros_like(w)
        for F, y in data:
            z = F @ w
            zm = z.max()
            e = np.exp(z - zm)
            s = e.sum()
            p = e / s
            nll += -(z[y] - zm - math.log(s))
            g += -(F[y] - p @ F)
        nll = nll / len(data) + l2 * float(w @ w)
        g = g / len(data) + 2 * l2 * w
        return nll, g

    return minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds).x


def fit_calibrator(rows: list[Row]) -> np.ndarray:
    data = []
    for r in rows:
        if r.creator not in r.labels:
            continue
        F = design(r.summ, r.counts, len(r.labels))
        E = np.zeros((len(r.labels), 1)) if r.provider is None else r.provider.reshape(-1, 1)
        data.append((np.hstack([F, E]), r.labels.index(r.creator)))
    if not data:
        return np.zeros(N_DESIGN + 1)
    # weights are kept >= 0: a channel's evidence may be discounted, never reversed
    return fit_conditional_logit(data, np.full(N_DESIGN + 1, 1.0), [(0.0, None)] * (N_DESIGN + 1), L2)


def row_posterior(r: Row, w: np.ndarray) -> np.ndarray:
    """The calibrated posterior of a row: channel design plus the weighted provider channel."""
    extra = None if r.provider is None else w[N_DESIGN] * r.provider
    return posterior(design(r.summ, r.counts, len(r.labels)), w[:N_DESIGN], extra)


def fit_logistic(X: np.ndarray, y: np.ndarray, sw: np.ndarray, x0: np.ndarray, l2: float = 0.01) -> np.ndarray:
    """Weighted logistic regression of y on X (first column the bias, not penalised);
    ``x0`` when y holds a single class."""
    from scipy.optimize import minimize
    if len(set(y.tolist())) < 2:
        return x0

    def f(v):
        z = np.clip(X @ v, -50, 50)
        p = 1 / (1 + np.exp(-z))
        nll = -(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum() + l2 * float(v[1:] @ v[1:])
        g = X.T @ (sw * (p - y))
        g[1:] += 2 * l2 * v[1:]
        return nll, g

    return minimize(f, x0, jac=True, method="L-BFGS-B").x


def fit_rejector(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The unknown decision: class-balanced logistic regression (LOCO rows against LOMO rows)."""
    wpos = 0.5 / max(1, y.sum())
    wneg = 0.5 / max(1, (1 - y).sum())
    return fit_logistic(X, y, np.where(y == 1, wpos, wneg), np.zeros(X.shape[1]))


def family_candidates(r: Row, creator: str, families: list[str], family_creator: dict[str, str]) -> list[int]:
    """Indices of ``creator``'s families that still have a training model for row ``r``."""
    assert r.fsize is not None
    return family_model.candidates(families, family_creator, creator, r.fsize)


def family_design(r: Row, cand: list[int]) -> np.ndarray:
    assert r.fsize is not None
    return family_model.design(r.fsumm, r.fcounts, cand, np.log(np.maximum(r.fsize, 1.0)))


def fit_family_calibrator(rows: list[Row], families: list[str], family_creator: dict[str, str]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(w, v): a conditional logit over the true creator's families plus "a family not in
    training", on LOMO rows (the held-out model's family may or may not remain in training),
    then a Platt step (``v``) on its top probability for the same rows."""
    data = []
    for r in rows:
        if r.mode != "lomo" or r.fsize is None:
            continue
        cand = family_candidates(r, r.creator, families, family_creator)
        true = families.index(family_of(r.model)) if family_of(r.model) in families else -1
        data.append((family_design(r, cand), cand.index(true) if true in cand else len(cand)))
    nf = family_model.N_FAMILY_DESIGN
    if not data:
        return np.zeros(nf), np.zeros(3)
    # channel weights >= 0 (evidence may be discounted, never reversed); size and bias free
    w = fit_conditional_logit(data, np.r_[np.full(nf - 2, 1.0), 0.0, 0.0],
                              [(0.0, None)] * (nf - 2) + [(None, None)] * 2, FAMILY_L2)
    X, y = [], []
    for F, t in data:
        if len(F) < 2:
            continue          # no family of the creator left in training: nothing to name
        best, q_best = family_model.top(F, w)
        X.append(family_model.platt_features(q_best, len(F) - 1))
        y.append(float(best == t))
    Xa, ya = np.array(X).reshape(len(X), 3), np.array(y)
    return w, fit_logistic(Xa, ya, np.full(len(ya), 1.0 / max(1, len(ya))), np.array([0.0, 1.0, 0.0]))


def family_guess(r: Row, creator: str, p_creator: float, wv: tuple[np.ndarray, np.ndarray], families: list[str],
                 family_creator: dict[str, str]) -> tuple[str | None, float]:
    """(family named, joint probability that creator and family are both right) for an
    out-of-fold row; (None, 0) when no family of ``creator`` remains in training."""
    cand = family_candidates(r, creator, families, family_creator)
    if not cand:
        return None, 0.0
    w, v = wv
    best, q_best = family_model.top(family_design(r, cand), w)
    return families[cand[best]], p_creator * family_model.platt(family_model.platt_features(q_best, len(cand)), v)


def fit_combiner(rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    """Calibrator on the LOMO rows, then the rejector on the calibrated outputs of all rows
    (LOMO rows labelled known, LOCO rows unknown). The rejector's inputs come from a
    calibrator fitted on the same rows; acceptable, as the rejector is only a few numbers."""
    w = fit_calibrator([r for r in rows if r.mode == "lomo"])
    X = [reject_features(row_posterior(r, w), r.labels, r.claims, r.counts, r.fit) for r in rows]
    y = [1.0 if r.mode == "loco" else 0.0 for r in rows]
    return w, fit_rejector(np.array(X), np.array(y))


TEMPERATURE_L2 = 1e-4


def fit_temperature(data: list[tuple[np.ndarray, np.ndarray, int]]) -> np.ndarray:
    """theta minimising the mean -log softmax(exp(theta . x) * log p)[y] over ``data`` (rows of
    (out-of-fold posterior p, evidence profile x, index y of the true label)), ridge-penalised
    toward theta = 0 (no change)."""
    from scipy.optimize import minimize
    if not data:
        return np.zeros(len(PROFILE_FEATURES))
    Z = [np.log(np.maximum(p, 1e-300)) for p, _, _ in data]
    X = np.array([x for _, x, _ in data])
    Y = [y for _, _, y in data]

    def f(theta):
        nll, g = 0.0, np.zeros_like(theta)
        sc = np.exp(np.clip(X @ theta, -5.0, 5.0))
        for z, x, y, s in zip(Z, X, Y, sc):
            t = s * z
            t = t - t.max()
            e = np.exp(t)
            q = e / e.sum()
            nll += -(t[y] - math.log(e.sum()))
            # d nll / d s = -(z_y - q . z); d s / d theta = s x
            g += -(z[y] - q @ z) * s * x
        n = len(Z)
        return nll / n + TEMPERATURE_L2 * float(theta @ theta), g / n + 2 * TEMPERATURE_L2 * theta

    return minimize(f, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x


def temperature_data(rows: list[Row], post: dict[int, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    return [(post[i], row_profile(r), r.labels.index(r.creator))
            for i, r in enumerate(rows) if i in post and r.mode == "lomo" and r.creator in r.labels]


def row_profile(r: Row) -> np.ndarray:
    """``combine.profile_features`` of an out-of-fold row (its answers per corpus source from its keys)."""
    sources: dict[str, int] = defaultdict(int)
    for k in r.keys:
        sources[k.split(":", 1)[0]] += 1
    return profile_features(r.counts, sources)


TOP_L2 = 0.01


def fit_top(rows: list[Row], post: dict[int, np.ndarray]) -> np.ndarray:
    """The top-label recalibration (``combine.recalibrate_top``): a logistic model of "the top is
    right" on the top's logit and the evidence profile, over LOMO rows' out-of-fold posteriors."""
    X, y = [], []
    for i, p in post.items():
        r = rows[i]
        if r.mode != "lomo" or r.creator not in r.labels:
            continue
        j = int(np.argmax(p))
        X.append(top_features(p[j], row_profile(r)))
        y.append(float(r.labels[j] == r.creator))
    if not X:
        return np.zeros(0)
    Xa, ya = np.array(X), np.array(y)
    x0 = np.zeros(Xa.shape[1])
    x0[1] = 1.0                                  # start from "the top as it is"
    return fit_logistic(Xa, ya, np.full(len(ya), 1.0), x0, l2=TOP_L2)
