"""The verdict map, and the figures of the verdicts as a user meets them.

A named verdict states P(named creator right). The creator posterior and the rejector are fitted on
the corpus's makers; an endpoint a user meets may also be an unknown maker's model or a third
party's fine-tune of open weights, which answers much like its base maker's models and which the
rejector rarely flags. ``fit_verdict_map`` re-states the named confidence on a mix of the three
(``combine.map_verdict``): known makers' models (leave-one-model-out rows), unknown makers' models
(leave-one-creator-out rows, ``UNKNOWN_PRIOR`` of the mix) and the corpus's fine-tunes
(``derivatives.jsonl.gz``, scored by the model this run would ship, ``FINE_TUNE_PRIOR`` of the mix).

``verdict_figures`` measures the stated verdicts on that mix, before and after the map; the map's
figures are cross-fitted (five folds over models: a model's rows never help fit the map that states
its confidence).
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..classifier.combine import FINE_TUNE_PRIOR, UNKNOWN_PRIOR, map_verdict, named_confidence, verdict_features
from ..classifier.lineage import OPEN_WEIGHT_MAKERS
from .figures import unknown_verdict
from .fitting import fit_logistic
from .trainer import log_to

if TYPE_CHECKING:
    from .trainer import Row, Trainer

FOLDS = 5
IDENTITY = np.array([0.0, 1.0, 0.0, 0.0])     # the map that leaves a confidence as it is


@dataclass(frozen=True)
class Verdict:
    kind: str          # "known" (LOMO), "unknown" (LOCO: the maker left out) or "fine-tune"
    model: str
    top: str           # the posterior's best creator
    named: bool        # P(unknown) under the threshold: a creator is named
    conf: float        # the named confidence before the map
    right: bool        # the named creator is the model's maker
    weight: float      # the row's share of the mix

    @property
    def open_weights(self) -> bool:
        return self.top in OPEN_WEIGHT_MAKERS


def mix(preds: list[dict[str, Any]], known: dict[str, bool], fine_tunes: list[dict[str, Any]] | None,
        unknown_prior: float = UNKNOWN_PRIOR, fine_tune_prior: float = FINE_TUNE_PRIOR) -> list[Verdict]:
    """The verdicts of the mix: LOMO rows of known makers' models (all probes), LOCO rows (every
    model, its maker left out) and the fine-tunes' verdicts (``derivative_verdicts``), weighted to
    1 - priors, ``unknown_prior`` and ``fine_tune_prior`` of it (without fine-tunes, their share
    goes to the known makers' models)."""
    lomo = [p for p in preds if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])]
    loco = [p for p in preds if p["mode"] == "loco" and p["subset"] == "all"]
    ft = list(fine_tunes or [])
    pd_ = fine_tune_prior if ft else 0.0
    out = []
    for p in lomo:
        out.append(Verdict("known", p["model"], p["top"][0], not unknown_verdict(p),
                           named_confidence(p["p_top"], p["p_unknown"], unknown_prior), p["top"][0] == p["creator"],
                           (1 - unknown_prior - pd_) / len(lomo)))
    for p in loco:
        out.append(Verdict("unknown", p["model"], p["top"][0], not unknown_verdict(p),
                           named_confidence(p["p_top"], p["p_unknown"], unknown_prior), False,
                           unknown_prior / len(loco)))
    for d in ft:
        out.append(Verdict("fine-tune", d["model"], d["top"], d["named"], d["conf"], False, pd_ / len(ft)))
    return out


def fit_verdict_map(rows: list[Verdict]) -> np.ndarray:
    """The map's coefficients over ``combine.verdict_features``, fitted on the named verdicts of
    the mix (weighted logistic regression of "the named creator is right"); the identity when
    there is nothing to fit."""
    named = [r for r in rows if r.named]
    if not named or len({r.right for r in named}) < 2:
        return IDENTITY.copy()
    X = np.array([verdict_features(r.conf, r.open_weights) for r in named])
    y = np.array([float(r.right) for r in named])
    w = np.array([r.weight for r in named])
    return fit_logistic(X, y, w / w.sum(), IDENTITY.copy())


def fold_of(model: str) -> int:
    return zlib.crc32(model.encode("utf-8")) % FOLDS


def cross_fitted(rows: list[Verdict]) -> list[float]:
    """Each row's mapped confidence with the map fitted without its model's fold."""
    out = [r.conf for r in rows]
    for k in range(FOLDS):
        coef = fit_verdict_map([r for r in rows if fold_of(r.model) != k])
        for i, r in enumerate(rows):
            if fold_of(r.model) == k:
                out[i] = map_verdict(r.conf, r.open_weights, coef)
    return out


def weighted_ece(conf: list[float], correct: list[bool], weight: list[float], bins: int = 10) -> float | None:
    if not conf:
        return None
    c, y, w = np.asarray(conf), np.asarray(correct, dtype=float), np.asarray(weight, dtype=float)
    k = np.minimum((c * bins).astype(int), bins - 1)
    tot = 0.0
    for b in range(bins):
        sel = k == b
        if w[sel].sum() > 0:
            tot += w[sel].sum() / w.sum() * abs(np.average(c[sel], weights=w[sel]) - np.average(y[sel], weights=w[sel]))
    return round(float(tot), 4)


def _stated(rows: list[Verdict], conf: list[float]) -> dict[str, Any]:
    named = [(c, r) for c, r in zip(conf, rows) if r.named]
    if not named:
        return {"named_share": 0.0}
    c = [x for x, _ in named]
    ok = [r.right for _, r in named]
    w = [r.weight for _, r in named]
    acc = float(np.average(ok, weights=w))
    mc = float(np.average(c, weights=w))
    high = [(r.right, r.weight) for x, r in named if x >= 0.9]
    return {"named_share": round(sum(w) / sum(r.weight for r in rows), 4), "accuracy": round(acc, 4),
            "mean_confidence": round(mc, 4), "gap": round(mc - acc, 4), "ece": weighted_ece(c, ok, w),
            "confident_models": len(high),
            "confident_accuracy": (round(float(np.average([o for o, _ in high], weights=[x for _, x in high])), 4)
                                   if high else None)}


def verdict_figures(preds: list[dict[str, Any]], known: dict[str, bool],
                    fine_tunes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the verdict line says, on the mix (``mix``): the share named, accuracy, mean stated
    confidence, gap, ECE and the verdicts stated at 0.9+, as the shipped model states them (the
    map cross-fitted; ``before_map``: the named confidence without it); the shares of unknown
    makers' models and of fine-tunes given a named verdict, and of the fine-tunes named with a
    mapped confidence of 0.8 or more."""
    rows = mix(preds, known, fine_tunes)
    if not any(r.kind == "known" for r in rows) or not any(r.kind == "unknown" for r in rows):
        return {}
    mapped = cross_fitted(rows) if fine_tunes else [r.conf for r in rows]
    out: dict[str, Any] = {"prior": UNKNOWN_PRIOR, "fine_tune_prior": FINE_TUNE_PRIOR if fine_tunes else 0.0}
    out.update(_stated(rows, mapped))
    if fine_tunes:
        out["before_map"] = _stated(rows, [r.conf for r in rows])
        ft = [(c, r) for c, r in zip(mapped, rows) if r.kind == "fine-tune"]
        out["fine_tunes"] = len(ft)
        out["fine_tunes_named"] = round(float(np.mean([r.named for _, r in ft])), 4)
        out["fine_tunes_named_08"] = round(float(np.mean([r.named and c >= 0.8 for c, r in ft])), 4)
    loco = [r for r in rows if r.kind == "unknown"]
    out["unknown_makers_named"] = round(float(np.mean([r.named for r in loco])), 4)
    return out


def derivative_verdicts(tr: "Trainer", rows: list["Row"], preds: list[dict[str, Any]], figs: dict[str, Any],
                        corpus: Path | str) -> list[dict[str, Any]] | None:
    """The corpus's fine-tunes as the model this run would ship (without a verdict map) names
    them: model, top, named, conf (the named confidence); None without ``derivatives.jsonl.gz``."""
    from ..classifier.model import TrainedClassifier
    from . import derivatives as dv
    from .export import export
    path = Path(corpus) / dv.FILE
    if not path.is_file():
        return None
    out = []
    with tempfile.TemporaryDirectory(prefix="provenance-verdicts-") as tmp:
        export(tr, rows, preds, figs, tmp)
        clf = TrainedClassifier.load(tmp, tr.ps)
        for d in sorted(dv.load(path).values(), key=lambda d: d.model):
            t = dv.transcript(d, tr.ps)
            if not t.results:
                continue
            a = clf.classify(t)
            top = a.candidates[0].creator if a.candidates else a.creator
            named = a.status != "unknown"
            out.append({"model": d.model, "base": d.base_creator, "top": top, "named": named,
                        "conf": float(a.confidence) if named else 0.0})
    return out


def fit_verdicts(tr: "Trainer", rows: list["Row"], preds: list[dict[str, Any]], figs: dict[str, Any],
                 corpus: Path | str, log: Callable[[str], None] | None = None) -> np.ndarray | None:
    """The verdict map of the model this run ships, with ``figs["verdicts"]`` re-stated on the mix
    with the corpus's fine-tunes; None (and the figures left as they are) without them."""
    from . import derivatives as dv
    if not (Path(corpus) / dv.FILE).is_file():
        return None
    log_to(f"fitting the verdict map on the third-party fine-tunes ({dv.FILE})", log)
    fine = derivative_verdicts(tr, rows, preds, figs, corpus)
    if not fine:
        return None
    known = {m: tr.known(m) for m in tr.eval_by_model}
    figs["verdicts"] = verdict_figures(preds, known, fine)
    return fit_verdict_map(mix(preds, known, fine))
