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

The policy (AIMD, as TCP does it, with a delay signal read as TCP Vegas reads it):

* start where the server says (``server_described``, from ``endpoints/capacity.py``, read
  before the first probe): a llama.cpp server's ``/props`` slot count (TGI's ``/info``
  ``max_concurrent_requests``) is both the start and a cap, since requests beyond it only
  wait in the server's queue; Ollama, which says what it is but not its parallel limit,
  starts at 4. A server that says nothing gets ``settings.start_concurrency`` when set
  (a scan's entrants: 16), else the cap: every probe at once, one round trip against an
  API that serves them all (the cap is ``settings.concurrency``, ``--concurrency``: never
  exceeded);
* grow by one per answered request (doubling per round trip; by two, tripling,
  while replies come within a twelfth of the read timeout, as an API's do: from 4
  it is past 16 in two round trips) until the first sign of overload, then by one
  per round trip; a slow endpoint (below) grows by one per round trip at most;
* overload signals: an attempt that timed out, a 429/503/529, or a reply that
  *queued* (below). Each halves the number in flight, once per round trip
  (signals from requests sent before the last cut are ignored), but never below
  the *sustained level* while the signal came from a request sent above it;
* the sustained level is the most the endpoint has demonstrably carried: the
  largest L such that, since the last cut and with no sign of waiting in between,
  L replies came back from requests each sent while at least L were in flight
  (a full turnover at L). A timeout or 429/503 of a request sent at or below it
  means the endpoint no longer carries it: it is halved, like the number in flight;
* ``Retry-After`` on a 429/503 pauses every new request to the endpoint (capped
  by ``settings.backoff_max``), not only the one that got it;
* a probe that timed out while the endpoint answered others sent after it went
  out was lost to overload: the runner sends it again (at most
  ``settings.resend_max`` times) and it does not count toward the streak below;
* slow is not dead. After ``settings.timeout_streak`` probes in a row timed out
  with nothing answered since they went out: an endpoint that never answered is
  declared not answering (the run stops at once; ``dead`` says why). One that
  answered in this run is asked whether it still answers at all (the runner's
  ``GET .../models``, new sends paused meanwhile: ``check_wanted``/``check_done``).
  No reply: not answering. A reply: it is slow, not dead: every later request gets
  twice the read and total timeouts (``timeout_scale``, at most ``STRETCH_MAX``
  times, always within the deadline), the level stays as the timeouts cut it, the
  timed-out probes are sent again (each once more per stretch), and the next
  check comes after half as long a streak. Whatever the endpoint's stretch, a probe
  sent again after a timeout goes with twice its own last timeouts, and a whole reply
  gets at least 1.5 times what the endpoint's recent replies say its answer budget
  takes (``timeout_scale_for``), so a long answer on a slow server is not cut and
  re-sent. Only a streak at the longest timeouts with no answer since they were
  stretched declares a server that still answers ``GET .../models`` not answering
  (its model stopped);
  connection failures in a row still end the run (the server went away);
* while nothing has answered after ``settings.liveness_after`` seconds, a cheap
  ``GET .../models`` checks whether the server answers at all (only when the
  read timeout is longer than that check takes); no reply means not answering.

The queueing signal. A reply's *wait* is the time to its status line (a
non-streamed llama.cpp reply: queue wait plus the whole generation; a stream:
queue wait plus the prompt). A slow server and a queueing one both give long
waits; what tells them apart is how the wait grows with the number in flight:

* ``acquire`` notes, in the task's context (a ``ContextVar``), how many probes
  were in flight when this one went out: its *level* (the first of a burst of 4
  goes out at 1, the last at 4; a retry at the level of its time); the executor's
  reports and ``probe_done`` read it back;
* each 2xx reply's wait is divided by its size (completion tokens from ``usage``,
  else the text's length / 4, plus an eighth of the prompt tokens and a fixed 8;
  a stream, whose status line comes before the answer, counts 1), so a long
  answer is long, not queued (probes ask for 1 to 300 tokens): ``u = wait / size``;
* the reference ``ref`` is what the endpoint showed with fewer in flight, as TCP
  Vegas' base round trip: the median over the levels below the reply's of each
  level's median ``u`` (its last 8 replies); each level counts once, so the level
  a run settles at, perhaps already queueing, does not outvote the lower ones;
* a reply sent at level L waited as if ``q = L * (1 - ref / u)`` of the L were
  waiting rather than being served (Vegas' expected minus actual throughput, in
  requests). It *queued* when its wait is over a third of the read timeout (only
  then can queueing cost a timeout), it went out above the sustained level, and
  either ``q > max(3, L / 3)`` (several requests, a third of those in flight,
  bought no throughput) or ``q >= 1`` with a wait over two thirds of the read
  timeout (one more round of waiting would time out). A server whose per-request
  time grows with parallel load (a CPU shared by 4 slots) while its throughput
  still rises gives a small q;
* a slow reply (wait over a third of the read timeout) grows the number only
  while ``q <= 1`` and counts toward the sustained level while ``q <= 1.5``; with
  no reference yet (fewer than 3 replies from lower levels) it does neither. A
  fast reply counts, and grows the number while ``q <= max(1, L / 4)``.

Why this signal: normalising by the answer's size keeps one long answer from
cutting; comparing with lower levels rather than with a running percentile of
recent waits keeps the reference from drifting up while every request waits
(with first-come-first-served slots, every reply of a steady queue waits about as
long, so a running percentile would hide the queue); the sustained-level floor
guarantees that slowness alone never cuts below what the endpoint carried without
a timeout. Measured on a 2-core llama.cpp server with 4 slots, the old rule ("a
reply slower than a third of the read timeout is queueing") cut the level to 2
and answered 39 of 132 probes. Timeouts and 429/503 stay the overload signals that
always cut.

Why a server that says nothing gets every probe at once: against an API that serves them
all, anything less costs round trips (from 4, tripling per round trip, 212 probes to a
server answering in 3 s took 6.9 times the slowest probe; issue 35), and no reply can tell a
big server from a small one before the first round trip is over. A few-slot server that says
nothing pays for it once: the probes queued past the read timeout are cut, sent again with
longer timeouts, and (slow is not dead) never cost the run. llama.cpp, the common few-slot
server, says its slots (``/props``) and is never sent more; it also cancels the task of a
client that timed out (its log: "stop: cancel task"), where a server that keeps working for
clients that left is the worst case (``tests/probing/test_pacing.py``: a 2-slot one that says
nothing still answers every probe).

Pure bookkeeping plus one ``asyncio.Condition``; no I/O of its own except the
liveness check the runner starts.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..transcript import ErrorKind

OVERLOAD_STATUS = frozenset({429, 503, 529})

QUEUED_MIN = 3.0          # a reply queued when q > max(QUEUED_MIN, level / 3) ...
QUEUED_SHARE = 1.0 / 3.0
CLEAN_Q = 1.5             # ... counts toward the sustained level while q <= CLEAN_Q
GROW_Q = 1.0              # ... lets a slow endpoint's level grow (by one per round trip) while q <= GROW_Q
DANGER = 2.0 / 3.0        # a reply waiting longer than this share of the read timeout queued once q >= 1
BRISK = 1.0 / 12.0        # before the first cut, a reply faster than this share of it grows the level by 2
                          # (from a configured start below the cap, e.g. a scan's 16)
REF_MIN = 3               # replies from lower levels needed for a reference
PER_LEVEL = 8             # replies kept per level and kind
PROMPT_SHARE = 1.0 / 8.0  # a prompt token costs about an eighth of a generated one
FIXED_WORK = 8.0          # per-request overhead, in generated tokens
STRETCH_MAX = 4.0         # a slow endpoint's timeouts are doubled up to this many times the configured ones


@dataclass
class PacingStats:
    """What the pacer saw, for the report (``run.pacing``)."""

    start: int = 0
    cap: int = 0
    peak: int = 0
    final: int = 0
    sustained: int = 0           # the most in flight the endpoint carried for a full turnover (at the end)
    cuts: int = 0
    timeouts: int = 0            # attempts that timed out
    overloaded: int = 0          # 429/503/529 replies
    slow: int = 0                # replies whose wait was over a third of the read timeout
    queued: int = 0              # of those, replies whose wait grew with the number in flight
    resent: int = 0              # probes sent again after being lost to overload
    paused_s: float = 0.0        # time spent honouring Retry-After for everyone
    refused: dict[int, int] = field(default_factory=dict)   # overload replies by status (429, 503, 529)
    retry_after_capped: int = 0  # Retry-After values longer than settings.backoff_max (cut to it)
    server: dict[str, Any] | None = None   # what the server said of itself (endpoints/capacity.py)
    checks: int = 0              # times a streak of timeouts had the runner check that the server still answers
    timeout_scale: float = 1.0   # the longest read and total timeouts a request got, in times the configured ones
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"start_concurrency": self.start, "max_concurrency": self.cap, "peak_concurrency": self.peak,
                "final_concurrency": self.final, "sustained_concurrency": self.sustained, "cuts": self.cuts,
                "timed_out_attempts": self.timeouts, "overloaded_replies": self.overloaded,
                "refused_by_status": {str(k): v for k, v in sorted(self.refused.items())},
                "retry_after_capped": self.retry_after_capped,
                "slow_replies": self.slow, "queued_replies": self.queued, "resent": self.resent,
                "paused_s": round(self.paused_s, 3), "server": self.server, "liveness_checks": self.checks,
                "timeout_scale": self.timeout_scale, "notes": list(self.notes)}


@dataclass
class _Send:
    """One probe's turn in flight (set by ``acquire`` in the task's context)."""

    pacer: Any
    level: int                   # probes in flight when its current attempt went out, itself included
    wait: float | None = None    # the latest 2xx attempt: time to its status line,
    sent_at: float = 0.0         # when it went out and came back,
    now: float = 0.0
    sent_level: int = 0          # and at which level


_SEND: contextvars.ContextVar[_Send | None] = contextvars.ContextVar("provenance_pacer_send", default=None)
# a probe sent again after a timeout gets twice its last timeouts (each probe runs in its own task)
_PROBE_SCALE: contextvars.ContextVar[float] = contextvars.ContextVar("provenance_probe_scale", default=1.0)


class Pacer:
    def __init__(self, settings: Any, *, cap: int | None = None) -> None:
        self.settings = settings
        self.cap = max(1, int(cap if cap is not None else settings.concurrency))
        self._start_given = bool(getattr(settings, "start_concurrency", None))
        start = getattr(settings, "start_concurrency", None) or self.cap
        self.limit = float(min(self.cap, max(1, int(start))))
        self.ssthresh = float(self.cap)
        self.inflight = 0
        self.sustained = 0               # see the module docstring
        self._run: list[int] = []        # levels of the clean replies since the last cut or sign of waiting
        self._waits: dict[tuple[str, int], deque[float]] = {}   # (kind, level) -> recent waits per unit of size
        self._rates: deque[float] = deque(maxlen=16)             # recent whole replies' seconds per unit of size
        self.streak = 0                  # probes in a row that timed out
        self.answered = 0                # complete HTTP replies (any status)
        self.ok = 0                      # complete 2xx replies
        self.last_ok_at = float("-inf")  # loop time of the latest 2xx reply
        self.replied = False             # any byte of any reply seen
        self.retry_timeouts = True
        self.dead: str | None = None
        self.described = False           # server_described was called (once per pacer)
        self.stretch = 1.0               # timeout_scale: a slow endpoint's timeouts, stretched
        self.stretches = 0               # times stretched (each lets a timed-out probe be sent once more)
        self._window = float("-inf")     # at the longest timeouts: since when nothing has answered
        self._need = max(1, int(self._s("timeout_streak", 4)))   # the streak that asks for a check
        self.checking = False            # a check that the server still answers is pending
        self._check_wanted: asyncio.Event | None = None
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
        """A reply slower than this may cost a timeout if it queued (a third of the read timeout)."""
        return max(0.05, float(self.settings.read_timeout) / 3.0)

    def _loop_objs(self) -> None:
        if self._cond is None:
            self._cond = asyncio.Condition()
            self._dead_event = asyncio.Event()
            self._stalled = asyncio.Event()
            self._check_wanted = asyncio.Event()
            if self.dead:
                self._dead_event.set()
                self._stalled.set()
            if self.checking:
                self._check_wanted.set()

    @property
    def dead_event(self) -> asyncio.Event:
        self._loop_objs()
        assert self._dead_event is not None
        return self._dead_event

    @property
    def check_wanted(self) -> asyncio.Event:
        """Set when a streak of timeouts wants the runner to check that the server still answers
        (``check_done`` with the outcome); new sends wait meanwhile."""
        self._loop_objs()
        assert self._check_wanted is not None
        return self._check_wanted

    @property
    def timeout_scale(self) -> float:
        """The executor's read and total timeouts are the configured ones times this (slow is not
        dead): the endpoint's stretch, or this probe's own when it was sent again after a timeout."""
        return max(self.stretch, _PROBE_SCALE.get())

    def timeout_scale_for(self, max_tokens: Any) -> float:
        """``timeout_scale`` for a whole (non-streamed) reply of up to ``max_tokens``: at least what
        the endpoint's recent replies say it needs (1.5 times its recent seconds per token, the
        median of its last whole replies, times the answer's budget), up to ``STRETCH_MAX``: a
        long answer on a slow server is given the time it takes, not cut and sent again."""
        base = self.timeout_scale
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0 or not self._rates:
            return base
        need = 1.5 * _median(list(self._rates)) * (FIXED_WORK + max_tokens) / max(1e-9, float(self.settings.read_timeout))
        if need > base:
            self.stats.timeout_scale = max(self.stats.timeout_scale, min(STRETCH_MAX, need))
        return min(STRETCH_MAX, max(base, need))

    # ------------------------------------------------------------ what the server says of itself
    def server_described(self, capacity: Any) -> None:
        """The hook for ``endpoints/capacity.py``: what the server said it can take, before the
        first probe (None: it said nothing, and the start stays as configured). A slot count is
        the start and the cap: requests beyond it would only queue. A known server without one
        (Ollama) starts at its ``start`` unless a start was configured."""
        self.described = True
        if capacity is None:
            return
        self.stats.server = capacity.to_dict() if hasattr(capacity, "to_dict") else dict(capacity)
        slots = getattr(capacity, "slots", None)
        if slots:
            self.cap = max(1, min(self.cap, int(slots)))
            self.limit = min(self.limit, float(self.cap))
            self.ssthresh = float(self.cap)
        elif getattr(capacity, "start", None) and not self._start_given:
            self.limit = min(self.limit, float(max(1, int(capacity.start))))
        self.stats.start = self.stats.final = int(self.limit)
        self.stats.cap = self.cap

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
                if self.checking:        # is the server still there? (slow is not dead)
                    await self._cond.wait()
                    continue
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
            _SEND.set(_Send(self, level=self.inflight))

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

    def _send(self) -> _Send | None:
        s = _SEND.get()
        return s if s is not None and s.pacer is self else None

    # ------------------------------------------------------------ signals from the executor
    def on_headers(self) -> None:
        """A reply started (status line received): the server is alive."""
        self.replied = True

    def on_attempt(self, *, sent_at: float, now: float, status: int | None, error_kind: str | None,
                   retry_after: float | None = None, wait_s: float | None = None) -> None:
        """One HTTP attempt ended (a complete reply, or an error). ``wait_s``: how long until the
        reply's status line came (what queueing delays; a long stream after it is not queueing).

        A 2xx reply is judged in ``probe_done``, once its size is known; called outside a
        probe's turn (no ``acquire`` in this task) it is judged here, by its wait alone."""
        latency = now - sent_at if wait_s is None else wait_s
        send = self._send()
        level = send.level if send is not None else None
        if error_kind is None and status is not None:
            self.answered += 1
            self.replied = True
            if status in OVERLOAD_STATUS:
                self.stats.overloaded += 1
                self.stats.refused[status] = self.stats.refused.get(status, 0) + 1
                if retry_after is not None and retry_after > 0:
                    if float(retry_after) > float(self.settings.backoff_max):
                        self.stats.retry_after_capped += 1
                    pause = min(float(retry_after), float(self.settings.backoff_max))
                    until = now + pause
                    if until > self._pause_until:
                        self.stats.paused_s += until - max(now, self._pause_until)
                        self._pause_until = until
                self._overload(sent_at, now, level)
            elif 200 <= status < 300:
                self.ok += 1
                self.last_ok_at = now
                self._need = max(1, int(self._s("timeout_streak", 4)))
                if send is not None:
                    send.wait, send.sent_at, send.now, send.sent_level = latency, sent_at, now, send.level
                else:
                    self._judge("bare", max(1, self.inflight), latency, 1.0, sent_at, now)
            elif 400 <= status < 500:
                if latency <= self.slow_after:    # an error reply says nothing of queueing when fast
                    self._grow()
        elif error_kind == "timeout":
            self.stats.timeouts += 1
            self._overload(sent_at, now, level)
        if send is not None:
            send.level = max(1, self.inflight)   # a retry of this probe goes out at today's level

    # ------------------------------------------------------------ the queueing signal
    def _judge(self, kind: str, level: int, wait: float, size: float, sent_at: float, now: float) -> None:
        """One 2xx reply: its wait per unit of size against what lower levels showed (see the docstring)."""
        u = wait / max(size, 1e-9)
        if kind == "whole":
            self._rates.append(u)
        ref = self._reference(kind, level)
        if level <= 1:
            q: float | None = 0.0       # alone in flight: nothing of ours to wait behind
        else:
            q = None if ref is None or u <= 0 else max(0.0, level * (1.0 - ref / u))
        self._remember(kind, level, u)
        slow = wait > self.slow_after
        if slow:
            self.stats.slow += 1
        if (slow and q is not None and level > self.sustained
                and (q > max(QUEUED_MIN, level * QUEUED_SHARE)
                     or (q >= 1.0 and wait > DANGER * float(self.settings.read_timeout)))):
            self.stats.queued += 1
            self._run.clear()
            self._cut(sent_at, now)
            return
        if not slow or (q is not None and q <= CLEAN_Q):
            if sent_at >= self._last_cut:
                self._clean(level)
        elif q is not None:
            self._run.clear()           # waited: the run toward a higher sustained level starts again
        if not slow:
            if q is None or q <= max(GROW_Q, level / 4.0):
                self._grow(2.0 if wait < BRISK * float(self.settings.read_timeout) else 1.0)
        elif q is None or q <= GROW_Q:
            # slow but not waiting (or nothing lower to compare with yet): one more per round
            # trip, as plain AIMD grows; the levels it passes through become the reference
            self._grow(gently=True)

    def _reference(self, kind: str, level: int) -> float | None:
        """The median, over the levels below ``level``, of each level's median wait per unit of
        size (each level counts once however many replies it gave: the level the run settles
        at, often already queueing, does not outvote the lower ones)."""
        meds: list[float] = []
        n = 0
        for (k, lv), d in self._waits.items():
            if k == kind and lv < level and d:
                meds.append(_median(list(d)))
                n += len(d)
        if n < REF_MIN:
            return None
        return _median(meds)

    def _remember(self, kind: str, level: int, u: float) -> None:
        d = self._waits.get((kind, level))
        if d is None:
            d = self._waits[(kind, level)] = deque(maxlen=PER_LEVEL)
        d.append(u)

    def _clean(self, level: int) -> None:
        """A reply with no sign of overload, sent at ``level``: raise the sustained level to the
        largest L with L such replies in a row, each sent with at least L in flight."""
        self._run.append(level)
        if len(self._run) > 4 * self.cap:
            del self._run[: len(self._run) - 4 * self.cap]
        levels = sorted(self._run, reverse=True)
        h = 0
        for i, lv in enumerate(levels, 1):
            if lv >= i:
                h = i
            else:
                break
        self.sustained = max(self.sustained, h)

    # ------------------------------------------------------------ cuts and growth
    def _grow(self, step: float = 1.0, gently: bool = False) -> None:
        if self.limit >= self.cap:
            return
        if self.limit < self.ssthresh and not gently:
            self.limit = min(float(self.cap), self.limit + step)
        else:
            self.limit = min(float(self.cap), self.limit + 1.0 / max(1.0, self.limit))
        self.stats.final = int(self.limit)
        self._wake()

    def _overload(self, sent_at: float, now: float, level: int | None) -> None:
        """A timeout or a 429/503/529: cut; sent at or below the sustained level, the endpoint no
        longer carries that level, and it is halved too."""
        if sent_at < self._last_cut:
            return
        self._run.clear()
        if level is not None and level <= self.sustained:
            self.sustained = max(0, min(self.sustained, level) // 2)
        elif level is None:
            self.sustained = max(0, self.sustained // 2)
        self._cut(sent_at, now)

    def _cut(self, sent_at: float, now: float) -> None:
        if sent_at < self._last_cut:
            return                       # sent before the last cut: already accounted for
        self._last_cut = now
        self._run.clear()
        half = float(int(min(self.limit, max(1, self.inflight)) / 2))
        self.limit = min(self.limit, max(1.0, half, float(min(self.sustained, self.cap))))   # never raises it
        self.ssthresh = self.limit
        self.stats.cuts += 1
        self.stats.final = int(self.limit)
        self._wake()

    # ------------------------------------------------------------ signals from the runner
    def probe_done(self, result: Any, resendable: bool, sent_at: float | None = None) -> bool:
        """Learn from one finished probe; -> True when the runner should send it again.

        A probe that timed out while the endpoint answered others sent after it went out
        (``sent_at``, loop time) was lost to overload: it does not count toward the streak
        of timeouts and may be sent again. One that timed out while nothing else was
        answered counts toward the streak."""
        send = self._send()
        if send is not None:
            _SEND.set(None)
            if send.wait is not None and not self.dead and getattr(result, "status", None) == "ok":
                kind, size = reply_size(result)
                self._judge(kind, send.sent_level, send.wait, size, send.sent_at, send.now)
        if self.dead:
            return False
        timed_out = is_timeout(result)
        err = getattr(result, "error", None) or ""
        if not timed_out and failed_as(result) == ErrorKind.CONNECT:
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
            # lost to overload: others sent later were answered
            return self._longer(resendable and self._resend_ok())
        if self.stretch >= STRETCH_MAX and sent_at is not None and sent_at < self._window:
            return self._longer(resendable)    # sent before the longest timeouts applied: says nothing new
        self.streak += 1
        n = max(1, int(self._s("timeout_streak", 4)))
        if self.answered == 0:
            self.stalled.set()
            if self.streak >= n:
                self.retry_timeouts = False
                self.declare_dead(f"{self.streak} probes in a row timed out and nothing ever answered")
                return False
            return False
        # It answered in this run: slow or gone? A long enough streak asks the runner to check
        # (new sends wait); the probe goes again once the check says the server is still there.
        if self.streak >= self._need and not self.checking:
            self._ask_check()
        return self._longer(resendable)

    def _longer(self, again: bool) -> bool:
        """A timed-out probe sent again goes with twice its last timeouts (up to ``STRETCH_MAX``)."""
        if again:
            scale = min(STRETCH_MAX, _PROBE_SCALE.get() * 2.0)
            _PROBE_SCALE.set(scale)
            self.stats.timeout_scale = max(self.stats.timeout_scale, scale)
        return again

    def _ask_check(self) -> None:
        self.checking = True
        self.retry_timeouts = False        # the runner re-sends timed-out probes, under the pacer
        self.stats.checks += 1
        self.stalled.set()
        self.check_wanted.set()

    def check_done(self, alive: bool, why: str = "") -> None:
        """The outcome of the check a streak of timeouts asked for (``check_wanted``): the
        server answered (``alive``; slow, not dead) or not (``why``)."""
        self.checking = False
        if self._check_wanted is not None:
            self._check_wanted.clear()
        if self.dead:
            return
        if not alive:
            self.declare_dead(f"it answered {self.ok} probes, then {self.streak} in a row timed out and "
                              f"the server no longer answers ({why or 'no reply'})")
            return
        read = float(self.settings.read_timeout)
        now = asyncio.get_running_loop().time() if _loop_running() else 0.0
        if self.stretch >= STRETCH_MAX:
            if self.last_ok_at < self._window:
                # every probe of this streak went out with the longest timeouts, and nothing
                # has answered since: the model stopped, though the server still answers
                self.declare_dead(f"the server still answers ({why or 'GET /models'}), but its model answered "
                                  f"nothing to {self.streak} probes in a row, each given {read * self.stretch:g} s")
                return
            self._window = now                 # it answered since: a new window
        else:
            self.stretch = min(STRETCH_MAX, self.stretch * 2.0)
            self.stretches += 1
            if self.stretch >= STRETCH_MAX:
                self._window = now
        self.stats.timeout_scale = max(self.stats.timeout_scale, self.stretch)
        self.streak = 0
        self._need = max(1, self._need // 2)
        self._wake()

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
        self.stats.sustained = self.sustained
        self.stats.timeout_scale = max(self.stats.timeout_scale, self.stretch)
        d = self.stats.to_dict()
        d["timeout_retries_stopped"] = not self.retry_timeouts
        d["retry_after_cap_s"] = float(self.settings.backoff_max)
        d["not_answering"] = self.dead
        return d


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def failed_as(result: Any) -> ErrorKind | None:
    """The kind of a failed probe's failure (``ProbeResult.failed_as``), None otherwise."""
    how = getattr(result, "failed_as", None)
    return how() if how is not None else None


def is_timeout(result: Any) -> bool:
    return failed_as(result) == ErrorKind.TIMEOUT


def reply_size(result: Any) -> tuple[str, float]:
    """(kind, size) of a 2xx reply, for the queueing signal: a stream's status line comes
    before the answer (size 1, kind "stream"); a whole reply's comes after it, so its size is
    the answer's tokens (``usage``, else the text's length / 4) plus a share of the prompt's."""
    how = getattr(result, "token_usage", None)
    usage = how() if how is not None else None
    if getattr(result, "stream", False):
        return "stream", 1.0
    out = float(usage.completion) if usage is not None and usage.completion is not None else None
    if out is None:
        out = len(getattr(result, "text", None) or "") / 4.0
    prompt = float(usage.prompt or 0) if usage is not None else 0.0
    return "whole", FIXED_WORK + out + PROMPT_SHARE * prompt


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0
