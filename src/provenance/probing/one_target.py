"""One target: endpoint -> probes -> transcript -> report, and the run stored as it goes.

Three layers, each used on its own:

* ``run_probes`` sends probes to one endpoint and returns the transcript (contract below);
* ``probe_async`` probes one target and returns its report: every probe in the informative
  order (``order.adaptive_order``), or in batches that stop early (``--budget``,
  ``--until-confident``, ``verify``: ``order.send_in_batches``), then
  ``attribute.classify_report_dict``. ``scan`` calls it once per entrant;
* ``run_single`` is ``probe_async`` for one command-line run: it records the run in the
  store (``store.RunStore``) probe by probe and reports progress through a callback (the
  CLI draws it: ``cli/progress.py``).

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
from pathlib import Path
from typing import Any, Callable, Iterable

from ..classifier import Classifier
from ..probes import Probe, ProbeSet
from ..settings import RunSettings, Target
from ..transcript import STATUS_FAILED, ProbeResult, Transcript, now_iso

DEADLINE_REASON = "deadline"
NOT_ANSWERING_REASON = "not sent: endpoint not answering"
ABANDONED_REASON = "abandoned in flight: endpoint not answering"
_GRACE_S = 0.25


def _deadline_result(probe: Probe) -> ProbeResult:
    return ProbeResult(probe_id=probe.id, family=probe.family, status=STATUS_FAILED,
                       error=DEADLINE_REASON, stream=bool(probe.stream))


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
                                          stream=bool(p.stream))
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
    return ProbeResult(probe_id=probe.id, family=probe.family, status=STATUS_FAILED,
                       error=f"{lead}: {why}", stream=bool(probe.stream))


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
            if res.error_kind == "timeout":
                why = f"GET /models answered nothing in {timeout:g} s"
            pacer.check_done(False, why)


async def _ask_alive(endpoint: Any, settings: RunSettings, timeout: float) -> Any:
    """``GET .../models`` with no retries and a short timeout, outside the pacer; None when the
    endpoint has no such URL."""
    url = _models_url(endpoint)
    if url is None:
        return None
    from ..endpoints.http import HttpExecutor
    check = settings.with_(retries=0, request_timeout=timeout, read_timeout=timeout, concurrency=1)
    async with HttpExecutor(check) as ex:
        return await ex.request("GET", url, headers=endpoint.public_headers(),
                                secret_headers=endpoint.auth_headers())


async def _watch(endpoint: Any, pacer: Any, settings: RunSettings, http: Any) -> None:
    """Mark a silent endpoint stalled, and check whether it answers anything at all.

    After ``liveness_after`` seconds with no reply of any kind, a ``GET .../models``
    (any HTTP status counts as alive) with a short timeout: no answer, and the
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
    if res.error_kind == "timeout":
        why = (f"the server accepted connections but answered nothing in {delay + pacer.liveness_timeout():g} s "
               f"(not even GET /models)")
    pacer.declare_dead(why)


def _models_url(endpoint: Any) -> str | None:
    target = getattr(endpoint, "target", None)
    if target is None or not hasattr(endpoint, "public_headers"):
        return None
    base = target.base_url.rstrip("/")
    if target.protocol == "anthropic" and not base.endswith("/v1"):
        base += "/v1"
    return base + "/models"


def run_probes_sync(endpoint: Any, probeset: ProbeSet, *, settings: RunSettings,
                    probes: Iterable[Probe] | None = None,
                    on_result: Callable[[ProbeResult], Any] | None = None,
                    existing: Iterable[ProbeResult] | None = None, pacer: Any = None) -> Transcript:
    return asyncio.run(run_probes(endpoint, probeset, settings=settings, probes=probes,
                                  on_result=on_result, existing=existing, pacer=pacer))


async def probe_async(target: Target, *, probeset: ProbeSet, classifier: Classifier,
                      settings: RunSettings, run_id: str | None = None,
                      on_result: Callable[[ProbeResult], None] | None = None,
                      existing: Iterable[ProbeResult] | None = None,
                      probes: Iterable[Any] | None = None,
                      budget: int | None = None,
                      until_confident: float | None = None,
                      claim: Any = None, until_settled: bool = False, pacer: Any = None) -> dict[str, Any]:
    """Probe one target and return its report (a dict).

    ``on_result`` lets a caller (the run store) persist each probe as it finishes;
    ``existing`` lets a resumed run skip probes it already has.

    With ``budget`` (a number of probes) or ``until_confident`` (a confidence in
    0..1), probes go out in batches of ``order.ADAPTIVE_BATCH`` (at most ``settings.concurrency``) in
    ``order.adaptive_order``; the posterior is updated after each batch and probing
    stops once a creator is matched with that confidence or the budget is spent.
    Probes never sent are recorded as skipped, and the report's
    ``run.stopped_because`` says why probing stopped.

    ``claim``: check the report against this claimed maker (``verify.check_claim``);
    ``until_settled``: probe in batches as above and stop once the claim's verdict is
    settled (``verify.Settler``).
    ``pacer`` (``pacing.Pacer``, one per target; made here when not given) paces
    every batch; a scan passes its own to see when an entrant stalls.
    """
    from ..attribute import classify_report_dict
    from ..endpoints.base import make_endpoint
    from .order import adaptive_order, send_in_batches
    from .pacing import Pacer

    if pacer is None:
        pacer = Pacer(settings)

    settled = None
    if until_settled and claim is not None:
        from ..verify import Settler
        settled = Settler(claim, classifier)
    if budget is None and until_confident is None and settled is None:
        # Send in the informative order too: on a slow server whose deadline cuts the run
        # short, what is lost is the least informative probes, not whichever came last.
        if probes is None:
            probes = adaptive_order(probeset, classifier)
        endpoint = make_endpoint(target, settings)       # run_probes opens and closes it (async with)
        transcript = await run_probes(endpoint, probeset, settings=settings, probes=probes,
                                      on_result=on_result, existing=list(existing or []), pacer=pacer)
    else:
        transcript = await send_in_batches(target, probeset=probeset, classifier=classifier, settings=settings,
                                           probes=probes, on_result=on_result, existing=existing, budget=budget,
                                           until_confident=until_confident, settled=settled, pacer=pacer)
    return classify_report_dict(transcript, classifier, run_id=run_id, claim=claim)


class Interrupted(Exception):
    """Raised by ``run_single`` when the run was interrupted (Ctrl-C): what it saved, where."""

    def __init__(self, run_id: str, answered: int, total: int, stored: bool) -> None:
        super().__init__(f"run {run_id} interrupted: {answered} of {total} probes answered")
        self.run_id, self.answered, self.total, self.stored = run_id, answered, total, stored


def run_single(target: Target, *, probeset: ProbeSet, classifier: Classifier, settings: RunSettings,
               db: Path | None = None, store: bool = True,
               on_progress: Callable[[int, int], None] | None = None,
               budget: int | None = None, until_confident: float | None = None,
               claim: Any = None, until_settled: bool = False, resume: str | None = None,
               on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Probe one target; record the run in the store (unless ``store`` is False); return the report
    (with its claim check when ``claim`` is given, see ``probe_async``).

    ``on_progress(done, total)``: called with ``(done, total)`` before the first probe is sent
    (``done``: the answers a resumed run keeps), then after each probe that finishes (``total``:
    the probes this run may send). ``resume``: the id of a stored run of this target to continue
    (``resume_point``): its answers are kept and only the probes it lacks are sent.
    ``on_warning(line)``: called at once when the first reply names another model than the one
    requested (``model_echo.first_reply_mismatch``).

    Ctrl-C raises ``Interrupted`` (what was saved, and the run id), the run stored as interrupted."""
    run_store = None
    if store:
        from .store import RunStore
        run_store = RunStore.open(db)
    state: dict[str, Any] = {"run_id": None, "answered": 0, "total": 0}
    try:
        return asyncio.run(_run_single(target, probeset=probeset, classifier=classifier, settings=settings,
                                       run_store=run_store, on_progress=on_progress, budget=budget,
                                       until_confident=until_confident, claim=claim,
                                       until_settled=until_settled, resume=resume, on_warning=on_warning,
                                       state=state))
    except KeyboardInterrupt:
        if state["run_id"] is None:
            raise
        raise Interrupted(state["run_id"], state["answered"], state["total"], run_store is not None) from None
    finally:
        if run_store is not None:
            run_store.close()


def resume_point(run_store: Any, run_id: str, target: Target, probeset: ProbeSet) -> tuple[str, list[ProbeResult]]:
    """(run id, the answers to keep) of a stored run that ``target`` may continue with
    ``probeset``; ConfigError when it is complete, of another probe set or another target."""
    from ..errors import ConfigError
    from .store import target_key
    row = run_store.get_run(run_id)
    rid = row["id"]
    if row["status"] == "complete":
        raise ConfigError(f"run {rid} is complete: nothing to resume (`provenance runs show {rid}`)")
    if (row.get("probeset") or {}).get("hash") != probeset.hash:
        ps = row.get("probeset") or {}
        raise ConfigError(f"run {rid} was probed with probe set {ps.get('name')} {ps.get('version')}, not "
                          f"{probeset.name} {probeset.version}: it cannot be continued with this one")
    if target_key(row.get("target") or {}) != target_key(target):
        raise ConfigError(f"run {rid} probed another target ({(row.get('target') or {}).get('base_url')} "
                          f"model {(row.get('target') or {}).get('model')})")
    return rid, [r for r in run_store.load_results(rid) if r.ok]


async def _run_single(target: Target, *, probeset: ProbeSet, classifier: Classifier, settings: RunSettings,
                      run_store: Any, on_progress: Callable[[int, int], None] | None, budget: int | None,
                      until_confident: float | None, claim: Any = None, until_settled: bool = False,
                      resume: str | None = None, on_warning: Callable[[str], None] | None = None,
                      state: dict[str, Any] | None = None) -> dict[str, Any]:
    from ..channels.model_echo import first_reply_mismatch
    from ..report import new_run_id

    state = state if state is not None else {}
    existing: list[ProbeResult] = []
    if resume is not None:
        run_id, existing = resume_point(run_store, resume, target, probeset)
        run_store.register_secrets(run_id, target)
        run_store.reopen_run(run_id)
    else:
        run_id = run_store.start_run(target, probeset) if run_store is not None else new_run_id()
    total = len(probeset.probes) if budget is None else min(budget, len(probeset.probes))
    done = {"n": len(existing), "warned": False}
    state.update(run_id=run_id, answered=len(existing), total=total)
    if on_progress is not None:
        on_progress(done["n"], total)

    def on_result(result: ProbeResult) -> None:
        if run_store is not None:
            run_store.record_result(run_id, result)       # committed per probe
        done["n"] += 1
        if result.ok:
            state["answered"] += 1
        if on_warning is not None and not done["warned"]:
            line = first_reply_mismatch(target.model, result)
            if line:
                done["warned"] = True
                on_warning(line)
        if on_progress is not None:
            on_progress(done["n"], total)

    try:
        report = await probe_async(target, probeset=probeset, classifier=classifier, settings=settings,
                                   run_id=run_id, on_result=on_result, existing=existing, budget=budget,
                                   until_confident=until_confident, claim=claim,
                                   until_settled=until_settled)
    except (asyncio.CancelledError, KeyboardInterrupt):
        if run_store is not None:
            run_store.interrupt_run(run_id, f"interrupted: {state['answered']} of {total} probes answered")
        raise
    except BaseException as exc:
        if run_store is not None:
            from ..text_safety import safe_line
            run_store.fail_run(run_id, safe_line(f"{type(exc).__name__}: {exc}", 300))
        raise
    if run_store is not None:
        run_store.finish_run(run_id, report)
    return report
