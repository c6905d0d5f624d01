"""Which probes go first, and probing in batches that stop early.

``adaptive_order`` is the informative order every run sends its probes in (the most
informative per token first, a ranking measured on the reference corpus that the run
layer reads from the model), so that a deadline, a ``--budget`` or an early stop loses
the least informative ones.

``send_in_batches`` sends them ``ADAPTIVE_BATCH`` at a time (``--budget``,
``--until-confident``, ``verify``) and stops once the budget is spent or the stop rule
the run layer hands it (``run/target.py: stop_rule``: a creator matched with the
confidence asked for, the claim's verdict settled) gives a reason; probes never sent are
recorded as skipped and the transcript's ``stopped_because`` says why. Nothing here reads
the classifier.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from ..probes import ProbeSet
from ..settings import RunSettings, Target
from ..transcript import ProbeResult, Transcript
from .one_target import run_probes

# A stop rule: (the transcript so far, whether probes are left to send) -> why to stop, or None.
StopRule = Callable[[Transcript, bool], "str | None"]


def adaptive_order(probeset: ProbeSet, ranked: Sequence[Any] = ()) -> list[Any]:
    """Probes in the order adaptive runs send them.

    Behavioural probes follow ``ranked`` (probe ids, or ``{"id": ...}`` entries: the model's
    ``probe_order``, information per token measured on the reference corpus); probes it
    does not rank keep their probe-set order after the ranked ones. The
    content-independent probes (tokenizer counts, echoes, API surface) cost a
    handful of prompt tokens and one completion token each but cannot be ranked
    on the corpus; the tokenizer baseline goes first (every count needs it) and
    the others are interleaved one-for-one with the behavioural ones, so a small
    budget still asks both kinds of question.
    """
    ids = [p.get("id") if isinstance(p, dict) else p for p in ranked]
    rank = {pid: i for i, pid in enumerate(ids)}
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


async def send_in_batches(target: Target, *, probeset: ProbeSet, settings: RunSettings, pacer: Any,
                          order: Sequence[Any],
                          on_result: Callable[[ProbeResult], None] | None = None,
                          existing: Iterable[ProbeResult] | None = None,
                          budget: int | None = None, stop: StopRule | None = None) -> Transcript:
    """Probe ``target`` in batches, in ``order``, until ``budget`` probes are sent or ``stop``
    says stop; the transcript covers every probe of the order, the unsent ones skipped
    (``not sent: <why>``), and ``stopped_because`` says why.

    ``stop(transcript, more_left)``: asked after each batch (``more_left``: probes are left
    and the budget is not spent); a reason to stop, or None.
    """
    import time

    from ..endpoints.base import make_endpoint

    order = list(order)
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
        if stop is not None:
            why = stop(transcript, sent < limit and i < len(order))
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
