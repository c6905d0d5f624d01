"""The verdict map, and the figures of the verdicts as a user meets them.

A named verdict states P(named creator right). The creator posterior and the rejector are fitted on
the corpus's makers; an endpoint a user meets may also be an unknown maker's model or a third
party's fine-tune of open weights, which answers much like its base maker's models and which the
rejector rarely flags. ``fit_verdict_map`` re-states the named confidence on a mix of the three
(``combine.map_verdict``): known makers' models (leave-one-model-out rows), unknown makers' models
(leave-one-creator-out rows, ``UNKNOWN_PRIOR`` of the mix) and the corpus's fine-tunes
(``derivatives.jsonl.gz``, scored by the model this run would ship, ``FINE_TUNE_PRIOR`` of the mix).
It is fitted on the verdicts the rejector lets through; the stated (mapped) confidence then decides
whether a creator is named at all (``combine.NAME_THRESHOLD``), at inference and in every figure.

``fit_verdicts`` fits it and re-states the run's figures with each out-of-fold prediction's
stated confidence (``pred["stated"]``, the map fitted without the model's fold: five folds over
models), so that ``figures.unknown_verdict`` decides as ``decide`` will; ``verdict_figures``
measures the stated verdicts on the mix, before and after the map.
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..classifier.combine import (FINE_TUNE_PRIOR, NAME_THRESHOLD, UNKNOWN_PRIOR, map_verdict, named_confidence,
                                  verdict_features)
from ..classifier.lineage import OPEN_WEIGHT_MAKERS
from .figures import figures, with_provider_figures
from .fitting import REJECT_THRESHOLD, fit_logistic
from .trainer import log_to

if TYPE_CHECKING:
    from .trainer import Trainer

FOLDS = 5
IDENTITY = np.array([0.0, 1.0, 0.0, 0.0])     # the map that leaves a confidence as it is


@dataclass(frozen=True)
class Verdict:
    kind: str          # "known" (LOMO), "unknown" (LOCO: the maker left out) or "fine-tune"
    model: str
    top: str           # the posterior's best creator
    rejected: bool     # the rejector (or a veto) said unknown: no confidence is stated
    conf: float        # the named confidence before the map
    right: bool        # the top is the model's maker
    weight: float      # the row's share of the mix

    @property
    def open_weights(self) -> bool:
        return self.top in OPEN_WEIGHT_MAKERS


def mix(preds: list[dict[str, Any]], known: dict[str, bool], fine_tunes: list[dict[str, Any]] | None
        ) -> list[Verdict]:
    """The verdicts of the mix: LOMO rows of known makers' models (all probes), LOCO rows (every
    model, its maker left out) and the fine-tunes' verdicts (``derivative_verdicts``), weighted to
    1 - priors, ``UNKNOWN_PRIOR`` and ``FINE_TUNE_PRIOR`` of it (without fine-tunes, their share
    goes to the known makers' models)."""
    lomo = [p for p in preds if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])]
    loco = [p for p in preds if p["mode"] == "loco" and p["subset"] == "all"]
    ft = list(fine_tunes or [])
    pd_ = FINE_TUNE_PRIOR if ft else 0.0
    out = []
    for p in lomo:
        out.append(Verdict("known", p["model"], p["top"][0], p["p_unknown"] >= REJECT_THRESHOLD,
                           named_confidence(p["p_top"], p["p_unknown"], UNKNOWN_PRIOR), p["top"][0] == p["creator"],
                           (1 - UNKNOWN_PRIOR - pd_) / len(lomo)))
    for p in loco:
        out.append(Verdict("unknown", p["model"], p["top"][0], p["p_unknown"] >= REJECT_THRESHOLD,
                           named_confidence(p["p_top"], p["p_unknown"], UNKNOWN_PRIOR), False,
                           UNKNOWN_PRIOR / len(loco)))
    for d in ft:
        # a fine-tuner the corpus knows as a maker (Microsoft's post-trained DeepSeek R1) is named right
        out.append(Verdict("fine-tune", d["model"], d["top"], d["rejected"], d["conf"],
                           d.get("fine_tuner") == d["top"], pd_ / len(ft)))
    return out


def fit_verdict_map(rows: list[Verdict]) -> np.ndarray:
    """The map's coefficients over ``combine.verdict_features``, fitted on the verdicts of the mix
    the rejector lets through (weighted logistic regression of "the top is the model's maker");
    the identity when there is nothing to fit."""
    kept = [r for r in rows if not r.rejected]
    if not kept or len({r.right for r in kept}) < 2:
        return IDENTITY.copy()
    X = np.array([verdict_features(r.conf, r.open_weights) for r in kept])
    y = np.array([float(r.right) for r in kept])
    w = np.array([r.weight for r in kept])
    return fit_logistic(X, y, w / w.sum(), IDENTITY.copy())


def fold_of(model: str) -> int:
    return zlib.crc32(model.encode("utf-8")) % FOLDS


def fold_maps(rows: list[Verdict]) -> dict[int, np.ndarray]:
    """Per fold of models, the map fitted without that fold's models."""
    return {k: fit_verdict_map([r for r in rows if fold_of(r.model) != k]) for k in range(FOLDS)}


def stated(p: dict[str, Any], maps: dict[int, np.ndarray] | None) -> float:
    """An out-of-fold prediction's stated confidence: its named confidence through the map of
    its model's fold (unmapped without maps)."""
    c = named_confidence(p["p_top"], p["p_unknown"], UNKNOWN_PRIOR)
    if not maps:
        return c
    return map_verdict(c, p["top"][0] in OPEN_WEIGHT_MAKERS, maps[fold_of(p["model"])])


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
    """Figures of the named verdicts: those the rejector lets through at a confidence of
    NAME_THRESHOLD or more."""
    named = [(c, r) for c, r in zip(conf, rows) if not r.rejected and c >= NAME_THRESHOLD]
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
            # verdicts stated at 0.9+ (one per model of the mix), how many of them are right, and
            # their share right weighted as the mix (so not a share of the count)
            "confident_models": len(high), "confident_right": sum(1 for o, _ in high if o),
            "confident_accuracy": (round(float(np.average([o for o, _ in high], weights=[x for _, x in high])), 4)
                                   if high else None)}


def verdict_figures(preds: list[dict[str, Any]], known: dict[str, bool],
                    fine_tunes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the verdict line says, on the mix (``mix``): the share named, accuracy, mean stated
    confidence, gap, ECE and the verdicts stated at 0.9+, as the shipped model states them (the
    map cross-fitted over folds of models; ``before_map``: the named confidence without it, the
    same name threshold applied to it); the shares of unknown makers' models and of fine-tunes
    given a named verdict, and of the fine-tunes named at 0.8 or more."""
    rows = mix(preds, known, fine_tunes)
    if not any(r.kind == "known" for r in rows) or not any(r.kind == "unknown" for r in rows):
        return {}
    maps = fold_maps(rows) if fine_tunes else None
    mapped = [map_verdict(r.conf, r.open_weights, maps[fold_of(r.model)]) if maps else r.conf for r in rows]
    out: dict[str, Any] = {"prior": UNKNOWN_PRIOR, "fine_tune_prior": FINE_TUNE_PRIOR if fine_tunes else 0.0}
    out.update(_stated(rows, mapped))

    def named(kind: str, at: float = NAME_THRESHOLD) -> float:
        sel = [(c, r) for c, r in zip(mapped, rows) if r.kind == kind]
        return round(float(np.mean([not r.rejected and c >= max(at, NAME_THRESHOLD) for c, r in sel])), 4)
    if fine_tunes:
        out["before_map"] = _stated(rows, [r.conf for r in rows])
        out["fine_tunes"] = sum(r.kind == "fine-tune" for r in rows)
        out["fine_tunes_named"] = named("fine-tune")
        out["fine_tunes_named_08"] = named("fine-tune", 0.8)
    out["unknown_makers_named"] = named("unknown")
    return out


def derivative_verdicts(tr: "Trainer", arrays: dict[str, np.ndarray], meta: dict[str, Any],
                        corpus: Path | str) -> list[dict[str, Any]] | None:
    """The corpus's fine-tunes as the model this run would ship (``export.build``'s arrays and
    manifest, without a verdict map and without the name threshold, which applies to the mapped
    confidence) sees them: model, top, rejected, conf (the named confidence), fine_tuner; None
    without ``derivatives.jsonl.gz``."""
    from ..classifier.model import TrainedClassifier
    from . import derivatives as dv
    from .export import write
    path = Path(corpus) / dv.FILE
    if not path.is_file():
        return None
    out = []
    with tempfile.TemporaryDirectory(prefix="provenance-verdicts-") as tmp:
        clf = TrainedClassifier.load(write(tr, arrays, meta, tmp), tr.ps)
        clf.thresholds["name"] = 0.0
        for d in sorted(dv.load(path).values(), key=lambda d: d.model):
            t = dv.transcript(d, tr.ps)
            if not t.results:
                continue
            a = clf.classify(t)
            top = a.candidates[0].creator if a.candidates else a.creator
            rejected = a.status == "unknown"
            out.append({"model": d.model, "base": d.base_creator, "fine_tuner": d.fine_tuner, "top": top,
                        "rejected": rejected, "conf": 0.0 if rejected else float(a.confidence)})
    return out


def fit_verdicts(tr: "Trainer", preds: list[dict[str, Any]], figs: dict[str, Any], arrays: dict[str, np.ndarray],
                 meta: dict[str, Any], corpus: Path | str, log: Callable[[str], None] | None = None
                 ) -> np.ndarray | None:
    """The verdict map of the model this run ships (``export.build``'s ``arrays`` and ``meta``).
    Each prediction gets its stated confidence (``pred["stated"]``, the map of its model's fold)
    and the figures that count `unknown` verdicts are re-stated with it, ``figs["verdicts"]`` on
    the mix with the fine-tunes; None (and nothing changed) without ``derivatives.jsonl.gz``."""
    from . import derivatives as dv
    if not (Path(corpus) / dv.FILE).is_file():
        return None
    log_to(f"fitting the verdict map on the third-party fine-tunes ({dv.FILE})", log)
    fine = derivative_verdicts(tr, arrays, meta, corpus)
    if not fine:
        return None
    known = {m: tr.known(m) for m in tr.eval_by_model}
    vrows = mix(preds, known, fine)
    maps = fold_maps(vrows)
    for p in preds:
        p["stated"] = stated(p, maps)
    figs.update(figures(preds, known, tr.greeting_only()))
    if tr.aided_preds is not None and "with_provider" in figs:
        # the provider-aided verdicts pass through the same map at inference (decide adds the
        # provider's evidence before it)
        for p in tr.aided_preds:
            p["stated"] = stated(p, maps)
        figs["with_provider"] = with_provider_figures(tr.aided_preds, known)
    figs["verdicts"] = verdict_figures(preds, known, fine)
    return fit_verdict_map(vrows)
