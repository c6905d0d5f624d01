"""Export: the fitted tables and stages written as a checked artifact (``classifier/artifact.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..channels import aligned as aligned_mod
from ..channels.identity import CLAIM_LABELS
from ..channels.registry import is_nearest_model, vocab_table
from ..classifier import family_model
from ..classifier.combine import (N_DESIGN, NAME_THRESHOLD, PROFILE_FEATURES, REJECT_FEATURES, SCORE_CHANNELS,
                                  UNKNOWN_PRIOR, temper)
from ..classifier.lineage import OPEN_WEIGHT_MAKERS
from .families import family_of
from .figures import anonymous
from .fitting import (
    MATCH_THRESHOLD,
    REJECT_THRESHOLD,
    fit_calibrator,
    fit_combiner,
    fit_family_calibrator,
    fit_temperature,
    fit_top,
    row_profile,
    temperature_data,
)
from .folds import raw_posteriors
from .nb import NBChannel
from .ordering import probe_order
from .trainer import log_to

if TYPE_CHECKING:
    from .trainer import Row, Trainer



def family_theta(ch: NBChannel, families: list[str]) -> np.ndarray:
    fam_of = [family_of(m) for m in ch.models]
    saved = ch.creators
    try:
        ch.creators = fam_of
        return ch.log_theta(families)
    finally:
        ch.creators = saved


def export(tr: Trainer, rows: list[Row], preds: list[dict[str, Any]], figs: dict[str, Any], out_dir: Path | str,
           log: Callable[[str], None] | None = None, verdict_coef: np.ndarray | None = None) -> Path:
    """Fit the shipped stages and write the artifact (``build`` then ``write``)."""
    arrays, meta = build(tr, rows, preds, figs)
    return write(tr, arrays, meta, out_dir, log=log, verdict_coef=verdict_coef)


def write(tr: Trainer, arrays: dict[str, np.ndarray], meta: dict[str, Any], out_dir: Path | str,
          log: Callable[[str], None] | None = None, verdict_coef: np.ndarray | None = None) -> Path:
    """Write what ``build`` gave as an artifact; ``verdict_coef``: the verdict map
    (``training/verdicts.py``), none when the run had no fine-tunes to fit it on."""
    from ..classifier.artifact import write_artifact
    if verdict_coef is not None:
        arrays = {**arrays, "verdict_calibrator": np.asarray(verdict_coef, dtype=np.float64)}
    path = write_artifact(out_dir, arrays, meta, tr.ps)
    log_to(f"wrote {path}", log)
    return path


def build(tr: Trainer, rows: list[Row], preds: list[dict[str, Any]], figs: dict[str, Any]
          ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every fitted table and stage of the artifact: (arrays, manifest fields). The manifest's
    ``figures`` is ``figs`` itself, so figures added to it before ``write`` are written."""
    labels = tr.creators
    # channel weights, rejector and temperature as an anonymous endpoint meets them; the provider's
    # weight (used only when a router names one) from the calibrator fitted with it
    anon = anonymous(rows)
    w, v = fit_combiner(anon)
    if any(r.provider is not None for r in rows):
        w[N_DESIGN] = fit_calibrator([r for r in rows if r.mode == "lomo"])[N_DESIGN]
    raw = raw_posteriors(anon)[0]
    theta = fit_temperature(temperature_data(anon, raw))
    top = fit_top(anon, {i: temper(p, row_profile(anon[i]), theta) for i, p in raw.items()})
    arrays: dict[str, np.ndarray] = {"calibrator": w.astype(np.float64), "rejector": v.astype(np.float64),
                                     "temperature": theta.astype(np.float64), "top_calibrator": top.astype(np.float64),
                                     "claim_loglik": tr.claim_loglik(labels).astype(np.float32)}
    provider_vocab, provider_logp = tr.provider_table(tuple(labels), frozenset())
    arrays["provider_logp"] = provider_logp.astype(np.float32)
    families = tr.families
    fam_creator = tr.family_creator
    fw, fv = fit_family_calibrator(rows, families, fam_creator)
    arrays["family_calibrator"] = fw.astype(np.float64)
    arrays["family_platt"] = fv.astype(np.float64)
    arrays["family_size"] = tr.family_size(frozenset()).astype(np.float32)
    channel_models: dict[str, list[list[str]]] = {}
    for name, ch in tr.channels.items():
        arrays[f"{name}.vocab"] = ch.vocab.astype(np.int32)
        arrays[f"{name}.weight"] = ch.present(labels).astype(np.float32)
        fams_here = {family_of(m) for m in ch.models}
        arrays[f"{name}.family_weight"] = np.array([1.0 if f in fams_here else 0.0 for f in families], dtype=np.float32)
        if is_nearest_model(name):
            lt, creators, lbg = ch.model_log_theta()
            arrays[f"{name}.model_logtheta"] = lt.astype(np.float16)
            arrays[f"{name}.logbg"] = lbg.astype(np.float32)
            channel_models[name] = [[c, family_of(m)] for c, m in zip(creators, ch.models)]
        else:
            lt = ch.log_theta(labels, with_background=True)
            arrays[f"{name}.logtheta"] = lt[:-1].astype(np.float16)
            arrays[f"{name}.logbg"] = lt[-1].astype(np.float32)
            arrays[f"{name}.family_logtheta"] = family_theta(ch, families).astype(np.float16)
    lexical_classes: dict[str, list[str]] = {}
    for name, lm in tr.fit_lexical_full().items():
        arrays[f"{name}.lex_vocab"] = lm.vocab.astype(np.int32)
        arrays[f"{name}.lex_idf"] = lm.idf.astype(np.float32)
        arrays[f"{name}.lex_coef"] = lm.coef.astype(np.float16)
        arrays[f"{name}.lex_intercept"] = lm.intercept.astype(np.float32)
        lexical_classes[name] = lm.classes
    aligned_meta, aligned_arrays = aligned_mod.to_arrays(tr.aligned)
    arrays.update(aligned_arrays)
    cutoff_kw = {}
    for p in tr.ps.probes:
        if p.family == "cutoff" and p.corpus:
            ev = p.corpus.split(":", 2)[-1]
            cutoff_kw[p.id] = {"keywords": tr.ds.keywords.get(ev, []), "month": tr.ds.event_month.get(ev, "")}
    n_models = {c: len(ms) for c, ms in tr.by_creator.items()}
    meta = {
        "labels": labels,
        "claim_labels": list(CLAIM_LABELS),
        "provider_vocab": provider_vocab,
        "channels": sorted(tr.channels),
        "nn_channels": {name: rows_ for name, rows_ in channel_models.items()},
        "lexical_channels": lexical_classes,
        "aligned": aligned_meta,
        "score_channels": list(SCORE_CHANNELS),
        "reject_features": list(REJECT_FEATURES),
        "profile_features": list(PROFILE_FEATURES),
        "families": families,
        "family_creator": fam_creator,
        "family_channels": list(family_model.FAMILY_CHANNELS),
        "aligned_model_family": {m: family_of(m) for m in tr.aligned.models},
        "creator_models": n_models,
        "cutoff_probes": cutoff_kw,
        "open_weight_makers": sorted(OPEN_WEIGHT_MAKERS),     # the verdict map's fine-tune term
        "thresholds": {"unknown": REJECT_THRESHOLD, "match": MATCH_THRESHOLD, "unknown_prior": UNKNOWN_PRIOR,
                       "name": NAME_THRESHOLD},
        "claims": {"thresholds": (figs.get("claims") or {}).get("thresholds")},   # read by verify (claims.py)
        "probe_order": probe_order(tr),
        "figures": figs,
        "features": {"hash": "crc32 of utf-8 token, low 18 bits", "tokens": "word uni+bigrams, formatting markers, "
                     "claim/refusal/cutoff pseudo-tokens", "vocab": vocab_table()},
    }
    meta["probes"] = {p.id: {"family": p.family, "max_tokens": p.max_tokens,
                             "source": (p.corpus or "").split(":", 1)[0]} for p in tr.ps.probes}
    return arrays, meta
