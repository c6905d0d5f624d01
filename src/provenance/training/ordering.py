"""Probe ordering: each probe's information per token measured on the corpus (how often
its answer alone names the creator of an unseen model), for adaptive runs and budgets."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from ..probes import ProbeSet
from .corpus import group_key
from .folds import CAL_FOLDS, stratified_group_folds

if TYPE_CHECKING:
    from .trainer import Trainer

PRIOR_ANSWERS = 10       # pseudo-answers at chance accuracy when ranking probes (probe_order)


def single_answer_hits(tr: Trainer) -> dict[str, dict[str, bool]]:
    """Per model of a known creator, per corpus key it answered: does that one answer, scored
    with the model's alias group left out, rank its creator first (channels summed, no
    calibrator)?"""
    creators = tr.creators
    out: dict[str, dict[str, bool]] = {}
    for m, answers in tr.eval_by_model.items():
        if not tr.known(m):
            continue
        ex = frozenset(tr.groups[group_key(m)])
        out[m] = {}
        for a in answers:
            r = tr.summarise(m, {a.key}, creators, ex)
            out[m][a.key] = creators[int(np.argmax(sum(r.summ.values())))] == r.creator
    return out


def rank_probes(ps: ProbeSet, hits: dict[str, dict[str, bool]], n_creators: int) -> list[dict[str, Any]]:
    """Probes ordered by information per token: single-answer accuracy gain over chance
    (over the models in ``hits``) per max_tokens."""
    chance = 1.0 / n_creators
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for per_key in hits.values():
        for key, ok in per_key.items():
            st = stats[key]
            st[0] += 1
            st[1] += int(ok)
    out = []
    for p in ps.probes:
        if not p.behavioural:
            continue
        n, c = stats.get(p.corpus or "", [0, 0])
        acc = c / n if n else (0.6 if p.family == "identity" else 0.0)
        # shrink toward chance: a probe answered by 3 models should not outrank one answered by 80
        shrunk = (c + PRIOR_ANSWERS * chance) / (n + PRIOR_ANSWERS) if n else acc
        gain = max(0.0, shrunk - chance)
        out.append({"id": p.id, "accuracy": round(acc, 4), "answers": n, "max_tokens": p.max_tokens,
                    "info_per_token": round(gain / max(1, p.max_tokens) * 1000, 4)})
    out.sort(key=lambda d: -d["info_per_token"])
    return out


def probe_order(tr: Trainer) -> list[dict[str, Any]]:
    """The shipped order (``probe --budget``, ``--until-confident``): ranked on every model."""
    return rank_probes(tr.ps, single_answer_hits(tr), len(tr.creators))


def fold_orders(ps: ProbeSet, hits: dict[str, dict[str, bool]], model_creator: dict[str, str],
                n_creators: int) -> dict[str, list[str]]:
    """Per model of ``model_creator``, the probe order ranked on the single-answer ``hits`` of
    the other alias-group folds only (the calibrator's reported deal), so that ``eval
    --budget`` does not choose a model's probes with its own answers: an order ranked on
    every model and then evaluated on them is optimistic."""
    folds = stratified_group_folds({group_key(m): c for m, c in model_creator.items()}, CAL_FOLDS)
    orders = [[d["id"] for d in rank_probes(ps, {m: h for m, h in hits.items() if folds[group_key(m)] != k},
                                            n_creators)]
              for k in range(CAL_FOLDS)]
    return {m: orders[folds[group_key(m)]] for m in model_creator}


def nested_orders(tr: Trainer) -> dict[str, list[str]]:
    """``fold_orders`` for every model the trainer evaluates (what ``eval --budget`` uses)."""
    return fold_orders(tr.ps, single_answer_hits(tr), {m: tr.ds.model_creator[m] for m in tr.eval_by_model},
                       len(tr.creators))
