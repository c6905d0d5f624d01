"""Batch scans, the scheduler: probe many entrants concurrently, recording every probe in
the run store.

``scan_entrants`` runs each entrant through the run layer's step (an ``EntrantRunner``:
``run/scan.py`` builds it around ``run/target.py: probe_async``, which probes, decides and
reports) within a global limit (entrants in flight) and a per-host limit (keyed by
host:port); one entrant's failure never stops the others. Each probe result is committed
to the store as it arrives, so a killed scan resumes where it stopped:

* resume on (default): an entrant whose latest run with this probe-set hash is
  complete is not probed again (its stored report is reused, ``EntrantRunner.reuse``
  re-checks its claim offline); an interrupted one, one whose deadline cut probes
  (partial), or one an internal error broke continues from the probes it lacks
  (those that failed are retried); one that found the endpoint unusable is probed
  afresh;
* resume off: every entrant gets a fresh run.

Each entrant ends as an ``Outcome``: its report, or for an entrant whose pipeline
broke an ``{"type": "error", ...}`` record (``Outcome.record``); ``summarize`` makes
the scan's ``{"type": "summary", ...}`` record from them.
An entrant whose endpoint stalls (nothing answered while its first requests
time out, or timeouts no longer retried) gives its place under both limits to
the next entrant and waits out its own bounded timeout on the side: stalled
entrants cost about one total timeout (``--total-timeout``), not one each.

Nothing here draws: a display follows the scan through ``ScanEvents`` callbacks
and ``on_outcome`` (the CLI's are ``cli/progress.py: ScanProgress`` and
``cli/scan_view.py``, with the JSONL output in ``cli/scan_cmd.py``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol, Sequence
from urllib.parse import urlsplit

from ..errors import StoreError
from .entrants import Entrant

STATE_COMPLETE = "complete"     # probed now, at least one probe succeeded
STATE_REUSED = "reused"         # complete run from an earlier scan (resume)
STATE_UNUSABLE = "unusable"     # probed now, no probe succeeded
STATE_ERROR = "error"           # the pipeline itself broke for this entrant
USABLE = (STATE_COMPLETE, STATE_REUSED)


@dataclass
class Outcome:
    name: str
    target: dict[str, Any]
    state: str
    run_id: str | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    probes_sent: int = 0
    resumed_with: int = 0

    @property
    def attribution(self) -> dict[str, Any]:
        return (self.report or {}).get("attribution") or {}

    @property
    def incomplete(self) -> dict[str, Any] | None:
        """The report's ``run.incomplete`` (the deadline cut probes: answered N of M), else None."""
        inc = ((self.report or {}).get("run") or {}).get("incomplete")
        return inc if isinstance(inc, dict) and self.state in USABLE else None

    def record(self) -> dict[str, Any]:
        """The JSONL line for this entrant: its report, or an error record."""
        if self.report is not None:
            return self.report
        return {"type": "error", "entrant": self.name, "target": self.target, "run_id": self.run_id,
                "error": self.error}


def host_key(base_url: str) -> str:
    p = urlsplit(base_url)
    port = p.port or (443 if p.scheme == "https" else 80)
    return f"{(p.hostname or '').lower()}:{port}"


class EntrantRunner(Protocol):
    """What the scheduler calls for each entrant (the run layer's: ``run/scan.py``)."""

    async def probe(self, entrant: Entrant, *, run_id: str, on_result: Callable[[Any], None],
                    existing: list[Any], pacer: Any) -> dict[str, Any]:
        """Probe the entrant (``existing``: results a resumed run has), decide, return its report."""
        ...

    def reuse(self, entrant: Entrant, report: dict[str, Any]) -> dict[str, Any]:
        """A complete run's stored report, as this scan reports it (its claim checked again)."""
        ...


class ScanEvents:
    """Callbacks a display can implement (all optional, all sync)."""

    def started(self, entrant: Entrant, total: int, have: int) -> None: ...

    def probe_done(self, entrant: Entrant) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...

    def parked(self, entrant: Entrant) -> None:
        """The entrant's endpoint stalls: it no longer counts against the scan's limits."""


async def scan_entrants(entrants: Sequence[Entrant], *, store: Any, probeset: Any, runner: EntrantRunner,
                        settings: Any, concurrency: int = 8, per_host: int = 2, resume: bool = True,
                        scan_id: str | None = None, events: ScanEvents | None = None,
                        on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Probe every entrant through ``runner``; return their outcomes in entrant order.

    Raises only for problems that make continuing pointless (StoreError: nothing
    could be recorded) or on cancellation.
    """
    ev = events or ScanEvents()
    global_sem = asyncio.Semaphore(max(1, concurrency))
    host_sems: dict[str, asyncio.Semaphore] = {}
    total = len(probeset.probes)
    ps_hash = probeset.hash

    def finish(o: Outcome) -> Outcome:
        ev.finished(o)
        if on_outcome is not None:
            on_outcome(o)
        return o

    async def probe_one(e: Entrant) -> Outcome:
        t0 = time.monotonic()
        pub = e.target.public()
        prior = store.find_resumable(e.target, ps_hash) if resume else None
        if prior is not None and prior["status"] == "complete":
            report = runner.reuse(e, store.load_report(prior["id"]))
            return finish(Outcome(e.name, pub, STATE_REUSED, run_id=prior["id"], report=report,
                                  elapsed_s=time.monotonic() - t0))
        from .pacing import Pacer

        sem = host_sems.setdefault(host_key(e.target.base_url), asyncio.Semaphore(max(1, per_host)))
        pacer = Pacer(settings)
        slots = _Slots(sem, global_sem)
        await slots.take()
        parker = asyncio.ensure_future(_park_when_stalled(pacer, slots, e, ev))
        try:
            t0 = time.monotonic()
            existing = []
            if prior is not None:                       # interrupted, cut or broken earlier: continue it
                run_id = prior["id"]
                existing = [r for r in store.load_results(run_id) if r.ok]
                store.reopen_run(run_id)
            else:
                run_id = store.start_run(e.target, probeset, scan_id=scan_id, entrant=e.name)
            sent = {"n": 0, "ok": len(existing)}

            def on_result(r: Any) -> None:
                store.record_result(run_id, r)
                sent["n"] += 1
                sent["ok"] += 1 if r.ok else 0
                ev.probe_done(e)

            ev.started(e, total, len(existing))
            try:
                report = await runner.probe(e, run_id=run_id, on_result=on_result, existing=existing,
                                            pacer=pacer)
                store.finish_run(run_id, report)
            except asyncio.CancelledError:          # Ctrl-C: the same scan again continues it
                store.interrupt_run(run_id, f"interrupted: {sent['ok']} of {total} probes answered")
                raise
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - one entrant's failure never stops the others
                from ..text_safety import safe_line
                msg = safe_line(f"{type(exc).__name__}: {exc}", 300)
                store.fail_run(run_id, msg)
                return finish(Outcome(e.name, pub, STATE_ERROR, run_id=run_id, error=msg,
                                      elapsed_s=time.monotonic() - t0, probes_sent=sent["n"],
                                      resumed_with=len(existing)))
        finally:
            parker.cancel()
            slots.give_back()
        status = (report.get("attribution") or {}).get("status")
        state = STATE_UNUSABLE if status == "failed" else STATE_COMPLETE
        return finish(Outcome(e.name, pub, state, run_id=run_id, report=report, elapsed_s=time.monotonic() - t0,
                              probes_sent=sent["n"], resumed_with=len(existing)))

    tasks = [asyncio.ensure_future(probe_one(e)) for e in entrants]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def claim_summary(outs: Sequence[Outcome]) -> dict[str, int]:
    """How many usable entrants' claims were checked, and with what verdicts."""
    got = {"checked": 0, "consistent": 0, "inconsistent": 0, "inconclusive": 0, "not_checked": 0}
    for o in outs:
        if o.state not in USABLE:
            continue
        c = (o.report or {}).get("claim")
        v = c.get("verdict") if isinstance(c, dict) else None
        if v in ("consistent", "inconsistent", "inconclusive"):
            got["checked"] += 1
            got[v] += 1
        else:
            got["not_checked"] += 1
    return got


class _Slots:
    """An entrant's places under the per-host and global limits, given back at most once."""

    def __init__(self, *sems: asyncio.Semaphore) -> None:
        self.sems = sems
        self.held = False

    async def take(self) -> None:
        taken = []
        try:
            for s in self.sems:
                await s.acquire()
                taken.append(s)
        except BaseException:
            for s in taken:
                s.release()
            raise
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            for s in self.sems:
                s.release()


async def _park_when_stalled(pacer: Any, slots: _Slots, entrant: Entrant, ev: Any) -> None:
    """An entrant whose endpoint stalls gives its places to the next entrant and waits out its
    bounded timeout on the side, so a few stalled endpoints cost one timeout, not one each in turn."""
    await pacer.stalled.wait()
    slots.give_back()
    note = getattr(ev, "parked", None)
    if note is not None:
        note(entrant)


def unusable_why(o: Outcome) -> str:
    """Why an entrant was unusable, in a line (its report's first reliability note)."""
    rel = o.attribution.get("reliability") or []
    return str(rel[0]) if rel else "no probe succeeded"


def why_category(o: Outcome) -> str:
    """A short key for counting unusable entrants by cause."""
    w = unusable_why(o)
    if w.startswith("endpoint not answering"):
        return "could not connect" if "could not connect" in w else "not answering"
    if "(" in w and ":" in w:
        return w.split(":", 1)[1].split(";")[0].strip(" )")[:60]
    return w[:60]


def summarize(outcomes: Iterable[Outcome], scan_id: str | None = None, elapsed_s: float | None = None,
              probeset: dict[str, Any] | None = None) -> dict[str, Any]:
    outs = list(outcomes)
    unusable: dict[str, int] = {}
    for o in outs:
        if o.state == STATE_UNUSABLE:
            k = why_category(o)
            unusable[k] = unusable.get(k, 0) + 1
    states = {s: sum(1 for o in outs if o.state == s)
              for s in (STATE_COMPLETE, STATE_REUSED, STATE_UNUSABLE, STATE_ERROR)}
    creators: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for o in outs:
        if o.state in USABLE:
            a = o.attribution
            creators[str(a.get("creator"))] = creators.get(str(a.get("creator")), 0) + 1
            verdicts[str(a.get("status"))] = verdicts.get(str(a.get("status")), 0) + 1
    return {"type": "summary", "scan_id": scan_id, "entrants": len(outs), **states,
            "usable": states[STATE_COMPLETE] + states[STATE_REUSED],
            # usable entrants whose deadline cut probes (counted in "complete" too); a re-run resumes them
            "cut_by_deadline": sum(1 for o in outs if o.incomplete),
            "creators": dict(sorted(creators.items(), key=lambda kv: (-kv[1], kv[0]))),
            "verdicts": verdicts, "claims": claim_summary(outs), "unusable_why": unusable,
            "rate_limited": rate_limit_summary(outs), "probeset": probeset,
            "elapsed_s": None if elapsed_s is None else round(elapsed_s, 3)}


def rate_limit_summary(outs: Sequence[Outcome]) -> dict[str, Any]:
    """Entrants probed now that refused requests (HTTP 429/503/529, as their pacers counted
    them), the refusals by status, and the seconds their runs waited as the servers asked."""
    by_status: dict[str, int] = {}
    entrants = 0
    paused = 0.0
    for o in outs:
        if o.state == STATE_REUSED:
            continue
        pacing = ((o.report or {}).get("run") or {}).get("pacing") or {}
        refused = {str(k): int(v) for k, v in (pacing.get("refused_by_status") or {}).items()
                   if isinstance(v, int) and v > 0}
        if not refused:
            continue
        entrants += 1
        for k, v in refused.items():
            by_status[k] = by_status.get(k, 0) + v
        paused += float(pacing.get("paused_s") or 0.0)
    return {"entrants": entrants, "refused": dict(sorted(by_status.items())), "paused_s": round(paused, 1)}
