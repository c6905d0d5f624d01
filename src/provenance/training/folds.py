"""Cross-fitting: the folds (by alias group, stratified by creator; by creator) and the
out-of-fold predictions every reported figure comes from. The channel weights and the
calibration stages of a row never saw its alias group; its rejector never saw its creator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels.registry import ANSWER_CHANNELS
from ..classifier.combine import p_unknown, recalibrate_top, reject_features, temper
from .corpus import group_key
from .families import family_of
from .fitting import (
    family_guess,
    fit_calibrator,
    fit_combiner,
    fit_family_calibrator,
    fit_temperature,
    fit_top,
    row_posterior,
    row_profile,
    temperature_data,
)

if TYPE_CHECKING:
    from .trainer import Row

N_FOLDS = 5
CAL_FOLDS = 5            # alias-group folds of the calibrator's cross-fitting (it is cheap to refit)
DEALS = 10               # random re-deals of those folds whose spread train and eval report


def creator_folds(creators: list[str], k: int = N_FOLDS) -> dict[str, int]:
    return {c: i % k for i, c in enumerate(sorted(creators))}


def stratified_group_folds(group_creator: dict[str, str], k: int = N_FOLDS,
                           seed: int | None = None) -> dict[str, int]:
    """Folds over alias groups (a model with its variants), the unit LOMO leaves out, dealt
    creator by creator so that a creator's groups fall in different folds: a held-out model's
    creator then keeps its other models in training, as in exact leave-one-model-out.

    ``seed`` None deals the groups in name order (the reported figures); a seed deals them
    in a random order within each creator from a random first fold (``deal_spread``)."""
    if seed is None:
        order = sorted(group_creator, key=lambda g: (group_creator[g], g))
        return {g: i % k for i, g in enumerate(order)}
    rng = np.random.default_rng(seed)
    names = sorted(group_creator)
    rank = dict(zip(names, rng.permutation(len(names))))
    order = sorted(names, key=lambda g: (group_creator[g], rank[g]))
    first = int(rng.integers(k))
    return {g: (first + i) % k for i, g in enumerate(order)}


def group_folds(rows: list[Row], k: int = N_FOLDS, seed: int | None = None) -> dict[str, int]:
    return stratified_group_folds({group_key(r.model): r.creator for r in rows}, k, seed)


def calibrators(rows: list[Row], deal: int | None = None) -> tuple[dict[str, int], list[np.ndarray]]:
    """(alias-group fold of each group, the calibrator fitted without each fold's LOMO rows);
    ``deal``: the seed of the fold deal (None: name order)."""
    gfolds = group_folds(rows, CAL_FOLDS, deal)
    return gfolds, [fit_calibrator([r for r in rows if r.mode == "lomo" and gfolds[group_key(r.model)] != k])
                    for k in range(CAL_FOLDS)]


def raw_posteriors(rows: list[Row], deal: int | None = None) -> tuple[dict[int, np.ndarray], dict[str, int]]:
    """(row index -> out-of-fold calibrated posterior before the temperature; alias-group folds)."""
    gfolds, w_group = calibrators(rows, deal)
    return {i: row_posterior(r, w_group[gfolds[group_key(r.model)]]) for i, r in enumerate(rows)}, gfolds


def oof_posteriors(rows: list[Row], deal: int | None = None
                   ) -> tuple[dict[int, np.ndarray], list[np.ndarray], dict[str, int]]:
    """(row index -> calibrated, tempered out-of-fold posterior; the temperatures fitted per fold;
    the alias-group folds).

    Each row's channel weights come from the calibrator fitted without its alias-group fold
    (``calibrators``); the evidence-dependent temperature applied to it is fitted on the other
    folds' out-of-fold posteriors, so neither stage saw the row's own model."""
    raw, gfolds = raw_posteriors(rows, deal)
    fold = [gfolds[group_key(r.model)] for r in rows]
    thetas = [fit_temperature(temperature_data(rows, {i: p for i, p in raw.items() if fold[i] != k}))
              for k in range(CAL_FOLDS)]
    tempered = {i: temper(p, row_profile(rows[i]), thetas[fold[i]]) for i, p in raw.items()}
    tops = [fit_top(rows, {i: p for i, p in tempered.items() if fold[i] != k}) for k in range(CAL_FOLDS)]
    return ({i: recalibrate_top(p, row_profile(rows[i]), tops[fold[i]]) for i, p in tempered.items()},
            thetas, gfolds)


def prediction(r: Row, p: np.ndarray) -> dict[str, Any]:
    """A row's out-of-fold creator prediction from its calibrated posterior ``p``."""
    order = np.argsort(-p)
    return {"model": r.model, "creator": r.creator, "subset": r.subset, "mode": r.mode,
            "top": [r.labels[i] for i in order[:3]], "p_top": float(p[order[0]]),
            "p_true": float(p[r.labels.index(r.creator)]) if r.creator in r.labels else None,
            # the whole posterior, for the claim-check thresholds (claims.py)
            "p": dict(zip(r.labels, (float(x) for x in p)))}


def cross_fit(rows: list[Row], creators: list[str], families: list[str] | None = None,
              family_creator: dict[str, str] | None = None, deal: int | None = None) -> list[dict[str, Any]]:
    """Out-of-fold predictions.

    The calibrator (channel weights) is fitted on LOMO rows of other alias-group
    folds, the same situation LOMO scores: an unseen model of a creator that may
    be known. The rejector (the unknown decision) is fitted on creator folds, so
    a row's creator is never among its training creators, as LOCO requires.
    ``deal``: the seed of the calibrator's fold deal (None: name order).
    """
    cfolds = creator_folds(creators)
    post, _, gfolds = oof_posteriors(rows, deal)
    index = {id(r): i for i, r in enumerate(rows)}
    w_family = ([fit_family_calibrator([r for r in rows if gfolds[group_key(r.model)] != k], families, family_creator)
                 for k in range(CAL_FOLDS)] if families and family_creator else None)
    preds: list[dict[str, Any]] = []
    for k in range(N_FOLDS):
        train = [r for r in rows if cfolds[r.creator] != k]
        test = [r for r in rows if cfolds[r.creator] == k]
        w, v = fit_combiner(train)
        for r in test:
            pu = p_unknown(reject_features(row_posterior(r, w), r.labels, r.claims, r.counts, r.fit), v)
            preds.append(prediction(r, post[index[id(r)]]))
            preds[-1].update({"p_unknown": pu, "n": sum(r.counts.get(c, 0) for c in ANSWER_CHANNELS)})
            if w_family is not None and r.mode == "lomo" and r.fsize is not None:
                fam, pf = family_guess(r, preds[-1]["top"][0], preds[-1]["p_top"], w_family[gfolds[group_key(r.model)]],
                                       families, family_creator)
                true = family_of(r.model)
                preds[-1].update({"family": fam, "p_family": pf, "true_family": true,
                                  "family_known": bool(true in families and r.fsize[families.index(true)] > 0)})
    return preds
