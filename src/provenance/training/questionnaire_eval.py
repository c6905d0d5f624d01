"""How accurate attribution from a pasted questionnaire is (``provenance eval --questionnaire 5,10,20``).

Leave-one-model-out, as ``eval --budget`` measures it, but each model is scored
from its corpus answers to the questionnaire's N questions only (the askable
probes ranked by information per question, ``questionnaire.question_order``),
without the upstream provider a router names (a chat page shows none). As with
``--budget``, the questions a model is scored on are ranked without its own
alias-group fold (the calibrator's reported deal), so no model chooses its own
questions; the calibrator and rejector are cross-fitted on these rows as usual.

A corpus model answered only the prompts of its sources, so it is scored on the
questions among the N that it answered; models that answered none of them are
left out and counted (``models_without_answers``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

from ..questionnaire import choose_questions
from .corpus import group_key


def questionnaire_orders(n: int, stats: dict[str, Any]) -> Callable[[Any], dict[str, list[str]]]:
    """For ``run_training(order=...)``: given the trainer, rank the questions per fold, narrow
    every model's evaluation answers to its fold's N questions (dropping models with none)
    and return each model's question ids. Fills ``stats``."""
    from .folds import CAL_FOLDS, stratified_group_folds
    from .ordering import rank_probes, single_answer_hits

    def prepare(tr: Any) -> dict[str, list[str]]:
        hits = single_answer_hits(tr)
        model_creator = {m: tr.ds.model_creator[m] for m in tr.eval_by_model}
        folds = stratified_group_folds({group_key(m): c for m, c in model_creator.items()}, CAL_FOLDS)
        lists = []
        for k in range(CAL_FOLDS):
            ranking = rank_probes(tr.ps, {m: h for m, h in hits.items() if folds[group_key(m)] != k},
                                  len(tr.creators))
            lists.append([p.id for p in choose_questions(tr.ps, ranking, n)])
        key_of = {p.id: p.corpus for p in tr.ps.probes if p.corpus}
        kept: dict[str, list[Any]] = {}
        orders: dict[str, list[str]] = {}
        for m, answers in tr.eval_by_model.items():
            ids = lists[folds[group_key(m)]]
            keys = {key_of[i] for i in ids if i in key_of}
            mine = [a for a in answers if a.key in keys]
            if mine:
                kept[m], orders[m] = mine, ids
        stats.update({
            "n": n,
            "models": len(tr.eval_by_model),
            "models_without_answers": len(tr.eval_by_model) - len(kept),
            "mean_answered": round(sum(len(v) for v in kept.values()) / max(1, len(kept)), 2),
            "fold_questions": lists,
        })
        tr.eval_by_model = defaultdict(list, kept)
        return orders

    return prepare


def measure(corpus: Path | str, ns: Iterable[int], extra: Iterable[Path | str] = (),
            probes: Path | str | None = None, log: Callable[[str], None] | None = None,
            use_aligned: bool = True, deals: int = 0) -> list[dict[str, Any]]:
    """One entry per N: its LOMO figures (top-1, top-3, ECE, reported accuracy, ...) and stats."""
    from .train import run_training
    out = []
    for n in ns:
        stats: dict[str, Any] = {}
        if log:
            log(f"questionnaire of {n} questions:")
        _, _, _, figs = run_training(corpus, extra, probes, log=log, budget=n, order=questionnaire_orders(n, stats),
                                     use_provider=False, use_aligned=use_aligned, deals=deals)
        entry = {k: figs.get(k) for k in ("lomo_models", "lomo_top1", "lomo_top3", "lomo_reported_accuracy",
                                          "lomo_unknown_rate", "lomo_ece", "lomo_log_loss", "loco_models",
                                          "loco_unknown_rate", "interval95", "deal_spread", "train_seconds")}
        entry.update(stats)
        out.append(entry)
    return out
