"""Evaluation figures from out-of-fold predictions: top-1, ECE, log loss, LOCO unknown,
per evidence profile, evidence reach and the spread over fold deals (the stated verdicts on a
mix with unknown makers and fine-tunes are in ``verdicts.py``)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..classifier.corpus_sources import profile_of_source
from ..classifier.combine import NAME_THRESHOLD, UNKNOWN_PRIOR, named_confidence
from .fitting import REJECT_THRESHOLD
from .folds import oof_posteriors, prediction

if TYPE_CHECKING:
    from .trainer import Row

def ece(conf: list[float], correct: list[bool], bins: int = 10) -> float:
    if not conf:
        return float("nan")
    c = np.asarray(conf)
    y = np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    tot = 0.0
    for i in range(bins):
        sel = (c > edges[i]) & (c <= edges[i + 1]) if i else (c >= 0) & (c <= edges[1])
        if sel.any():
            tot += sel.sum() / len(c) * abs(c[sel].mean() - y[sel].mean())
    return float(tot)


def bootstrap_interval(conf: list[float], correct: list[bool], n_boot: int = 1000,
                       seed: int = 0) -> dict[str, list[float]]:
    """How far ~170 models pin the figures down.

    ``lomo_top1``: 95% percentile interval of top-1 accuracy over models resampled with
    replacement. ``lomo_ece_if_calibrated``: the ECE a perfectly calibrated classifier with
    these same confidences would show on this many models (outcomes drawn as
    Bernoulli(confidence)); median and 95th percentile. A measured ECE inside that range is
    what sampling alone produces. (A bootstrap of ECE itself is biased upward, so it is not
    reported.)"""
    if not conf:
        return {}
    rng = np.random.default_rng(seed)
    c = np.asarray(conf)
    y = np.asarray(correct, dtype=bool)
    acc, null = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(c), len(c))
        acc.append(float(y[i].mean()))
        null.append(ece(c.tolist(), (rng.random(len(c)) < c).tolist()))
    r = lambda v, q: round(float(np.percentile(v, q)), 4)  # noqa: E731
    return {"lomo_top1": [r(acc, 2.5), r(acc, 97.5)], "lomo_ece_if_calibrated": [r(null, 50), r(null, 95)]}


def lomo_scores(lomo: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1, ECE and log loss of LOMO predictions (rows of known creators, all probes)."""
    return {"lomo_top1": mean_or_none([p["top"][0] == p["creator"] for p in lomo]),
            "lomo_ece": ece([p["p_top"] for p in lomo], [p["top"][0] == p["creator"] for p in lomo]),
            # log loss of the true creator: a proper score (accuracy and calibration at once) with
            # far less sampling noise than the binned ECE; lower is better
            "lomo_log_loss": _log_loss([p.get("p_true") for p in lomo])}


def unknown_verdict(p: dict[str, Any], unknown: float = REJECT_THRESHOLD, name: float = NAME_THRESHOLD) -> bool:
    """Whether an out-of-fold prediction's verdict is ``unknown``, by the rule ``decide`` applies:
    P(unknown) at or above ``unknown``, or a stated confidence under ``name`` (``p["stated"]``,
    set by ``verdicts.fit_verdicts`` once the verdict map is fitted; until then the named
    confidence), at the shipped thresholds unless given."""
    c = p.get("stated")
    if c is None:
        c = named_confidence(p["p_top"], p["p_unknown"], UNKNOWN_PRIOR)
    return p["p_unknown"] >= unknown or c < name


def figures(preds: list[dict[str, Any]], known: dict[str, bool],
            greeting_only: set[str] | None = None) -> dict[str, Any]:
    lomo = [p for p in preds if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])]
    loco = [p for p in preds if p["mode"] == "loco" and p["subset"] == "all"]
    rej = lambda p: unknown_verdict(p)  # noqa: E731
    scores = lomo_scores(lomo)
    out: dict[str, Any] = {
        "lomo_models": len(lomo),
        "lomo_top1": scores["lomo_top1"],
        "lomo_top3": mean_or_none([p["creator"] in p["top"] for p in lomo]),
        "lomo_reported_accuracy": mean_or_none([(not rej(p)) and p["top"][0] == p["creator"] for p in lomo]),
        "lomo_unknown_rate": mean_or_none([rej(p) for p in lomo]),
        "lomo_ece": scores["lomo_ece"],
        "lomo_ece_reported": ece([p["p_top"] for p in lomo if not rej(p)],
                                 [p["top"][0] == p["creator"] for p in lomo if not rej(p)]),
        "lomo_log_loss": scores["lomo_log_loss"],
        "loco_models": len(loco),
        "loco_unknown_rate": mean_or_none([rej(p) for p in loco]),
        "interval95": bootstrap_interval([p["p_top"] for p in lomo], [p["top"][0] == p["creator"] for p in lomo]),
    }
    sweep = []
    for t in (0.4, 0.45, 0.5, 0.525, 0.55, 0.575, 0.6, 0.7):
        sweep.append({"threshold": t,
                      "lomo_reported_accuracy": mean_or_none([not unknown_verdict(p, unknown=t) and p["top"][0] == p["creator"]
                                                              for p in lomo]),
                      "lomo_unknown_rate": mean_or_none([unknown_verdict(p, unknown=t) for p in lomo]),
                      "loco_unknown_rate": mean_or_none([unknown_verdict(p, unknown=t) for p in loco])})
    out["unknown_threshold_sweep"] = sweep
    out["name_threshold_sweep"] = [
        {"threshold": t,
         "lomo_reported_accuracy": mean_or_none([not unknown_verdict(p, name=t) and p["top"][0] == p["creator"]
                                                 for p in lomo]),
         "lomo_named_wrong": mean_or_none([not unknown_verdict(p, name=t) and p["top"][0] != p["creator"] for p in lomo]),
         "loco_unknown_rate": mean_or_none([unknown_verdict(p, name=t) for p in loco])}
        for t in (0.0, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)]
    fam = [p for p in lomo if "p_family" in p]
    if fam:
        right = [p["family"] is not None and p["family"] == p["true_family"] and p["top"][0] == p["creator"] for p in fam]
        cr = [p for p in fam if p["top"][0] == p["creator"]]
        out["family"] = {
            "lomo_models": len(fam),
            "in_training": sum(p["family_known"] for p in fam),
            # both the creator and its family named right; a family absent from training counts as wrong
            "top1": mean_or_none(right),
            "top1_creator_right": mean_or_none([p["family"] == p["true_family"] for p in cr]),
            "top1_family_in_training": mean_or_none([ok for p, ok in zip(fam, right) if p["family_known"]]),
            "ece": ece([p["p_family"] for p in fam], right),
            # what a perfectly calibrated guesser with these confidences would show (sampling error)
            "ece_if_calibrated": bootstrap_interval([p["p_family"] for p in fam], right)["lomo_ece_if_calibrated"],
        }
        # what a user sees: an unknown verdict names no family, so these count named verdicts only
        named = [(p["p_family"], ok) for p, ok in zip(fam, right) if not rej(p)]
        out["family"]["reported_models"] = len(named)
        if named:
            nc, ny = [c for c, _ in named], [ok for _, ok in named]
            out["family"].update({
                "top1_reported": mean_or_none(ny), "ece_reported": ece(nc, ny),
                "ece_reported_if_calibrated": bootstrap_interval(nc, ny)["lomo_ece_if_calibrated"]})
    if greeting_only is not None:
        # diagnostics: models whose only answer is to the greeting "hi" carry almost no signal
        lm = [p for p in lomo if p["model"] not in greeting_only]
        lc = [p for p in loco if p["model"] not in greeting_only]
        out["beyond_greeting"] = {
            "lomo_models": len(lm),
            "lomo_top1": mean_or_none([p["top"][0] == p["creator"] for p in lm]),
            "lomo_reported_accuracy": mean_or_none([(not rej(p)) and p["top"][0] == p["creator"] for p in lm]),
            "loco_models": len(lc),
            "loco_unknown_rate": mean_or_none([rej(p) for p in lc]),
            "greeting_only_lomo_models": len(lomo) - len(lm),
            "greeting_only_lomo_top1": mean_or_none([p["top"][0] == p["creator"] for p in lomo
                                              if p["model"] in greeting_only]),
        }
    per_source = {}
    for s in sorted({p["subset"] for p in preds if p["subset"].startswith("src:")}):
        rows = [p for p in preds if p["mode"] == "lomo" and p["subset"] == s and known.get(p["model"])]
        lrows = [p for p in preds if p["mode"] == "loco" and p["subset"] == s]
        per_source[s[4:]] = {"models": len(rows), "top1": mean_or_none([p["top"][0] == p["creator"] for p in rows]),
                             "top3": mean_or_none([p["creator"] in p["top"] for p in rows]),
                             "loco_unknown_rate": mean_or_none([rej(p) for p in lrows])}
    out["per_source"] = per_source
    per_creator: dict[str, dict[str, Any]] = {}
    for c in sorted({p["creator"] for p in preds}):
        rows = [p for p in lomo if p["creator"] == c]
        lrows = [p for p in loco if p["creator"] == c]
        per_creator[c] = {"lomo_models": len(rows), "recall": mean_or_none([p["top"][0] == c for p in rows]),
                          "loco_models": len(lrows), "loco_unknown": mean_or_none([rej(p) for p in lrows])}
    out["per_creator"] = per_creator
    conf: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in lomo:
        conf[p["creator"]]["unknown" if rej(p) else p["top"][0]] += 1
    out["confusion"] = {k: dict(v) for k, v in conf.items()}
    return out


def with_provider_figures(aided: list[dict[str, Any]], known: dict[str, bool]) -> dict[str, Any]:
    """The provider-aided row: the headline figures of predictions made with the upstream
    provider a router names."""
    f = figures(aided, known)
    return {k: f[k] for k in ("lomo_models", "lomo_top1", "lomo_ece", "lomo_log_loss", "lomo_reported_accuracy",
                              "loco_unknown_rate")}


PROFILE_MIN_MODELS = 20     # profiles with fewer LOMO models are printed but not the headline
RICH_ANSWERS = 50           # "models with 50 or more answers to the probes"


def profile_name(subset: str) -> str:
    """An out-of-fold row's evidence profile: every probe the model answered ("all"), a random
    half of them ("half"), or one corpus source's answers ("style:alpaca_eval", "identity",
    "cutoff", "refusal:xstest", ...), as a run whose other probes failed would have."""
    return profile_of_source(subset[4:]) if subset.startswith("src:") else subset


def profile_figures(preds: list[dict[str, Any]], known: dict[str, bool]) -> dict[str, Any]:
    """Per evidence profile, over LOMO predictions of models whose creator is known: models,
    top-1, mean confidence, ECE and the gap (mean confidence minus top-1; positive is
    over-confident); ``worst``: the profile (with PROFILE_MIN_MODELS or more models) whose gap is
    largest in size, the headline calibration figure."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in preds:
        if p["mode"] == "lomo" and known.get(p["model"]):
            by[profile_name(p["subset"])].append(p)
    out: dict[str, Any] = {}
    for name in sorted(by, key=lambda n: (n not in ("all", "half"), n)):
        ps = by[name]
        ok = [p["top"][0] == p["creator"] for p in ps]
        conf = [p["p_top"] for p in ps]
        top1, mc = float(np.mean(ok)), float(np.mean(conf))
        out[name] = {"models": len(ps), "top1": round(top1, 4), "mean_confidence": round(mc, 4),
                     "ece": round(ece(conf, ok), 4), "gap": round(mc - top1, 4),
                     "log_loss": _log_loss([p.get("p_true") for p in ps])}
    big = {k: v for k, v in out.items() if v["models"] >= PROFILE_MIN_MODELS}
    worst = max(big, key=lambda k: abs(big[k]["gap"])) if big else None
    return {"profiles": out, "worst": worst, "worst_gap": big[worst]["gap"] if worst else None}


def anonymous(rows: list[Row]) -> list[Row]:
    """The rows as an anonymous endpoint would give them: without the upstream provider a
    router names (the corpus's greetings carry it; a stealth or relayed endpoint never does)."""
    return [replace(r, provider=None) if r.provider is not None else r for r in rows]


def _log_loss(ps: list[float | None]) -> float | None:
    xs = [p for p in ps if p is not None]
    return round(float(np.mean([-math.log(max(p, 1e-6)) for p in xs])), 4) if xs else None


def mean_or_none(xs: list[bool]) -> float | None:
    return round(float(np.mean(xs)), 4) if xs else None


def evidence_reach(rows: list[Row], preds: list[dict[str, Any]], known: dict[str, bool],
                   unreferenced: set[str]) -> dict[str, Any]:
    """Where the LOMO misses sit, to read the top-1 against what the evidence can reach.

    ``unreferenced``: the models no other model of their maker answered alongside
    (``Trainer.unreferenced``); ``top1_if_referenced_right``: the top-1 if every other model
    were named right and these stayed as they are. ``channel_first``: the share of models for
    which at least one channel (the provider included) scores the true creator strictly above
    every other label; ``per_channel``: per channel, the models it scores and its share right."""
    lomo = [r for r in rows if r.mode == "lomo" and r.subset == "all" and known.get(r.model)]
    right = {p["model"]: p["top"][0] == p["creator"] for p in preds
             if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])}
    if not lomo:
        return {}
    firsts: dict[str, list[bool]] = defaultdict(list)
    any_first = []
    for r in lomo:
        i = r.labels.index(r.creator)
        scores = dict(r.summ)
        if r.provider is not None:
            scores["provider"] = r.provider
        hit = False
        for ch, v in scores.items():
            v = np.asarray(v, dtype=float)
            ok = bool(v[i] > np.delete(v, i).max()) if len(v) > 1 else True
            firsts[ch].append(ok)
            hit = hit or ok
        any_first.append(hit)
    u = [r.model for r in lomo if r.model in unreferenced]
    n = len(lomo)
    return {
        "lomo_models": n,
        "unreferenced_models": len(u),
        "unreferenced_top1": mean_or_none([right[m] for m in u]),
        "referenced_top1": mean_or_none([right[r.model] for r in lomo if r.model not in unreferenced]),
        "top1_if_referenced_right": round((n - len(u) + sum(right[m] for m in u)) / n, 4),
        "channel_first": mean_or_none(any_first),
        "per_channel": {ch: {"models": len(v), "first": mean_or_none(v)} for ch, v in sorted(firsts.items())},
    }


def deal_spread(rows: list[Row], known: dict[str, bool], deals: int) -> dict[str, Any]:
    """How much the LOMO figures move when only the calibrator's alias-group folds are dealt
    differently (``deals`` random deals; the channels' scores stay as they are, and the
    rejector, which does not depend on the deal, is not refitted). On ~170 models a fold deal
    alone moves ECE by a few hundredths, so one deal's ECE is not a figure to tune against.
    Each entry is [min, mean, max] over the deals."""
    lomo = [r for r in rows if r.mode == "lomo" and r.subset == "all" and known.get(r.model)]
    lomo_set = {id(r) for r in lomo}
    got: dict[str, list[float]] = {"lomo_top1": [], "lomo_ece": [], "lomo_log_loss": []}
    for seed in range(1, deals + 1):
        post, _, _ = oof_posteriors(rows, seed)
        f = lomo_scores([prediction(r, post[i]) for i, r in enumerate(rows) if id(r) in lomo_set])
        for key, vals in got.items():
            if f.get(key) is not None:
                vals.append(float(f[key]))
    out: dict[str, Any] = {"deals": deals}
    for key, vals in got.items():
        out[key] = [round(min(vals), 4), round(float(np.mean(vals)), 4), round(max(vals), 4)] if vals else None
    return out
