"""Claim-check thresholds, chosen on the corpus from leave-one-model-out predictions.

``provenance verify`` asks "is this endpoint consistent with the maker it claims?".
Its behavioural verdict reads the calibrated probability of the claimed creator,
``P(claimed)``, from the classifier's posterior:

* ``inconsistent`` when ``P(claimed) < inconsistent_below``;
* ``consistent`` when ``P(claimed) >= consistent_at``;
* ``inconclusive`` in between.

(A tokenizer the claimed maker never uses is decisive on its own; that is decided at
inference, ``verify.py``: the corpus holds no tokenizer observations, so it cannot be
measured here.)

The thresholds come from the out-of-fold predictions ``train.cross_fit`` makes
(each model scored with its alias group left out of every channel and of the
calibrator), so every genuine model below is "never seen in training":

* ``inconsistent_below`` is the largest value at which at most ``MAX_FALSE_ALARM``
  (1%) of the genuine models (a known maker's unseen model, claimed as its own
  maker) would be called ``inconsistent``;
* ``consistent_at`` is the smallest value at which at most ``MAX_FALSE_CONSISTENT``
  (5%) of the impostors that are hardest to tell apart (each model presented as the
  other maker the classifier finds most like it) would be called ``consistent``,
  and never below ``inconsistent_below``.

``claim_figures`` also reports detection (an impostor, i.e. a model of another maker
presented under the claimed maker's name, called ``inconsistent``) over every
(model, other known maker) pair, per claimed maker and for the hardest claims, how
often each verdict is ``inconclusive``, the false-alarm rate with the threshold
chosen without the model's own creator fold (an honest check of the 1%), and
detection for models of makers the classifier has no label for (LOCO rows).

numpy only; no training dependency.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

MAX_FALSE_ALARM = 0.01
MAX_FALSE_CONSISTENT = 0.05
# Used until a model is (re)trained with these thresholds in its manifest: a genuine model
# with P(claimed) below 0.1% is rare on the corpus, and "consistent" needs a clear match.
DEFAULT_THRESHOLDS = {"inconsistent_below": 0.001, "consistent_at": 0.9, "source": "defaults"}
FOLDS = 5


def _lomo(preds: Iterable[dict[str, Any]], known: dict[str, bool]) -> list[dict[str, Any]]:
    return [p for p in preds if p.get("mode") == "lomo" and p.get("subset") == "all" and known.get(p["model"])
            and isinstance(p.get("p"), dict)]


def lower_threshold(genuine: list[float], max_rate: float = MAX_FALSE_ALARM) -> float:
    """The largest t with share(score < t) <= max_rate over the genuine scores."""
    if not genuine:
        return DEFAULT_THRESHOLDS["inconsistent_below"]
    s = sorted(genuine)
    k = int(math.floor(max_rate * len(s) + 1e-9))       # false alarms allowed
    return float(s[min(k, len(s) - 1)])


def upper_threshold(impostor: list[float], max_rate: float = MAX_FALSE_CONSISTENT) -> float:
    """The smallest t with share(score >= t) <= max_rate over the impostor scores."""
    if not impostor:
        return DEFAULT_THRESHOLDS["consistent_at"]
    s = sorted(impostor, reverse=True)
    k = int(math.floor(max_rate * len(s) + 1e-9))       # impostors allowed at or above t
    if k >= len(s):
        return 0.0
    return float(min(1.0, math.nextafter(s[k], 2.0)))


def verdict(p_claimed: float, th: dict[str, Any]) -> str:
    if p_claimed < th["inconsistent_below"]:
        return "inconsistent"
    if p_claimed >= th["consistent_at"]:
        return "consistent"
    return "inconclusive"


def _rate(xs: list[bool]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def _hardest(p: dict[str, Any]) -> str | None:
    wrong = {c: v for c, v in p["p"].items() if c != p["creator"]}
    return max(wrong, key=lambda c: wrong[c]) if wrong else None


def choose(lomo: list[dict[str, Any]], max_false_alarm: float = MAX_FALSE_ALARM,
           max_false_consistent: float = MAX_FALSE_CONSISTENT) -> dict[str, Any]:
    genuine = [p["p"][p["creator"]] for p in lomo]
    lo = lower_threshold(genuine, max_false_alarm)
    hard = [p["p"][c] for p in lomo for c in [_hardest(p)] if c is not None]
    hi = max(lo, upper_threshold(hard, max_false_consistent))
    return {"inconsistent_below": lo, "consistent_at": hi}


def claim_figures(preds: list[dict[str, Any]], known: dict[str, bool],
                  max_false_alarm: float = MAX_FALSE_ALARM,
                  max_false_consistent: float = MAX_FALSE_CONSISTENT) -> dict[str, Any]:
    """Thresholds and their figures from out-of-fold predictions (``train.cross_fit``: each
    with ``model``, ``creator``, ``mode``, ``subset`` and ``p``, the posterior over labels)."""
    lomo = _lomo(preds, known)
    if not lomo:
        return {}
    th = choose(lomo, max_false_alarm, max_false_consistent)
    makers = sorted({p["creator"] for p in lomo})
    v = lambda x: verdict(x, th)  # noqa: E731
    gen = [(p["creator"], v(p["p"][p["creator"]])) for p in lomo]
    pairs = [(c, v(p["p"].get(c, 0.0))) for p in lomo for c in makers if c != p["creator"]]
    hard = [(c, v(p["p"][c])) for p in lomo for c in [_hardest(p)] if c is not None]

    # the 1% checked out of sample: the threshold chosen without the model's creator fold
    fold = {c: i % FOLDS for i, c in enumerate(makers)}
    cv: list[bool] = []
    for k in range(FOLDS):
        rest = [p for p in lomo if fold[p["creator"]] != k]
        if not rest:
            continue
        t = lower_threshold([p["p"][p["creator"]] for p in rest], max_false_alarm)
        cv += [p["p"][p["creator"]] < t for p in lomo if fold[p["creator"]] == k]

    per: dict[str, dict[str, Any]] = {}
    by_claim: dict[str, list[str]] = defaultdict(list)
    for c, x in pairs:
        by_claim[c].append(x)
    gen_by: dict[str, list[str]] = defaultdict(list)
    for c, x in gen:
        gen_by[c].append(x)
    hard_by: dict[str, list[str]] = defaultdict(list)
    for c, x in hard:
        hard_by[c].append(x)
    for c in makers:
        per[c] = {"genuine_models": len(gen_by[c]),
                  "false_alarms": sum(x == "inconsistent" for x in gen_by[c]),
                  "genuine_consistent": _rate([x == "consistent" for x in gen_by[c]]),
                  "impostors": len(by_claim[c]),
                  "detection": _rate([x == "inconsistent" for x in by_claim[c]]),
                  "hardest_impostors": len(hard_by[c]),
                  "hardest_detection": _rate([x == "inconsistent" for x in hard_by[c]])}

    loco = [p for p in preds if p.get("mode") == "loco" and p.get("subset") == "all" and isinstance(p.get("p"), dict)]
    loco_pairs = [v(x) for p in loco for x in p["p"].values()]
    loco_hard = [v(max(p["p"].values())) for p in loco if p["p"]]

    def share(xs: list[tuple[str, str]] | list[str], what: str) -> float | None:
        return _rate([(x[1] if isinstance(x, tuple) else x) == what for x in xs])

    return {
        "thresholds": {**{k: round(float(x), 6) for k, x in th.items()}, "max_false_alarm": max_false_alarm,
                       "max_false_consistent": max_false_consistent, "source": "leave-one-model-out"},
        "genuine_models": len(gen),
        "false_alarm": share(gen, "inconsistent"),
        "false_alarm_cv": _rate(cv),
        "genuine_consistent": share(gen, "consistent"),
        "genuine_inconclusive": share(gen, "inconclusive"),
        "impostor_pairs": len(pairs),
        "detection": share(pairs, "inconsistent"),
        "impostor_inconclusive": share(pairs, "inconclusive"),
        "impostor_consistent": share(pairs, "consistent"),
        "detection_per_claim_mean": _rate([]) if not per else
        round(sum(d["detection"] or 0.0 for d in per.values()) / len(per), 4),
        "hardest_impostors": len(hard),
        "hardest_detection": share(hard, "inconsistent"),
        "hardest_inconclusive": share(hard, "inconclusive"),
        "hardest_consistent": share(hard, "consistent"),
        "unknown_maker_pairs": len(loco_pairs),
        "unknown_maker_detection": share(loco_pairs, "inconsistent"),
        "unknown_maker_hardest_detection": share(loco_hard, "inconsistent"),
        "per_claim": per,
    }


def thresholds_of(manifest: dict[str, Any] | None) -> dict[str, Any]:
    """The claim thresholds a model artifact carries (written at training), or the documented
    conservative defaults for an artifact trained before they existed."""
    th = ((manifest or {}).get("claims") or {}).get("thresholds") if isinstance(manifest, dict) else None
    if isinstance(th, dict) and all(isinstance(th.get(k), (int, float)) for k in ("inconsistent_below", "consistent_at")):
        return {"inconsistent_below": float(th["inconsistent_below"]), "consistent_at": float(th["consistent_at"]),
                "source": "model manifest"}
    return dict(DEFAULT_THRESHOLDS)
