"""Training and honest evaluation of the creator classifier (numpy + scipy; scikit-learn for
the lexical channel), the whole run: ``run_training`` reads the corpus, builds the
``Trainer`` (``trainer.py``), scores every model out of fold, cross-fits the stages
(``folds.py``, ``fitting.py``) and computes the figures (``figures.py``); ``export``
(``export.py``) writes the artifact. The protocol is documented in docs/classifier.md."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..probes import load_probeset
from .corpus import load_events, load_records
from .dataset import featurise
from .figures import (
    RICH_ANSWERS,
    anonymous,
    deal_spread,
    evidence_reach,
    figures,
    mean_or_none,
    profile_figures,
    with_provider_figures,
)
from .folds import cross_fit
from .ordering import nested_orders
from .trainer import Trainer, log_to, probe_keys
from .verdicts import verdict_figures

if TYPE_CHECKING:
    from .trainer import Row

def run_training(corpus: Path | str, extra: Iterable[Path | str] = (), probes: Path | str | None = None,
                 log: Callable[[str], None] | None = None, budget: int | None = None,
                 order: list[str] | None = None, use_provider: bool = True,
                 use_aligned: bool = True, deals: int = 0) -> tuple[Trainer, list[Row], list[dict[str, Any]], dict[str, Any]]:
    """Featurise, fit and cross-fit on the corpus: (trainer, out-of-fold rows, predictions, figures).

    ``budget``: each model uses at most that many probes, in ``order`` (probe ids) when
    given, else in an order ranked without the model's alias-group fold (``nested_orders``)."""
    t0 = time.time()
    ps = load_probeset(probes)
    records = load_records(corpus, extra)
    events = load_events(corpus)
    keys = probe_keys(ps)
    budgets = {k: p.max_tokens for k, p in keys.items()}
    log_to(f"read {len(records)} records in {time.time() - t0:.1f}s", log)
    ds = featurise(records, events, budgets)
    log_to(f"featurised in {time.time() - t0:.1f}s", log)
    tr = Trainer(ds, ps, log, use_aligned=use_aligned)
    providers: dict[str, list[str]] = defaultdict(list)
    for r in records:
        prov = (r.extra or {}).get("provider")
        if isinstance(prov, str) and prov.strip():
            providers[r.model].append(prov)
    # the corpus's only API-surface observation; --without-api measures the tool without it
    tr.model_providers = dict(providers) if use_provider else {}
    tr.fit_lexical()
    if callable(order):     # questionnaire_eval.questionnaire_orders: may narrow tr.eval_by_model
        order = order(tr)
    if budget is not None and order is None:
        log_to("ranking the probes without each alias-group fold (--budget)", log)
        rows = tr.rows(budget, nested_orders(tr))
    else:
        rows = tr.rows(budget, order)
    # the headline: what an anonymous endpoint gives (no upstream provider named by a router)
    preds = cross_fit(anonymous(rows), tr.creators, tr.families, tr.family_creator)
    known = {m: tr.known(m) for m in tr.eval_by_model}
    greeting_only = tr.greeting_only()
    figs = figures(preds, known, greeting_only)
    figs.update(profile_figures(preds, known))
    figs["verdicts"] = verdict_figures(preds, known)
    rich = [p for p in preds if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])
            and p["n"] >= RICH_ANSWERS]
    figs["rich"] = {"min_answers": RICH_ANSWERS, "lomo_models": len(rich),
                    "lomo_top1": mean_or_none([p["top"][0] == p["creator"] for p in rich])}
    if any(r.provider is not None for r in rows):
        tr.aided_preds = cross_fit(rows, tr.creators)
        figs["with_provider"] = with_provider_figures(tr.aided_preds, known)
    figs["reach"] = evidence_reach(rows, preds, known, tr.unreferenced())
    from ..classifier.claims import claim_figures  # claim-check thresholds and their figures (verify)
    figs["claims"] = claim_figures(preds, known)
    if deals:
        log_to(f"re-dealing the calibrator's folds {deals} times", log)
        figs["deal_spread"] = deal_spread(anonymous(rows), known, deals)
    figs["train_seconds"] = round(time.time() - t0, 1)
    return tr, rows, preds, figs
