"""Runs a probe set against one endpoint: concurrent (bounded), deadline per target.

CONTRACT:

    async def run_probes(endpoint, probeset, *, settings, probes=None,
                         on_result=None, existing=None) -> Transcript

* ``endpoint``: an ``endpoints.base.Endpoint`` (see there), or a ``Target`` (an
  endpoint for its protocol is made here). The runner opens it (``async with``)
  for the duration of the call.
* ``probes``: the subset of ``probeset.probes`` to run (default all), in order.
* ``on_result(result: ProbeResult)``: called (sync, from the runner's own
  coroutine) once per newly finished probe, as soon as it finishes -- the run
  store commits it right there. An exception raised by ``on_result`` cancels
  the run and propagates (it is not an endpoint fault).
* ``existing``: ProbeResults already recorded (resume): those probes are not sent
  again (whatever their status); those among ``probes`` appear in the transcript
  as given, and ``on_result`` is not called for them. Pass only the ok ones to
  retry failures.
* Concurrency bounded by ``settings.concurrency``; the whole call finishes within
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
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from .probes import Probe, ProbeSet
from .settings import RunSettings, Target
from .transcript import STATUS_FAILED, ProbeResult, Transcript

DEADLINE_REASON = "deadline"
_GRACE_S = 0.25


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _deadline_result(probe: Probe) -> ProbeResult:
    return ProbeResult(probe_id=probe.id, family=probe.family, status=STATUS_FAILED,
                       error=DEADLINE_REASON, stream=bool(probe.stream))


async def run_probes(endpoint: Any, probeset: ProbeSet, *, settings: RunSettings,
                     probes: Iterable[Probe] | None = None,
                     on_result: Callable[[ProbeResult], Any] | None = None,
                     existing: Iterable[ProbeResult] | None = None) -> Transcript:
    if isinstance(endpoint, Target):
        from .endpoints.base import make_endpoint
        endpoint = make_endpoint(endpoint, settings)
    todo = list(probes) if probes is not None else list(probeset.probes)
    done: dict[str, ProbeResult] = {}
    for r in existing or ():
        done[r.probe_id] = r
    transcript = Transcript(target=endpoint.target.public(), probeset=probeset.info(),
                            started_at=utc_now_iso())
    loop = asyncio.get_running_loop()
    deadline_at = loop.time() + max(0.0, settings.deadline)
    sem = asyncio.Semaphore(max(1, settings.concurrency))

    async def one(p: Probe) -> ProbeResult:
        async with sem:
            if loop.time() >= deadline_at:
                return _deadline_result(p)
            return await endpoint.run_probe(p, deadline_at=deadline_at)

    send = [p for p in todo if p.id not in done]
    tasks: dict[asyncio.Task, Probe] = {}
    async with endpoint:
        for p in send:
            tasks[asyncio.ensure_future(one(p))] = p
        pending: set[asyncio.Task] = set(tasks)
        try:
            while pending:
                left = deadline_at + _GRACE_S - loop.time()
                if left <= 0:
                    break
                finished, pending = await asyncio.wait(pending, timeout=left,
                                                       return_when=asyncio.FIRST_COMPLETED)
                for t in finished:
                    p = tasks[t]
                    exc = t.exception()
                    if exc is not None:
                        res = ProbeResult(probe_id=p.id, family=p.family, status=STATUS_FAILED,
                                          error=f"internal error: {type(exc).__name__}",
                                          stream=bool(p.stream))
                    else:
                        res = t.result()
                    done[p.id] = res
                    if on_result is not None:
                        on_result(res)
        finally:
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        for t in pending:
            p = tasks[t]
            res = _deadline_result(p)
            done[p.id] = res
            if on_result is not None:
                on_result(res)
    order = [p.id for p in todo]
    transcript.results = [done[i] for i in order if i in done]
    transcript.finished_at = utc_now_iso()
    return transcript


def run_probes_sync(endpoint: Any, probeset: ProbeSet, *, settings: RunSettings,
                    probes: Iterable[Probe] | None = None,
                    on_result: Callable[[ProbeResult], Any] | None = None,
                    existing: Iterable[ProbeResult] | None = None) -> Transcript:
    return asyncio.run(run_probes(endpoint, probeset, settings=settings, probes=probes,
                                  on_result=on_result, existing=existing))
