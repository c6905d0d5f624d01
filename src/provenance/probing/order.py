"""Which probes go first, and probing in batches that stop early.

``adaptive_order`` is the informative order every run sends its probes in (the most
informative per token first, as measured on the reference corpus), so that a deadline,
a ``--budget`` or an early stop loses the least informative ones.

``send_in_batches`` sends them ``ADAPTIVE_BATCH`` at a time (``--budget``,
``--until-confident``, ``verify``), re-reading the posterior after each batch, and
stops once the budget is spent, a creator is matched with the confidence asked for,
or the claim's verdict is settled; probes never sent are recorded as skipped and the
transcript's ``stopped_because`` says why.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..classifier import Classifier
from ..probes import ProbeSet
from ..settings import RunSettings, Target
from ..transcript import ProbeResult, Transcript
from .one_target import run_probes


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


async def send_in_batches(target: Target, *, probeset: ProbeSet, classifier: Classifier,
                          settings: RunSettings, pacer: Any,
                          probes: Iterable[Any] | None = None,
                          on_result: Callable[[ProbeResult], None] | None = None,
                          existing: Iterable[ProbeResult] | None = None,
                          budget: int | None = None, until_confident: float | None = None,
                          settled: Callable[[Transcript, Any], str | None] | None = None) -> Transcript:
    """Probe ``target`` in batches (in ``probes``' order, default ``adaptive_order``) until one
    of the stopping rules says stop; the transcript covers every probe of the order, the
    unsent ones skipped (``not sent: <why>``), and ``stopped_because`` says why.

    ``settled(transcript, attribution)``: a reason to stop (the claim's verdict is settled,
    ``verify.Settler``) or None, asked after each batch while probes are left.
    """
    import time

    from ..endpoints.base import make_endpoint

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
    return transcript
