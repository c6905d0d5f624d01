"""Glue for one target: endpoint -> runner -> transcript -> classifier -> report.

Used by ``probe``, ``scan`` and ``classify``. The CLI renders; this module only
computes. ``on_result`` lets a caller (the run store) persist each probe as it
finishes; ``existing`` lets a resumed run skip probes it already has.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .classifier.base import UNKNOWN, Attribution, Classifier
from .probes import ProbeSet
from .settings import RunSettings, Target
from .transcript import ProbeResult, Transcript


def finalize(transcript: Transcript, classifier: Classifier) -> Attribution:
    """Classify a transcript, adding coverage notes; 'failed' when no probe (beyond the
    deliberately invalid API-surface request) succeeded."""
    counts = transcript.counts()
    # The API-surface probe is *meant* to be refused (its error reply is the observation), so it
    # alone does not make an endpoint usable: a server answering 401 to everything is unusable.
    if not any(r.ok and r.family != "api" for r in transcript.results):
        pacing = transcript.pacing or {}
        if pacing.get("not_answering"):
            lead = f"endpoint not answering: {pacing['not_answering']}"
        else:
            from .lost import loss_reason
            reasons = sorted({loss_reason(r.error) for r in transcript.results
                              if r.family != "api" and r.status == "failed"}
                             or {loss_reason(r.error) for r in transcript.results if r.status == "failed"})[:3]
            lead = f"no probe succeeded ({counts['failed']} failed: {'; '.join(reasons)})"
        return Attribution(creator=UNKNOWN, confidence=0.0, status="failed",
                           reliability=[lead] + [n for n in pacing_notes(transcript) if "not answering" not in n])
    attribution = classifier.classify(transcript)
    from .lost import lost_notes
    notes = lost_notes(transcript) + pacing_notes(transcript)
    if counts["skipped"]:
        notes.append(f"{counts['skipped']} of {counts['total']} probes not run ({transcript.stopped_because or 'skipped'})")
    attribution.reliability = notes + [n for n in attribution.reliability if n not in notes]
    _headline_and_echo(transcript, attribution)
    return attribution


def pacing_notes(transcript: Transcript) -> list[str]:
    """Notes on how the run was paced that a reader of the verdict needs."""
    p = transcript.pacing or {}
    out = [n for n in p.get("notes") or [] if isinstance(n, str)]
    if p.get("resent"):
        out.append(f"{p['resent']} probes lost to overload were sent again")
    if p.get("cuts") and p.get("final_concurrency") is not None:
        out.append(f"the endpoint was overloaded: concurrency lowered to {p['final_concurrency']} "
                   f"(from a peak of {p.get('peak_concurrency')})")
    return out


def _headline_and_echo(transcript: Transcript, attribution: Attribution) -> None:
    """The best guess the tokenizer allows (classifier/headline.py) and the requested vs
    echoed model name (channels/model_echo.py): a mismatch is a reliability note and evidence."""
    from .classifier.base import Evidence
    from .classifier.headline import best_guess
    from .channels.model_echo import mismatch_note, model_echo

    cands = [{"creator": c.creator, "probability": c.probability} if hasattr(c, "creator") else dict(c)
             for c in attribution.candidates]
    attribution.best_guess = best_guess(transcript, cands) if cands else None
    echo = model_echo(transcript)
    attribution.model_echo = echo
    note = mismatch_note(echo)
    if note:
        if note not in attribution.reliability:
            attribution.reliability.append(note)
        probes = [r.probe_id for r in transcript.results
                  if r.status == "ok" and r.response_model and r.response_model != echo["requested"]][:8]
        attribution.evidence.insert(min(1, len(attribution.evidence)),
                                    Evidence(text="model name echo: " + note, probes=probes, channel="api"))


def classify_report_dict(transcript: Transcript, classifier: Classifier, run_id: str | None = None,
                         claim: Any = None) -> dict[str, Any]:
    """The report; with ``claim`` (a ``claim.Claim``) it also carries the claim check (``verify.py``)."""
    from .report import build_report
    report = build_report(transcript, finalize(transcript, classifier), classifier.info(), run_id=run_id)
    if claim is not None:
        from .verify import check_claim
        report["claim"] = check_claim(claim, report, classifier, transcript=transcript)
    return report


def adaptive_order(probeset: ProbeSet, classifier: Classifier) -> list[Any]:
    """Probes in the order adaptive runs send them.

    Behavioural probes follow the classifier's ``probe_order`` (information per
    token measured on the reference corpus, stored in the artifact); probes it
    does not rank keep their probe-set order after the ranked ones. The
    content-independent probes (tokenizer counts, echoes, API surface) cost a
    handful of prompt tokens and one completion token each but cannot be ranked
    on the corpus; the tokenizer baseline goes first (every count needs it) and
    the others are interleaved one-for-one with the behavioural ones, so a small
    budget still asks both kinds of question.
    """
    ranked = [p.get("id") if isinstance(p, dict) else p
              for p in (getattr(classifier, "manifest", None) or {}).get("probe_order", [])]
    rank = {pid: i for i, pid in enumerate(ranked)}
    behavioural = sorted((p for p in probeset.probes if p.behavioural), key=lambda p: rank.get(p.id, len(rank)))
    cheap = [p for p in probeset.probes if not p.behavioural]
    cheap.sort(key=lambda p: p.mode != "baseline")            # stable: baseline first, rest in set order
    order: list[Any] = cheap[:1] if cheap and cheap[0].mode == "baseline" else []
    rest = cheap[len(order):]
    for i in range(max(len(behavioural), len(rest))):
        if i < len(behavioural):
            order.append(behavioural[i])
        if i < len(rest):
            order.append(rest[i])
    return order


# probes per batch of an adaptive run (--budget, --until-confident, verify): the posterior is
# re-read after each batch, so a batch as large as the concurrency cap (every probe at once by
# default) would never stop early
ADAPTIVE_BATCH = 16


async def probe_async(target: Target, *, probeset: ProbeSet, classifier: Classifier,
                      settings: RunSettings, run_id: str | None = None,
                      on_result: Callable[[ProbeResult], None] | None = None,
                      existing: Iterable[ProbeResult] | None = None,
                      probes: Iterable[Any] | None = None,
                      budget: int | None = None,
                      until_confident: float | None = None,
                      claim: Any = None, until_settled: bool = False, pacer: Any = None) -> dict[str, Any]:
    """Probe one target and return its report (a dict).

    With ``budget`` (a number of probes) or ``until_confident`` (a confidence in
    0..1), probes go out in batches of ``ADAPTIVE_BATCH`` (at most ``settings.concurrency``) in
    ``adaptive_order``; the posterior is updated after each batch and probing
    stops once a creator is matched with that confidence or the budget is spent.
    Probes never sent are recorded as skipped, and the report's
    ``run.stopped_because`` says why probing stopped.

    ``claim``: check the report against this claimed maker (``verify.check_claim``);
    ``until_settled``: probe in batches as above and stop once the claim's verdict is
    settled (``verify.Settler``).
    ``pacer`` (``pacing.Pacer``, one per target; made here when not given) paces
    every batch; a scan passes its own to see when an entrant stalls.
    """
    from .endpoints.base import make_endpoint
    from .pacing import Pacer
    from .runner import run_probes

    if pacer is None:
        pacer = Pacer(settings)

    settled = None
    if until_settled and claim is not None:
        from .verify import Settler
        settled = Settler(claim, classifier)
    if budget is None and until_confident is None and settled is None:
        # Send in the informative order too: on a slow server whose deadline cuts the run
        # short, what is lost is the least informative probes, not whichever came last.
        if probes is None:
            probes = adaptive_order(probeset, classifier)
        endpoint = make_endpoint(target, settings)       # run_probes opens and closes it (async with)
        transcript = await run_probes(endpoint, probeset, settings=settings, probes=probes,
                                      on_result=on_result, existing=list(existing or []), pacer=pacer)
        return classify_report_dict(transcript, classifier, run_id=run_id, claim=claim)

    import time

    order = list(probes) if probes is not None else adaptive_order(probeset, classifier)
    limit = len(order) if budget is None else max(0, min(budget, len(order)))
    have = {r.probe_id: r for r in (existing or [])}
    results: dict[str, ProbeResult] = {}
    started = time.monotonic()
    transcript: Transcript | None = None
    first_started: str | None = None
    reason = "all probes sent"
    sent = 0
    i = 0
    while i < len(order):
        if sent >= limit:
            reason = f"budget of {limit} probes spent"
            break
        remaining = settings.deadline - (time.monotonic() - started)
        if remaining <= 0:
            reason = "deadline"
            break
        batch = []
        while i < len(order) and len(batch) < min(settings.concurrency, ADAPTIVE_BATCH) and sent + len(batch) < limit:
            batch.append(order[i])
            i += 1
        endpoint = make_endpoint(target, settings)
        part = await run_probes(endpoint, probeset, settings=settings.with_(deadline=remaining), probes=batch,
                                on_result=on_result, existing=[have[p.id] for p in batch if p.id in have],
                                pacer=pacer)
        sent += sum(1 for p in batch if p.id not in have)
        for r in part.results:
            results[r.probe_id] = r
        transcript = part
        first_started = first_started or part.started_at
        transcript.started_at = first_started
        transcript.results = [results[p.id] for p in order if p.id in results]
        if pacer.dead:
            reason = f"endpoint not answering: {pacer.dead}"
            break
        if until_confident is not None:
            attribution = classifier.classify(transcript)
            if attribution.status == "match" and attribution.confidence >= until_confident:
                reason = f"confident: {attribution.creator} at {attribution.confidence:.2f} >= {until_confident:.2f}"
                break
        if settled is not None and sent < limit and i < len(order):
            why = settled(transcript, classifier.classify(transcript))
            if why:
                reason = why
                break
    else:
        reason = "all probes sent"
    if transcript is None:
        transcript = Transcript(target=target.public(), probeset=probeset.info())
    transcript.results = [results.get(p.id) or ProbeResult(probe_id=p.id, family=p.family, status="skipped",
                                                          error="not sent: " + reason)
                          for p in order]
    transcript.stopped_because = reason
    return classify_report_dict(transcript, classifier, run_id=run_id, claim=claim)
