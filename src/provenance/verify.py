"""Is an endpoint consistent with the maker it claims? The claim check at inference.

``check_claim(claim, attribution, transcript, classifier)`` reads a run's attribution
(``Attribution.to_dict()``) and its transcript and returns the report's ``claim`` object:

* **decisive, the tokenizer**: when the endpoint's billed prompt-token counts
  match a tokenizer family with confidence >= ``VETO_CONFIDENCE`` (channels/tokenizer.py) and
  the claimed maker's models never use that family (its tokenizer
  log-likelihood ``VETO_NATS`` or more below the best, as in the
  classifier's own tokenizer veto), the verdict is ``inconsistent`` whatever
  the answers say: no system prompt changes a tokenizer.
* **graded, everything else**: the calibrated probability of the claimed
  creator, ``P(claimed)``, from the classifier's posterior (every behavioural
  channel, the tokenizer and API channels and the upstream provider combined),
  against thresholds chosen on the corpus from leave-one-model-out predictions
  (``classifier/claims.py``; stored in the model manifest by ``provenance
  train``, documented defaults for an older model): below
  ``inconsistent_below`` -> ``inconsistent``, at or above ``consistent_at`` ->
  ``consistent``, else ``inconclusive``.

A claimed maker the classifier has no label for can only be contradicted by the
tokenizer; otherwise its verdict is ``inconclusive``.

The evidence that contradicts the claim comes first (for a ``consistent``
verdict, the evidence that supports it), each item marked ``contradicts``,
``supports`` or ``neutral``.
"""

from __future__ import annotations

from typing import Any, Mapping

from .claim import Claim

VERDICTS = ("consistent", "inconsistent", "inconclusive")
SETTLE_MIN_BEHAVIOURAL = 16     # early stop: at least this many behavioural answers ...
SETTLE_REPEATS = 2              # ... and the same verdict on this many consecutive checks
EXIT_FAIL_ON = 4                # `verify --fail-on VERDICT` when the verdict fails


def _tokenizer_constants() -> tuple[float, float]:
    from .channels.tokenizer import VETO_CONFIDENCE, VETO_NATS
    return VETO_CONFIDENCE, VETO_NATS


def thresholds_for(classifier: Any) -> dict[str, Any]:
    from .classifier.claims import thresholds_of
    return thresholds_of(getattr(classifier, "manifest", None))


def _maker_tokenizers(creator: str) -> str:
    from .channels.tokenizer import CREATOR_FAMILIES, FAMILY_LABELS, OTHER
    fams = [FAMILY_LABELS.get(f, f) for f, w in CREATOR_FAMILIES.get(creator, {}).items() if f != OTHER and w > 0]
    return ", ".join(fams) if fams else "its own tokenizers (none of the table's)"


def tokenizer_stance(creator: str, transcript: Any) -> tuple[str, dict[str, Any]] | None:
    """('contradicts' | 'decisive' | 'supports' | 'neutral', evidence) from the tokenizer channel,
    or None when it has nothing to say (no usage, too few count probes)."""
    from .channels.tokenizer import FAMILY_LABELS, OPEN_FAMILIES, tokenizer_channel
    tc = tokenizer_channel(transcript)
    if not tc.available:
        return None
    conf_min, nats = _tokenizer_constants()
    summ = tc.summary or {}
    fam = str(summ.get("family") or "unknown")
    label = FAMILY_LABELS.get(fam, "a tokenizer not in the table")
    conf = float(summ.get("confidence") or 0.0)
    ll = dict(tc.loglik)
    best = max(list(ll.values()) + [tc.default])
    mine = ll.get(creator, tc.default)
    tally = (summ.get("tallies") or {}).get(fam) or {}
    n = summ.get("probes_used")
    how = f"exact on {tally.get('exact', '?')}/{n} count probes" if fam != "unknown" else f"over {n} count probes"
    probes = list(summ.get("matched_probes") or [])[:8]
    named = f"the {label} tokenizer" if fam != "unknown" else "a tokenizer not in the table"
    # decisive only for a tokenizer identified by name: counts that match no known family (a relay
    # that rewrites usage, a tokenizer the table lacks) are graded evidence, not proof
    if conf >= conf_min and mine < best - nats and fam != "unknown":
        text = (f"the endpoint bills prompt tokens as {named} does ({how}, posterior {conf:.3f}); "
                f"{creator}'s models use {_maker_tokenizers(creator)}, never this one")
        return "decisive", {"channel": "tokenizer", "stance": "contradicts", "text": text, "probes": probes,
                            "strength": round(best - mine, 3)}
    if mine >= best - 1e-6 and conf >= conf_min and fam != "unknown":
        lineage = (" (an open-weights tokenizer: a fine-tune of another maker's model shares it)"
                   if fam in OPEN_FAMILIES else "")
        text = f"prompt-token counts match the {label} tokenizer ({how}), which {creator} uses{lineage}"
        return "supports", {"channel": "tokenizer", "stance": "supports", "text": text, "probes": probes,
                            "strength": round(conf, 3)}
    if mine < best - 1.0:
        text = (f"prompt-token counts fit {named} better than any {creator} uses "
                f"({how}, posterior {conf:.3f}; not decisive)")
        return "contradicts", {"channel": "tokenizer", "stance": "contradicts", "text": text, "probes": probes,
                               "strength": round(best - mine, 3)}
    return "neutral", {"channel": "tokenizer", "stance": "neutral",
                       "text": f"tokenizer: {named} ({how}, posterior {conf:.3f}) neither rules {creator} in nor out",
                       "probes": probes, "strength": None}


def behavioural_evidence(creator: str, attribution: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The attribution's evidence marked by whether it favours the claimed maker: the creator
    an evidence item names (``Evidence.favours``), else the one its channel's summary names."""
    chans = attribution.get("channels") or {}
    out = []
    for e in attribution.get("evidence") or []:
        if not isinstance(e, Mapping) or e.get("channel") == "tokenizer":
            continue
        fav = e.get("favours")
        if fav is None and isinstance(chans, Mapping):
            info = chans.get(str(e.get("channel") or ""))
            fav = info.get("favours") if isinstance(info, Mapping) else None
        stance = "neutral" if fav is None else ("supports" if fav == creator else "contradicts")
        out.append({"channel": str(e.get("channel") or ""), "stance": stance, "text": str(e.get("text") or ""),
                    "probes": list(e.get("probes") or [])[:8], "strength": e.get("strength")})
    return out


def posterior_of(attribution: Mapping[str, Any]) -> dict[str, float]:
    chans = attribution.get("channels") or {}
    post = chans.get("posterior") if isinstance(chans, Mapping) else None
    if isinstance(post, Mapping) and post:
        return {str(k): float(v) for k, v in post.items() if isinstance(v, (int, float))}
    return {str(c.get("creator")): float(c.get("probability") or 0.0)
            for c in attribution.get("candidates") or [] if isinstance(c, Mapping)}


def _labels(classifier: Any, post: Mapping[str, float]) -> list[str]:
    """The makers the classifier can name (the keyword baseline: those it has names for)."""
    labels = getattr(classifier, "labels", None)
    if not labels and getattr(classifier, "name", None) == "keyword-baseline":
        from .classifier.keyword import NAMES
        labels = list(NAMES)
    return list(labels) if labels else list(post)


def check_claim(claim: Claim, attribution: Mapping[str, Any], transcript: Any, classifier: Any, *,
                tokens: int | None = None) -> dict[str, Any]:
    """The report's ``claim`` object (see the module doc); ``tokens``: what the run cost, recorded
    beside the verdict."""
    a = attribution
    th = thresholds_for(classifier)
    post = posterior_of(a)
    labels = _labels(classifier, post)
    c = claim.creator
    p = post.get(c) if c in labels else None
    if p is None and c in labels and isinstance((a.get("channels") or {}).get("posterior"), Mapping):
        p = 0.0
    pu = (a.get("channels") or {}).get("p_unknown") if isinstance(a.get("channels"), Mapping) else None
    best = max(post, key=lambda k: post[k]) if post else None
    counts = transcript.counts()
    out: dict[str, Any] = {
        **claim.to_dict(), "verdict": "inconclusive", "probability": None if p is None else round(float(p), 6),
        "decided_by": None, "reason": "", "best_guess": best,
        "best_guess_probability": None if best is None else round(post[best], 6),
        "p_unknown": pu, "thresholds": th, "evidence": [],
        "probes_sent": counts["ok"] + counts["failed"],
        "tokens": tokens,
        "stopped_because": transcript.stopped_because,
    }
    if a.get("status") == "failed":
        out["reason"] = "no probe succeeded, so nothing was checked"
        return out
    tok = tokenizer_stance(c, transcript)
    evidence = behavioural_evidence(c, a)
    if tok is not None:
        evidence.insert(0, tok[1])
    if tok is not None and tok[0] == "decisive":
        out.update(verdict="inconsistent", decided_by="tokenizer",
                   reason=f"the tokenizer rules out {c}: {tok[1]['text']}")
    elif p is None and c in labels:
        out["reason"] = (f"this classifier reports no probability for {c} (not among its candidates), so the claim "
                         "could not be graded" if post else
                         "the answers gave the classifier nothing to score, so the claim could not be graded")
    elif p is None:
        out.update(decided_by=None,
                   reason=(f"this classifier was not trained on {c}'s models, so only a tokenizer {c} never uses "
                           "could contradict the claim, and none did"))
    else:
        from .classifier.claims import verdict as graded
        v = graded(float(p), th)
        out.update(verdict=v, decided_by="behaviour")
        guess = f"; best guess {best} ({post[best]:.1%})" if best and best != c else ""
        if v == "inconsistent":
            out["reason"] = f"P({c}) {p:.2%} is below {th['inconsistent_below']:.2%}{guess}"
        elif v == "consistent":
            out["reason"] = f"P({c}) {p:.1%} is at or above {th['consistent_at']:.1%}"
        else:
            out["reason"] = (f"P({c}) {p:.1%} is between {th['inconsistent_below']:.2%} and "
                             f"{th['consistent_at']:.1%}{guess}")
    first = "supports" if out["verdict"] == "consistent" else "contradicts"
    second = "contradicts" if first == "supports" else "supports"
    rank = {first: 0, second: 1, "neutral": 2}
    evidence.sort(key=lambda e: (rank.get(e["stance"], 3), -(e.get("strength") or 0.0)))
    if out["decided_by"] == "tokenizer" and tok is not None:      # the decisive evidence leads
        evidence.remove(tok[1])
        evidence.insert(0, tok[1])
    out["evidence"] = evidence[:10]
    return out


class Settler:
    """The early-stop rule of ``verify``: stop once the tokenizer rules the claim out, or once
    at least ``SETTLE_MIN_BEHAVIOURAL`` behavioural answers are in and the verdict has been
    ``consistent`` on ``SETTLE_REPEATS`` consecutive checks.

    A behavioural ``inconsistent`` verdict never stops probing early: its 1% false-alarm bound
    is measured on full runs, and with 16 probes per model the same thresholds give 1.2%
    (scratch run of ``run_training(budget=16)`` on the corpus), while a ``consistent`` verdict
    wrongly given to an impostor is as rare at 16 probes as with all of them."""

    def __init__(self, claim: Claim, classifier: Any) -> None:
        self.claim = claim
        self.classifier = classifier
        self.history: list[str] = []

    def __call__(self, transcript: Any, attribution: Any) -> str | None:
        a = attribution.to_dict() if hasattr(attribution, "to_dict") else dict(attribution)
        got = check_claim(self.claim, a, transcript, self.classifier)
        if got["decided_by"] == "tokenizer":
            return f"settled: the tokenizer rules out {self.claim.creator}"
        self.history.append(got["verdict"])
        n_behav = int(a.get("probes_used") or 0)
        last = self.history[-SETTLE_REPEATS:]
        if (n_behav >= SETTLE_MIN_BEHAVIOURAL and len(last) == SETTLE_REPEATS
                and all(v == "consistent" for v in last)):
            return f"settled: consistent on {SETTLE_REPEATS} consecutive checks ({n_behav} behavioural answers)"
        return None


def exit_code_for(verdict: str, fail_on: str | None) -> int:
    """4 when ``--fail-on`` says this verdict fails, else 0."""
    if fail_on == "inconsistent" and verdict == "inconsistent":
        return EXIT_FAIL_ON
    if fail_on == "inconclusive" and verdict != "consistent":
        return EXIT_FAIL_ON
    return 0


def claim_of_report(doc: Mapping[str, Any]) -> Claim | None:
    """The claim a stored report was checked against (None when it carries none); a claim
    naming no known maker (a tampered or foreign report) is a ConfigError."""
    c = doc.get("claim") if isinstance(doc, Mapping) else None
    if not isinstance(c, Mapping) or not isinstance(c.get("creator"), str):
        return None
    from .claim import parse_claim
    fam = c.get("family") if isinstance(c.get("family"), str) else None
    got = parse_claim(c["creator"] + (f"/{fam}" if fam else ""), source="the report's claim")
    src = c.get("source") if isinstance(c.get("source"), str) else got.source
    given = c.get("given") if isinstance(c.get("given"), str) else got.given
    return Claim(creator=got.creator, family=got.family, source=src[:40], given=given[:200])
