"""One target: endpoint -> probes -> transcript. Nothing here decides or reports.

* ``run_probes`` sends probes to one endpoint and returns the transcript (contract below);
* ``send`` sends the probes of a run in the order it is given: all at once, or in batches
  that stop early (a ``--budget`` of probes, or a stop rule the run layer builds:
  ``order.send_in_batches``). The run layer (``run/target.py``) chooses the probes, calls
  this, then decides and reports.

CONTRACT of ``run_probes``:

    async def run_probes(endpoint, probeset, *, settings, probes=None,
                         on_result=None, existing=None, pacer=None) -> Transcript

* ``endpoint``: an ``endpoints.base.Endpoint`` (see there), or a ``Target`` (an
  endpoint for its protocol is made here). ``run_probes`` opens it (``async with``)
  for the duration of the call.
* ``probes``: the subset of ``probeset.probes`` to run (default all), in order.
* ``on_result(result: ProbeResult)``: called (sync, from run_probes' own
  coroutine) once per newly finished probe, as soon as it finishes -- the run
  store commits it right there. An exception raised by ``on_result`` cancels
  the run and propagates (it is not an endpoint fault).
* ``existing``: ProbeResults already recorded (resume): those probes are not sent
  again (whatever their status); those among ``probes`` appear in the transcript
  as given, and ``on_result`` is not called for them. Pass only the ok ones to
  retry failures.
* Concurrency adapts to the endpoint (``pacing.Pacer``: starts where the server says,
  ``endpoint.read_capacity()`` asked once per pacer before the first probe when
  ``settings.ask_server``, else at ``settings.start_concurrency`` or the cap; never above
  ``settings.concurrency``); a probe lost to overload (timed out while others were
  answered, or 429/503 after its retries) is sent again, and so is one that timed out on
  a slow endpoint the pacer found still answering; once the pacer declares the endpoint not answering,
  probes in flight are abandoned and the rest are not sent (reason
  "not sent: endpoint not answering ..."). Pass ``pacer`` to share one across
  calls (adaptive batches, scans); ``transcript.pacing`` records what it saw.
* The whole call finishes within
  ``settings.deadline`` seconds (plus a small grace for cleanup): probes still
  pending then are recorded as failed with reason "deadline"; a probe in flight
  when the deadline passes fails with a reason starting "deadline".
* Never raises for endpoint faults: each failed probe is a ProbeResult with
  status "failed" and its reason.
* The transcript: ``target`` = ``Target.public()`` (never a key), ``probeset`` =
  ``probeset.info()``, ``started_at``/``finished_at`` ISO-8601 UTC ("...Z"),
  results in probe order.

    def run_probes_sync(...) -> Transcript   # asyncio.run wrapper, same arguments
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable

from ..probes import Probe, ProbeSet
from ..settings import RunSettings, Target
from ..transcript import STATUS_FAILED, ErrorKind, ProbeResult, Transcript, now_iso

DEADLINE_REASON = "deadline"
NOT_ANSWERING_REASON = "not sent: endpoint not answering"
ABANDONED_REASON = "abandoned in flight: endpoint not answering"
_GRACE_S = 0.25


def _deadline_result(probe: Probe) -> ProbeResult:
    return ProbeResult(probe_id=probe.id, family=probe.family, status=STATUS_FAILED,
                       error=DEADLINE_REASON, error_kind=ErrorKind.DEADLINE, stream=bool(probe.stream))


async def run_probes(endpoint: Any, probeset: ProbeSet, *, settings: RunSettings,
                     probes: Iterable[Probe] | None = None,
                     on_result: Callable[[ProbeResult], Any] | None = None,
                     existing: Iterable[ProbeResult] | None = None,
                     pacer: Any = None) -> Transcript:
    from .pacing import Pacer

    if isinstance(endpoint, Target):
        from ..endpoints.base import make_endpoint
        endpoint = make_endpoint(endpoint, settings)
    todo = list(probes) if probes is not None else list(probeset.probes)
    done: dict[str, ProbeResult] = {}
    for r in existing or ():
        done[r.probe_id] = r
    transcript = Transcript(target=endpoint.target.public(), probeset=probeset.info(),
                            started_at=now_iso())
    loop = asyncio.get_running_loop()
    deadline_at = loop.time() + max(0.0, settings.deadline)
    if pacer is None:
        pacer = Pacer(settings)
    resend_max = max(0, int(getattr(settings, "resend_max", 2)))
    in_flight: set[str] = set()

    async def one(p: Probe) -> ProbeResult:
        sent = 0
        while True:
            await pacer.acquire()
            try:
                if pacer.dead:
                    return _not_sent(p, pacer.dead)
                if loop.time() >= deadline_at:
                    return _deadline_result(p)
                in_flight.add(p.id)
                sent_at = loop.time()
                res = await endpoint.run_probe(p, deadline_at=deadline_at)
            finally:
                in_flight.discard(p.id)
                pacer.release()
            again = pacer.probe_done(res, resendable=(sent < resend_max + pacer.stretches
                                                      and loop.time() < deadline_at), sent_at=sent_at)
            if not again:
                return res
            sent += 1
            pacer.note_resent()

    send = [p for p in todo if p.id not in done]
    tasks: dict[asyncio.Task, Probe] = {}
    async with endpoint:
        http = _executor_of(endpoint)
        if send and not pacer.described and getattr(settings, "ask_server", False):
            await _describe(endpoint, pacer, deadline_at)
        if http is not None:
            http.pacer = pacer
        for p in send:
            tasks[asyncio.ensure_future(one(p))] = p
        pending: set[asyncio.Task] = set(tasks)
        watch = (asyncio.ensure_future(_watch(endpoint, pacer, settings, http))
                 if pending and not pacer.dead else None)
        recheck = (asyncio.ensure_future(_recheck(endpoint, pacer, settings))
                   if pending and not pacer.dead else None)
        dead_wait = asyncio.ensure_future(pacer.dead_event.wait())
        try:
            while pending and not pacer.dead:
                left = deadline_at + _GRACE_S - loop.time()
                if left <= 0:
                    break
                finished, pending = await asyncio.wait(pending | {dead_wait}, timeout=left,
                                                       return_when=asyncio.FIRST_COMPLETED)
                pending.discard(dead_wait)
                finished.discard(dead_wait)
                for t in finished:
                    p = tasks[t]
                    exc = t.exception()
                    if exc is not None:
                        res = ProbeResult(probe_id=p.id, family=p.family, status=STATUS_FAILED,
                                          error=f"internal error: {type(exc).__name__}",
                                          error_kind=ErrorKind.INTERNAL, stream=bool(p.stream))
                    else:
                        res = t.result()
                    done[p.id] = res
                    if on_result is not None:
                        on_result(res)
        finally:
            abandoned = set(in_flight)          # (cancelling empties in_flight)
            for t in [*pending, dead_wait, *([watch] if watch else []), *([recheck] if recheck else [])]:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
            if http is not None and http.pacer is pacer:
                http.pacer = None
        for t in pending:
            p = tasks[t]
            if t.done() and not t.cancelled() and t.exception() is None:
                res = t.result()                # finished just before it could be cancelled
            elif pacer.dead:
                res = _not_sent(p, pacer.dead, started=p.id in abandoned)
            else:
                res = _deadline_result(p)
            done[p.id] = res
            if on_result is not None:
                on_result(res)
    order = [p.id for p in todo]
    transcript.results = [done[i] for i in order if i in done]
    transcript.finished_at = now_iso()
    transcript.pacing = pacer.info()
    return transcript


def _not_sent(probe: Probe, why: str, started: bool = False) -> ProbeResult:
    """A probe given up because the endpoint is not answering: abandoned in flight, or never sent."""
    lead = ABANDONED_REASON if started else NOT_ANSWERING_REASON
    return ProbeResult(probe_id=probe.id, family=probe.family, status=STATUS_FAILED, error=f"{lead}: {why}",
                       error_kind=ErrorKind.ABANDONED if started else ErrorKind.NOT_ANSWERING,
                       stream=bool(probe.stream))


def _executor_of(endpoint: Any) -> Any:
    try:
        return getattr(endpoint, "http", None)
    except RuntimeError:
        return None


async def _describe(endpoint: Any, pacer: Any, deadline_at: float) -> None:
    """What the server says it can take (``endpoints/capacity.py``), handed to the pacer once."""
    reader = getattr(endpoint, "read_capacity", None)
    capacity = None
    if reader is not None:
        left = deadline_at - asyncio.get_running_loop().time()
        try:
            capacity = await asyncio.wait_for(reader(), max(0.0, min(left, 5.0)))
        except (TimeoutError, asyncio.TimeoutError):
            capacity = None
    pacer.server_described(capacity)


async def _recheck(endpoint: Any, pacer: Any, settings: RunSettings) -> None:
    """Slow is not dead: each time a streak of timeouts asks (``pacer.check_wanted``), check that a
    server that answered in this run still answers anything (``GET .../models``, any HTTP status),
    and tell the pacer (``check_done``)."""
    while not pacer.dead:
        await pacer.check_wanted.wait()
        timeout = min(30.0, max(1.0, float(settings.read_timeout)))
        res = await _ask_alive(endpoint, settings, timeout)
        if res is None:
            pacer.check_done(True, "")              # nothing to ask with: assume alive
        elif res.status is not None:
            pacer.check_done(True, f"GET /models: HTTP {res.status}")
        else:
            why = res.error or "no reply"
            if res.error_kind == ErrorKind.TIMEOUT:
                why = f"GET /models answered nothing in {timeout:g} s"
            pacer.check_done(False, why)


async def _ask_alive(endpoint: Any, settings: RunSettings, timeout: float) -> Any:
    """``GET`` of the adapter's liveness URL (``Endpoint.liveness_url``: its models list) with no
    retries and a short timeout, outside the pacer; None when the endpoint has no such URL."""
    liveness = getattr(endpoint, "liveness_url", None)
    url = liveness() if liveness is not None else None
    if url is None:
        return None
    from ..endpoints.http import HttpExecutor
    check = settings.with_(retries=0, request_timeout=timeout, read_timeout=timeout, concurrency=1)
    async with HttpExecutor(check) as ex:
        return await ex.request("GET", url, headers=endpoint.public_headers(),
                                secret_headers=endpoint.auth_headers())


async def _watch(endpoint: Any, pacer: Any, settings: RunSettings, http: Any) -> None:
    """Mark a silent endpoint stalled, and check whether it answers anything at all.

    After ``liveness_after`` seconds with no reply of any kind, a ``GET`` of the adapter's
    liveness URL (``Endpoint.liveness_url``: its models list; any HTTP status counts as
    alive) with a short timeout: no answer, and the
    endpoint is declared not answering (a dead server should not cost the full read
    timeout times the retries)."""
    loop = asyncio.get_running_loop()
    stall_after = min(float(getattr(settings, "liveness_after", 15.0)), float(settings.read_timeout) / 2)
    t0 = loop.time()
    await asyncio.sleep(max(0.0, stall_after))
    if pacer.answered == 0:
        pacer.stalled.set()
    delay = pacer.liveness_delay()
    if delay is None or http is None:
        return
    await asyncio.sleep(max(0.0, t0 + delay - loop.time()))
    if pacer.replied or pacer.dead:
        return
    res = await _ask_alive(endpoint, settings, pacer.liveness_timeout())
    if res is None or pacer.replied or res.status is not None:
        return
    why = res.error or "no reply"
    if res.error_kind == ErrorKind.TIMEOUT:
        why = (f"the server accepted connections but answered nothing in {delay + pacer.liveness_timeout():g} s "
               f"(not even GET /models)")
    pacer.declare_dead(why)


def run_probes_sync(endpoint: Any, probeset: ProbeSet, *, settings: RunSettings,
                    probes: Iterable[Probe] | None = None,
                    on_result: Callable[[ProbeResult], Any] | None = None,
                    existing: Iterable[ProbeResult] | None = None, pacer: Any = None) -> Transcript:
    return asyncio.run(run_probes(endpoint, probeset, settings=settings, probes=probes,
                                  on_result=on_result, existing=existing, pacer=pacer))


async def send(target: Target, probeset: ProbeSet, *, settings: RunSettings, order: list[Probe],
               budget: int | None = None, stop: Callable[[Transcript, bool], str | None] | None = None,
               on_result: Callable[[ProbeResult], Any] | None = None,
               existing: Iterable[ProbeResult] | None = None, pacer: Any = None) -> Transcript:
    """Send a run's probes in ``order`` (the run layer chose it) and return the transcript.

    Without ``budget`` or ``stop`` every probe goes out at once (``run_probes``: in this order,
    so a deadline cuts the least informative); with either, in batches
    (``order.send_in_batches``) until ``budget`` probes are sent or ``stop(transcript,
    more_left)`` gives a reason to stop. ``pacer`` (``pacing.Pacer``, one per target; made
    here when not given) paces every batch; a scan passes its own to see when an entrant stalls.
    """
    from ..endpoints.base import make_endpoint
    from .order import send_in_batches
    from .pacing import Pacer

    if pacer is None:
        pacer = Pacer(settings)
    if budget is None and stop is None:
        endpoint = make_endpoint(target, settings)       # run_probes opens and closes it (async with)
        return await run_probes(endpoint, probeset, settings=settings, probes=order, on_result=on_result,
                                existing=list(existing or []), pacer=pacer)
    return await send_in_batches(target, probeset=probeset, settings=settings, order=order, on_result=on_result,
                                 existing=existing, budget=budget, stop=stop, pacer=pacer)
