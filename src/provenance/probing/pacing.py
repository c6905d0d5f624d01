"""How hard to press one endpoint: adaptive concurrency, learned retries, a dead-endpoint verdict.

One ``Pacer`` per target run, shared by the runner (which takes a slot per probe)
and the HTTP executor (which reports every attempt)::

    pacer = Pacer(settings)
    await pacer.acquire()          # waits for a free slot (and any Retry-After pause)
    try:
        result = await endpoint.run_probe(p, deadline_at=...)
    finally:
        pacer.release()
    pacer.probe_done(result)       # learns from the probe's outcome

The policy (AIMD, as TCP does it):

* start at ``min(cap, settings.start_concurrency)`` probes in flight, where the
  cap is ``settings.concurrency`` (``--concurrency``: never exceeded);
* grow by one per answered request (doubling per round trip) until the first
  sign of overload, then by one per round trip;
* halve on a sign of overload: an attempt that timed out, a 429/503/529, or a
  reply whose status line took more than a third of the read timeout (requests
  waiting in the server's queue: a llama.cpp server with 4 slots queues the
  rest; a long stream after a prompt status line is not a sign); one cut per
  round trip (signals from requests sent before the last cut are ignored);
* ``Retry-After`` on a 429/503 pauses every new request to the endpoint (capped
  by ``settings.backoff_max``), not only the one that got it;
* a probe that timed out while the endpoint answered others sent after it was
  lost to overload: the runner sends it again (at most ``settings.resend_max``
  times) and it does not count toward the streak below;
* after ``settings.timeout_streak`` probes in a row timed out, timeouts are no
  longer retried or re-sent (noted); if the endpoint never answered anything,
  or the streak reaches twice that, the endpoint is declared not answering:
  the run stops at once (``dead`` says why);
* while nothing has answered after ``settings.liveness_after`` seconds, a cheap
  ``GET .../models`` checks whether the server answers at all (only when the
  read timeout is longer than that check takes); no reply means not answering.

Pure bookkeeping plus one ``asyncio.Condition``; no I/O of its own except the
liveness check the runner starts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

OVERLOAD_STATUS = frozenset({429, 503, 529})


@dataclass
class PacingStats:
    """What the pacer saw, for the report (``run.pacing``)."""

    start: int = 0
    cap: int = 0
    peak: int = 0
    final: int = 0
    cuts: int = 0
    timeouts: int = 0            # attempts that timed out
    overloaded: int = 0          # 429/503/529 replies
    slow: int = 0                # replies slower than the queueing threshold
    resent: int = 0              # probes sent again after being lost to overload
    paused_s: float = 0.0        # time spent honouring Retry-After for everyone
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"start_concurrency": self.start, "max_concurrency": self.cap, "peak_concurrency": self.peak,
                "final_concurrency": self.final, "cuts": self.cuts, "timed_out_attempts": self.timeouts,
                "overloaded_replies": self.overloaded, "slow_replies": self.slow, "resent": self.resent,
                "paused_s": round(self.paused_s, 3), "notes": list(self.notes)}


class Pacer:
    def __init__(self, settings: Any, *, cap: int | None = None) -> None:
        self.settings = settings
        self.cap = max(1, int(cap if cap is not None else settings.concurrency))
        start = getattr(settings, "start_concurrency", 16) or self.cap
        self.limit = float(min(self.cap, max(1, int(start))))
        self.ssthresh = float(self.cap)
        self.inflight = 0
        self.streak = 0                  # probes in a row that timed out
        self.answered = 0                # complete HTTP replies (any status)
        self.ok = 0                      # complete 2xx replies
        self.last_ok_at = float("-inf")  # loop time of the latest 2xx reply
        self.replied = False             # any byte of any reply seen
        self.retry_timeouts = True
        self.dead: str | None = None
        self._last_cut = float("-inf")
        self._pause_until = 0.0
        self._cond: asyncio.Condition | None = None
        self._dead_event: asyncio.Event | None = None
        self._stalled: asyncio.Event | None = None
        self.started_at: float | None = None
        self.stats = PacingStats(start=int(self.limit), cap=self.cap, peak=0, final=int(self.limit))

    # ------------------------------------------------------------ settings with defaults
    def _s(self, name: str, default: Any) -> Any:
        return getattr(self.settings, name, default)

    @property
    def slow_after(self) -> float:
        """A reply slower than this is taken as queueing (a third of the read timeout)."""
        return max(0.05, float(self.settings.read_timeout) / 3.0)

    def _loop_objs(self) -> None:
        if self._cond is None:
            self._cond = asyncio.Condition()
            self._dead_event = asyncio.Event()
            self._stalled = asyncio.Event()
            if self.dead:
                self._dead_event.set()
                self._stalled.set()

    @property
    def dead_event(self) -> asyncio.Event:
        self._loop_objs()
        assert self._dead_event is not None
        return self._dead_event

    @property
    def stalled(self) -> asyncio.Event:
        """Set once the endpoint looks stuck (a scan stops counting it against its limits)."""
        self._loop_objs()
        assert self._stalled is not None
        return self._stalled

    # ------------------------------------------------------------ slots
    async def acquire(self) -> None:
        self._loop_objs()
        assert self._cond is not None
        loop = asyncio.get_running_loop()
        if self.started_at is None:
            self.started_at = loop.time()
        async with self._cond:
            while True:
                if self.dead:
                    break
                wait = self._pause_until - loop.time()
                if wait > 0:
                    try:
                        await asyncio.wait_for(self._cond.wait(), wait)
                    except TimeoutError:
                        pass
                    continue
                if self.inflight < max(1, int(self.limit)):
                    break
                await self._cond.wait()
            self.inflight += 1
            self.stats.peak = max(self.stats.peak, self.inflight)

    def release(self) -> None:
        self.inflight = max(0, self.inflight - 1)
        self._wake()

    def _wake(self) -> None:
        cond = self._cond
        if cond is None:
            return

        async def notify() -> None:
            async with cond:
                cond.notify_all()
        try:
            asyncio.get_running_loop().create_task(notify())
        except RuntimeError:
            pass

    # ------------------------------------------------------------ signals from the executor
    def on_headers(self) -> None:
        """A reply started (status line received): the server is alive."""
        self.replied = True

    def on_attempt(self, *, sent_at: float, now: float, status: int | None, error_kind: str | None,
                   retry_after: float | None = None, wait_s: float | None = None) -> None:
        """One HTTP attempt ended (a complete reply, or an error). ``wait_s``: how long until the
        reply's status line came (what queueing delays; a long stream after it is not queueing)."""
        latency = now - sent_at if wait_s is None else wait_s
        if error_kind is None and status is not None:
            self.answered += 1
            self.replied = True
            if status in OVERLOAD_STATUS:
                self.stats.overloaded += 1
                if retry_after is not None and retry_after > 0:
                    pause = min(float(retry_after), float(self.settings.backoff_max))
                    until = now + pause
                    if until > self._pause_until:
                        self.stats.paused_s += until - max(now, self._pause_until)
                        self._pause_until = until
                self._cut(sent_at, now)
            elif latency > self.slow_after:
                self.stats.slow += 1
                self._cut(sent_at, now)
            elif 200 <= status < 300 or 400 <= status < 500:
                if status < 300:
                    self.ok += 1
                    self.last_ok_at = now
                self._grow()
        elif error_kind == "timeout":
            self.stats.timeouts += 1
            self._cut(sent_at, now)

    def _grow(self) -> None:
        if self.limit >= self.cap:
            return
        if self.limit < self.ssthresh:
            self.limit = min(float(self.cap), self.limit + 1.0)
        else:
            self.limit = min(float(self.cap), self.limit + 1.0 / max(1.0, self.limit))
        self.stats.final = int(self.limit)
        self._wake()

    def _cut(self, sent_at: float, now: float) -> None:
        if sent_at < self._last_cut:
            return                       # sent before the last cut: already accounted for
        self._last_cut = now
        self.limit = max(1.0, float(int(min(self.limit, max(1, self.inflight)) / 2)))
        self.ssthresh = self.limit
        self.stats.cuts += 1
        self.stats.final = int(self.limit)

    # ------------------------------------------------------------ signals from the runner
    def probe_done(self, result: Any, resendable: bool, sent_at: float | None = None) -> bool:
        """Learn from one finished probe; -> True when the runner should send it again.

        A probe that timed out while the endpoint answered others sent after it went out
        (``sent_at``, loop time) was lost to overload: it does not count toward the streak
        of timeouts and may be sent again. One that timed out while nothing else was
        answered counts toward the streak."""
        if self.dead:
            return False
        timed_out = is_timeout(result)
        err = getattr(result, "error", None) or ""
        if not timed_out and err.startswith("connection failed"):
            self.streak += 1
            n = max(1, int(self._s("timeout_streak", 4)))
            if self.streak >= n and self.answered == 0:
                self.declare_dead(f"{self.streak} probes in a row could not connect ({err[:160]})")
            elif self.streak >= 2 * n:             # it answered before, and went away
                self.declare_dead(f"{self.streak} probes in a row could not connect: the endpoint went away "
                                  f"({err[:160]})")
            return False
        if not timed_out:
            if getattr(result, "http_status", None) is not None:
                self.streak = 0
            return resendable and self._overloaded(result) and self._resend_ok()
        if sent_at is not None and self.last_ok_at > sent_at:
            return resendable and self.retry_timeouts and self._resend_ok()
        self.streak += 1
        n = max(1, int(self._s("timeout_streak", 4)))
        if self.answered == 0:
            self.stalled.set()
        if self.streak >= n and self.retry_timeouts:
            self.retry_timeouts = False
            self.stalled.set()
            self.stats.notes.append(f"stopped retrying timeouts after {self.streak} probes in a row timed out")
        if self.streak >= n and self.answered == 0:
            self.declare_dead(f"{self.streak} probes in a row timed out and nothing ever answered")
            return False
        if self.streak >= 2 * n:
            self.declare_dead(f"{self.streak} probes in a row timed out: the endpoint stopped answering")
            return False
        return resendable and self.retry_timeouts and self._resend_ok()

    def _overloaded(self, result: Any) -> bool:
        return getattr(result, "status", None) == "failed" and getattr(result, "http_status", None) in OVERLOAD_STATUS

    def _resend_ok(self) -> bool:
        # only while the endpoint answers others: a probe lost on an endpoint that answers
        # nothing (or only errors) was not lost to overload
        return self.ok > 0

    def note_resent(self) -> None:
        self.stats.resent += 1

    def declare_dead(self, reason: str) -> None:
        if self.dead:
            return
        self.dead = reason
        self.retry_timeouts = False
        self.stats.notes.append(f"endpoint not answering: {reason}")
        if self._dead_event is not None:
            self._dead_event.set()
        if self._stalled is not None:
            self._stalled.set()
        self._wake()

    def liveness_delay(self) -> float | None:
        """Seconds after the first send at which to check a silent endpoint; None when not worth it."""
        after = float(self._s("liveness_after", 15.0))
        check = self.liveness_timeout()
        if after <= 0 or float(self.settings.read_timeout) <= after + check:
            return None
        return after

    def liveness_timeout(self) -> float:
        return min(10.0, max(0.1, float(self._s("liveness_after", 15.0)) * 2 / 3))

    def info(self) -> dict[str, Any]:
        self.stats.final = int(self.limit)
        d = self.stats.to_dict()
        d["timeout_retries_stopped"] = not self.retry_timeouts
        d["not_answering"] = self.dead
        return d


def is_timeout(result: Any) -> bool:
    err = getattr(result, "error", None) or ""
    return getattr(result, "status", None) == "failed" and err.startswith("timeout")
