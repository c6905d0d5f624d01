"""Probing that adapts to the endpoint, against real loopback servers that misbehave on purpose:
each stalling mode ends within the total time bound with its reason; a server with few slots
that queues the rest gets every probe answered; timeouts stop being retried after a streak; a
dead endpoint ends the run at once; Retry-After pauses the whole endpoint."""

from __future__ import annotations

import itertools
import re
import threading
import time

import pytest


from factory import fast_settings, free_port, many_probes_toml, probe_set
from provenance.probing.one_target import run_probes_sync
from provenance.probing.pacing import Pacer
from provenance.settings import RunSettings, Target
from provenance.testing.fakeserver import FakeLLMServer, Fault


def one(srv, ps, **kw):
    s = fast_settings(**kw)
    t0 = time.monotonic()
    tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    return tr, time.monotonic() - t0


# ---------------------------------------------------------------- each stalling mode, bounded, with its reason

def test_slow_drip_ends_at_the_total_bound_with_reason(chat):
    # one byte every 0.1 s never trips the 0.5 s read timeout; the 1 s total bound ends it, retries included
    with FakeLLMServer(fault_fn=lambda req: Fault.trickle(0.1)) as srv:
        tr, took = one(srv, chat, read_timeout=0.5, request_timeout=1.0, retries=3, deadline=30)
    r = tr.results[0]
    assert r.status == "failed" and r.attempts == 1
    assert r.error.startswith("timeout: no complete reply within 1 s (the total time bound for one request;")
    assert "bytes received, reply still incomplete" in r.error
    assert took < 10          # generous on a busy machine: the drip alone takes ~30 s, as does the deadline


def test_stalled_stream_ends_with_reason(stream):
    with FakeLLMServer(fault_fn=lambda req: Fault.stall(after_bytes=40)) as srv:
        tr, took = one(srv, stream, read_timeout=0.4, request_timeout=0.8, retries=3, deadline=30)
    r = tr.results[0]
    assert r.status == "failed"
    assert r.error.startswith("timeout: ")
    assert "stalled after" in r.error or "no complete reply within 0.8 s" in r.error, r.error
    assert took < 10          # generous on a busy machine: a stall never ends by itself, the deadline is 30 s


def test_stalled_body_reports_bytes_and_read_timeout(chat):
    with FakeLLMServer(fault_fn=lambda req: Fault.stall(after_bytes=30)) as srv:
        tr, _ = one(srv, chat, read_timeout=0.3, request_timeout=5.0, retries=0, deadline=30)
    assert tr.results[0].error == "timeout: the reply stalled after 30 bytes (nothing more for 0.3 s, the read timeout)"


def test_silent_accept_ends_with_reason_and_retries_stay_inside_the_total(chat):
    with FakeLLMServer(fault_fn=lambda req: Fault.hang()) as srv:
        tr, took = one(srv, chat, read_timeout=0.3, request_timeout=0.8, retries=5, deadline=30)
        attempts = srv.request_count
    r = tr.results[0]
    assert r.status == "failed" and r.error.startswith("timeout: ")
    assert "sent nothing" in r.error or "nothing received" in r.error, r.error
    assert 1 <= attempts <= 3                  # 0.3 s each inside 0.8 s, never the 5 retries asked for
    assert took < 10                           # generous: the attempts above are the precise claim


def test_timeouts_are_recorded_in_the_report(tmp_path, chat):
    from provenance.classifier.base import UNKNOWN  # noqa: F401 - the pipeline's classifier module
    from provenance.run.steps import classify_report_dict
    from provenance.classifier.keyword import KeywordClassifier
    with FakeLLMServer(fault_fn=lambda req: Fault.trickle(0.1)) as srv:
        tr, _ = one(srv, chat, read_timeout=0.5, request_timeout=0.8, retries=0, deadline=30)
    doc = classify_report_dict(tr, KeywordClassifier())
    assert doc["probes"][0]["status"] == "failed" and doc["probes"][0]["error"].startswith("timeout: no complete reply")
    assert doc["attribution"]["status"] == "failed"
    assert "timed out" in doc["attribution"]["reliability"][0]
    assert doc["run"]["pacing"]["timed_out_attempts"] == 1


# ---------------------------------------------------------------- a server with few slots that queues the rest

def test_few_slot_server_answers_every_probe_with_default_pacing(tmp_path):
    # 2 slots, 0.12 s a request, 40 probes, a server that says nothing of its slots and keeps
    # working for clients that left (the worst case for the default start, every probe at once):
    # the last would wait 2.4 s, far past the 1 s read timeout. The pacer must find a level the
    # server keeps up with, and every probe lost to the queue is sent again.
    ps = probe_set(tmp_path, many_probes_toml(40))
    s = fast_settings(concurrency=40, read_timeout=1.0, request_timeout=2.0, deadline=60, retries=3)
    with FakeLLMServer(slots=2, latency=0.12) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        assert srv.busy_peak <= 2
    bad = [(r.probe_id, r.error) for r in tr.results if not r.ok]
    assert not bad, bad
    assert tr.pacing["peak_concurrency"] <= 40


def test_few_slot_server_loses_probes_when_everything_is_sent_at_once(tmp_path):
    # the same server and probes with the old behaviour (all in flight, nothing re-sent): the
    # queue outlasts the read timeout, so the test above is not passing by accident
    ps = probe_set(tmp_path, many_probes_toml(40))
    s = fast_settings(concurrency=40, start_concurrency=40, read_timeout=1.0, request_timeout=1.0,
                      deadline=60, retries=0, resend_max=0)
    with FakeLLMServer(slots=2, latency=0.12) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    assert tr.counts()["failed"] > 0


# ---------------------------------------------------------------- a slow llama.cpp-like server

PER_TOKEN = 0.003        # seconds per generated token with one slot busy


def llama_like(slots=4, per_token=PER_TOKEN, slowdown=0.1, scale=lambda: 1.0, props=True, cancel=True):
    """A fake llama.cpp server: ``slots`` requests generate at once, the rest wait first come
    first served; a whole reply's status line comes when its answer is done. Each probe's
    answer is as many tokens as its max_tokens (a third of it for every third probe: answers
    that stop early), each costing ``per_token`` x ``scale()``, lengthened by ``slowdown`` for
    every other busy slot (slots sharing one CPU). With ``props`` it says its slots as
    llama.cpp does (``GET /props``: ``total_slots``); without, it says nothing. With ``cancel``
    a request whose client went away frees its slot at once, as llama.cpp cancels its task."""
    def tokens(body):
        n = int(body.get("max_tokens") or 32)
        digits = "".join(ch for ch in str(body["messages"][-1]["content"]) if ch in "0123456789")
        return max(1, n // 3) if digits and int(digits) % 3 == 2 else n
    return FakeLLMServer(slots=slots, slot_slowdown=slowdown,
                         latency_fn=lambda body: per_token * scale() * tokens(body),
                         answer_fn=lambda body: " ".join(["tok"] * tokens(body)),
                         describe={"/props": {"total_slots": slots}} if props else None,
                         cancel_on_disconnect=cancel)


def varied_probes(tmp_path, n):
    # max_tokens 80..200: 0.24..0.6 s alone, up to 0.8 s with 4 slots busy, against a read
    # timeout of 1.5 s whose third (0.5 s) the old queueing rule took for queueing
    return probe_set(tmp_path, many_probes_toml(n, max_tokens=lambda i: (80, 200, 120, 160)[i % 4]))


def test_slow_four_slot_server_answers_every_probe_and_keeps_its_four_slots_busy(tmp_path):
    # Every answer takes a good part of the read timeout even when nothing queues: a slow
    # server, not an overloaded one. With the default pacing (the server's own slot count,
    # read from GET /props, as start and cap) every probe is answered, the pacer never sends
    # more than the 4 the server decodes at once (on the real server it peaked at 9-19 when it
    # guessed), and it never settles below them (the old rule, "a reply slower than a third of
    # the read timeout is queueing", cut a real 4-slot llama.cpp server to 2).
    ps = varied_probes(tmp_path, 40)
    s = fast_settings(concurrency=40, read_timeout=1.5, request_timeout=3.0, deadline=120, retries=3,
                      ask_server=True)
    assert s.start_concurrency == RunSettings().start_concurrency        # the default start
    with llama_like() as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        busy = srv.busy_peak
    bad = [(r.probe_id, r.error) for r in tr.results if not r.ok]
    assert not bad, bad
    p = tr.pacing
    assert p["server"] == {"server": "llama.cpp", "source": "GET /props total_slots", "slots": 4}, p
    assert p["slow_replies"] >= 10, p              # the scenario: many replies past read timeout / 3
    assert busy == 4
    assert p["start_concurrency"] == p["max_concurrency"] == p["peak_concurrency"] == 4, p
    assert p["sustained_concurrency"] >= 4, p      # learned: the server carries its 4 slots
    assert p["final_concurrency"] == 4, p


def test_one_long_answer_does_not_cut(tmp_path):
    # replies of very different lengths at a steady level: the long ones are long, not queued
    ps = probe_set(tmp_path, many_probes_toml(16, max_tokens=lambda i: 300 if i % 4 == 0 else 40))
    s = fast_settings(concurrency=4, start_concurrency=4, read_timeout=1.5, request_timeout=3.0, deadline=60)
    with llama_like(slowdown=0.0) as srv:      # 300 tokens: 0.9 s, over the 0.5 s third of the read timeout
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    assert tr.counts()["ok"] == 16
    assert tr.pacing["slow_replies"] >= 3 and tr.pacing["cuts"] == 0, tr.pacing
    assert tr.pacing["final_concurrency"] == 4


def test_overloaded_server_is_cut_and_every_probe_still_answered(tmp_path):
    # 2 slots and a client starting at 8: the requests queued behind the first ones wait past
    # the read timeout. Those timeouts cut the level, and every probe lost to them is sent again.
    ps = varied_probes(tmp_path, 12)
    s = fast_settings(concurrency=12, start_concurrency=8, read_timeout=1.5, request_timeout=3.0, deadline=120,
                      retries=3)
    with llama_like(slots=2, per_token=0.004) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    bad = [(r.probe_id, r.error) for r in tr.results if not r.ok]
    assert not bad, bad
    p = tr.pacing
    assert p["timed_out_attempts"] >= 1 and p["cuts"] >= 1 and p["resent"] >= 1, p
    assert p["final_concurrency"] < 8, p


def test_server_that_slows_down_mid_run_is_cut_and_every_probe_answered(tmp_path):
    # 4 slots and no word of them (so every probe goes at once), fast for its first 16 requests,
    # then 10 times slower (other clients): a change of pace set by a count, not a clock. At
    # 0.8-2 s a request on 4 slots, the 32 queued behind cannot all come within the 1.5 s read
    # timeout however fast or loaded the machine: timeouts are certain, so are the cut and the
    # probes sent again; every probe is answered.
    ps = varied_probes(tmp_path, 48)
    served = itertools.count()
    lock = threading.Lock()

    def scale():
        with lock:
            return 1.0 if next(served) < 16 else 10.0
    s = fast_settings(concurrency=48, read_timeout=1.5, request_timeout=3.0, deadline=300, retries=3)
    with llama_like(per_token=0.001, scale=scale, props=False) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    bad = [(r.probe_id, r.error) for r in tr.results if not r.ok]
    assert not bad, bad
    p = tr.pacing
    assert p["peak_concurrency"] == 48 and p["timed_out_attempts"] >= 1 and p["resent"] >= 1, p
    assert p["cuts"] >= 1 and p["final_concurrency"] < p["peak_concurrency"], p
    assert p["not_answering"] is None, p


def test_overload_timeouts_are_resent_and_noted(tmp_path):
    # the first 6 requests hang (lost to "overload") while the rest are answered: they are sent again
    ps = probe_set(tmp_path, many_probes_toml(12))
    n = itertools.count()
    lock = threading.Lock()

    def fault(req):
        with lock:
            return Fault.hang() if next(n) < 6 else None
    # all 12 go out at once (start 12), so the hanging 6 are in flight while the others are answered
    s = fast_settings(concurrency=12, start_concurrency=12, read_timeout=0.4, request_timeout=0.4, deadline=30,
                      retries=0)
    with FakeLLMServer(fault_fn=fault) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    assert tr.counts()["ok"] == 12, [(r.probe_id, r.error) for r in tr.results if not r.ok]
    assert tr.pacing["resent"] >= 1 and tr.pacing["cuts"] >= 1


# ---------------------------------------------------------------- retries that learn; dead endpoints

def test_server_that_answered_then_hangs_is_checked_and_given_up(tmp_path):
    # answers the first 4 requests, then hangs for good, GET /models included: after 4 probes
    # in a row time out, the runner checks whether the server still answers anything; it does
    # not, so the endpoint is declared not answering and the rest are not sent
    ps = probe_set(tmp_path, many_probes_toml(30))
    n = itertools.count()
    lock = threading.Lock()

    def fault(req):
        with lock:
            return None if next(n) < 4 else Fault.hang()
    s = fast_settings(concurrency=2, start_concurrency=2, read_timeout=0.25, request_timeout=0.6,
                      deadline=60, retries=3, timeout_streak=4)
    with FakeLLMServer(fault_fn=fault) as srv:
        t0 = time.monotonic()
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        took = time.monotonic() - t0
    why = tr.pacing["not_answering"]
    assert why == ("it answered 4 probes, then 4 in a row timed out and the server no longer answers "
                   "(GET /models answered nothing in 1 s)"), why
    assert tr.pacing["liveness_checks"] == 1 and tr.pacing["timeout_retries_stopped"]
    assert [q.path for q in srv.requests].count("/v1/models") == 1
    errs = [r.error for r in tr.results if not r.ok]
    assert sum(1 for e in errs if e.startswith("not sent: endpoint not answering")) >= 10
    assert took < 20                               # not 26 probes x 0.6 s, nor the 60 s deadline


def test_silent_endpoint_is_given_up_after_one_timeout(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(40))
    s = fast_settings(concurrency=40, start_concurrency=16, read_timeout=0.3, request_timeout=0.6, deadline=60,
                      retries=3)
    with FakeLLMServer(fault_fn=lambda req: Fault.hang()) as srv:
        t0 = time.monotonic()
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        took = time.monotonic() - t0
        sent = srv.request_count
    assert re.match(r"\d+ probes in a row timed out and nothing ever answered", tr.pacing["not_answering"])
    assert sent <= 16 * 2                          # at most the first 16 (the start), each tried within 0.6 s
    assert tr.counts()["failed"] == 40
    assert took < 20                               # generous on a busy machine: not the 60 s deadline


def test_liveness_check_declares_a_silent_server_dead_before_the_read_timeout(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(8))
    s = fast_settings(read_timeout=30, request_timeout=60, deadline=120, liveness_after=0.3)
    with FakeLLMServer(fault_fn=lambda req: Fault.hang()) as srv:
        t0 = time.monotonic()
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        took = time.monotonic() - t0
        paths = [q.path for q in srv.requests]
    assert "/v1/models" in paths
    assert "answered nothing" in tr.pacing["not_answering"]
    errs = [r.error for r in tr.results]
    assert all(e.startswith(("abandoned in flight: endpoint not answering", "not sent: endpoint not answering"))
               for e in errs)
    assert sum(e.startswith("abandoned in flight") for e in errs) == 4    # the cap (4) were in flight
    assert took < 20                               # generous on a busy machine: not the 30 s read timeout


def test_liveness_check_leaves_a_slow_but_alive_server_alone(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(3))
    s = fast_settings(read_timeout=5, request_timeout=10, deadline=30, liveness_after=0.2)
    slow = lambda req: Fault.delay_(0.9) if req.method == "POST" else None     # noqa: E731
    with FakeLLMServer(fault_fn=slow) as srv:     # the model is slow; the server answers GET /models
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    assert tr.counts()["ok"] == 3 and not tr.pacing["not_answering"]


def test_retry_after_pauses_every_request_to_the_endpoint(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(4))
    n = itertools.count()
    lock = threading.Lock()

    def fault(req):
        with lock:
            return Fault.status(429, retry_after="0.6") if next(n) == 0 else None
    s = fast_settings(concurrency=2, start_concurrency=2, backoff_max=2.0, deadline=30)
    with FakeLLMServer(fault_fn=fault, latency=0.02) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        reqs = srv.requests
    assert tr.counts()["ok"] == 4
    t429 = reqs[0].received_at
    later = [q.received_at - t429 for q in reqs[2:]]
    assert later and min(later) >= 0.5, later     # nobody sent during the pause, not only the 429'd probe
    assert tr.pacing["overloaded_replies"] == 1 and tr.pacing["paused_s"] > 0


def test_connection_refused_gives_up_fast(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(20))
    s = fast_settings(concurrency=20, deadline=60, retries=3)
    t0 = time.monotonic()
    tr = run_probes_sync(Target(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m"), ps, settings=s)
    assert time.monotonic() - t0 < 20              # generous on a busy machine: not the 60 s deadline
    assert tr.counts()["failed"] == 20
    assert all(r.error.startswith(("connection failed", "not sent: endpoint not answering",
                                   "abandoned in flight: endpoint not answering")) for r in tr.results)
    assert tr.pacing["not_answering"].startswith("4 probes in a row could not connect")


# ---------------------------------------------------------------- the pacer on its own

def test_pacer_never_exceeds_the_cap_and_cuts_once_per_round():
    s = fast_settings(concurrency=5, start_concurrency=16)
    p = Pacer(s)
    assert p.limit == 5                      # the cap wins over the start
    p.inflight = 5
    p.on_attempt(sent_at=1.0, now=2.0, status=None, error_kind="timeout")
    assert p.limit == 2
    p.on_attempt(sent_at=1.5, now=2.1, status=None, error_kind="timeout")   # sent before the cut
    assert p.limit == 2 and p.stats.cuts == 1
    for _ in range(50):
        p.on_attempt(sent_at=3.0, now=3.01, status=200, error_kind=None)
    assert p.limit == 5                      # grows back, never past the cap


def _reply(pacer, level, wait, tokens, t):
    """One probe's turn as the runner and executor report it: sent at ``level``, a 2xx reply
    after ``wait`` seconds with ``tokens`` generated."""
    import asyncio

    from provenance.probing.pacing import _SEND, _Send
    from provenance.transcript import ProbeResult

    async def turn():
        _SEND.set(_Send(pacer, level=level))
        pacer.on_attempt(sent_at=t, now=t + wait, status=200, error_kind=None, wait_s=wait)
        pacer.probe_done(ProbeResult(probe_id="p", family="api", text="x",
                                     usage={"completion_tokens": tokens}), resendable=False)
    asyncio.run(turn())


def test_pacer_slow_replies_never_cut_below_the_sustained_level():
    s = fast_settings(concurrency=40, start_concurrency=4, read_timeout=1.5)
    p = Pacer(s)
    for lv in (1, 2, 3):                       # the first replies, one per level: 4 ms a token
        _reply(p, lv, 0.4, 92, t=0.0)
    for i in range(4):                         # 4 in flight: 5 ms a token (a shared CPU), no queue
        _reply(p, 4, 0.5 + 0.1 * (i % 2), 92 + 20 * (i % 2), t=1.0 + i)
    assert p.sustained == 4 and p.stats.cuts == 0
    _reply(p, 4, 1.4, 100, t=10.0)             # slow, even slow for its size: at the sustained level
    assert p.stats.cuts == 0
    p.limit = 8.0
    p.inflight = 8
    _reply(p, 8, 1.2, 100, t=11.0)             # 8 in flight, waiting as long as 3 times its size: queued
    assert p.stats.queued == 1 and p.stats.cuts == 1
    assert p.limit == 4                        # halved, and not below what the endpoint carried
    _reply(p, 4, 1.3, 300, t=12.0)             # one long answer (300 tokens) at 4: not queued
    assert p.stats.cuts == 1


# ---------------------------------------------------------------- what lost probes would have told

def test_lost_notes_name_the_missing_evidence():
    from provenance.channels.tokenizer import load_table
    from provenance.lost import lost_notes
    from provenance.transcript import ProbeResult, Transcript
    base = load_table()["baseline"]["probe"]
    rs = [ProbeResult(probe_id=base, family="tokenizer", status="failed",
                      error="timeout: the server accepted the request but sent nothing for 60 s (the read timeout)"),
          ProbeResult(probe_id="tok.count.1", family="tokenizer", text="x"),
          ProbeResult(probe_id="id.1", family="identity", status="failed", error="rate limited: HTTP 429 after 4 attempts"),
          ProbeResult(probe_id="id.2", family="identity", status="failed", error="not sent: endpoint not answering: x"),
          ProbeResult(probe_id="st.1", family="style", text="y")]
    notes = lost_notes(Transcript(target={}, probeset={}, results=rs))
    assert notes[0] == "3 of 5 probes failed"
    assert notes[1] == "why they failed: 1 given up (endpoint not answering), 1 rate limited (HTTP 429), 1 timed out"
    assert "no tokenizer evidence (its baseline probe was lost" in notes[2]
    assert "no self-identification answers (2 probes lost)" in notes[2]
    # no pacing evidence of a queue: the timeout is put down to slowness, not to --concurrency
    assert notes[3] == ("the endpoint was slow (1 timed out): a longer --timeout lets each answer finish, "
                        "a longer --deadline the whole run")
    assert not any("--concurrency" in n for n in notes)


def test_timeouts_are_put_down_to_a_queue_only_where_replies_queued():
    from provenance.lost import slow_advice
    queued = {"queued_replies": 5, "server": None}
    assert "--concurrency N with its slot count" in slow_advice(queued, 3, 0)
    said = {"queued_replies": 5, "server": {"server": "llama.cpp", "slots": 4}}     # its slots were respected
    assert "--concurrency" not in slow_advice(said, 3, 0) and "slow" in slow_advice(said, 3, 0)
    assert "stretched 4x" in slow_advice({"timeout_scale": 4.0}, 0, 2)


def test_a_rate_limit_is_told_as_it_is(tmp_path):
    # 2 of every 3 probes get 429 with Retry-After: every probe is answered in the end, and the
    # notes count the refusals and the wait, suggest what helps, and say nothing of --concurrency
    from provenance.run.steps import classify_report_dict
    from provenance.classifier.keyword import KeywordClassifier
    ps = probe_set(tmp_path, many_probes_toml(12))
    n = itertools.count()
    lock = threading.Lock()

    def fault(req):
        with lock:
            return Fault.status(429, retry_after="0.1") if next(n) % 3 else None
    s = fast_settings(concurrency=4, start_concurrency=4, retries=5, backoff_max=5.0, deadline=120)
    with FakeLLMServer(fault_fn=fault) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    assert tr.counts()["ok"] == 12
    refused = tr.pacing["refused_by_status"]["429"]
    assert refused >= 12 and tr.pacing["paused_s"] > 0
    notes = classify_report_dict(tr, KeywordClassifier())["attribution"]["reliability"]
    head = [x for x in notes if x.startswith("rate limited:")]
    assert len(head) == 1, notes
    assert head[0].startswith(f"rate limited: the endpoint refused {refused} requests (HTTP 429: {refused}); "
                              "waiting as it asked (Retry-After, honoured up to 5 s each) paused the run "), head
    assert head[0].endswith("; every probe was answered in the end")
    assert "what helps with a rate limit: a key or tier allowing more requests, or fewer probes " \
           "(--until-confident 0.9, --budget N)" in notes
    assert not any("--concurrency" in x or "did not keep up" in x for x in notes), notes


def test_endpoint_that_goes_away_mid_run_ends_the_run(tmp_path):
    # answers 3 probes, then the server is gone (connection refused): 8 refusals in a row end it
    ps = probe_set(tmp_path, many_probes_toml(40))
    s = fast_settings(concurrency=1, start_concurrency=1, deadline=60, retries=1, timeout_streak=4)
    srv = FakeLLMServer().start()
    n = itertools.count()

    def cb(res):
        if next(n) == 2:
            srv.stop()
    t0 = time.monotonic()
    tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s, on_result=cb)
    assert time.monotonic() - t0 < 20
    assert "the endpoint went away" in tr.pacing["not_answering"]
    assert tr.counts()["ok"] == 3
    assert sum(r.error.startswith("not sent: endpoint not answering") for r in tr.results if not r.ok) >= 25


def test_pacing_notes_speak_only_when_probes_were_lost():
    # a slow server's queue cut the level and three probes were re-sent, yet every probe was
    # answered: the verdict is as reliable as any, so its notes say nothing of the pacing
    from provenance.attribute import pacing_notes
    from provenance.transcript import ProbeResult, Transcript
    pacing = {"resent": 3, "cuts": 5, "final_concurrency": 9, "peak_concurrency": 16, "notes": []}
    ok = [ProbeResult(probe_id=f"p{i}", family="style", status="ok", text="x") for i in range(3)]
    assert pacing_notes(Transcript({}, {}, results=ok, pacing=pacing)) == []
    lost = ok + [ProbeResult(probe_id="p3", family="style", status="failed", error="timeout: x")]
    notes = pacing_notes(Transcript({}, {}, results=lost, pacing=pacing))
    assert "3 probes lost to overload were sent again" in notes
    assert any("concurrency lowered to 9 (from a peak of 16)" in n for n in notes)


def test_pacer_cut_low_on_a_slow_server_grows_back():
    # a slow server (0.6 s for 120 tokens at every level: no queueing); one early timeout at 4
    # cuts the level to 2 before any level is sustained. Slow replies that do not wait must let
    # it grow again, as plain AIMD would, instead of holding it at 2 for the whole run.
    import asyncio

    from provenance.probing.pacing import _SEND, _Send
    s = fast_settings(concurrency=40, start_concurrency=4, read_timeout=1.5)
    p = Pacer(s)
    for lv in (1, 2, 3):
        _reply(p, lv, 0.6, 120, t=0.0)

    async def timeout_at_4():
        _SEND.set(_Send(p, level=4))
        p.on_attempt(sent_at=1.0, now=2.5, status=None, error_kind="timeout")
    p.inflight = 4
    asyncio.run(timeout_at_4())
    p.inflight = 0
    assert p.limit == 2
    for i in range(20):
        _reply(p, 2, 0.6, 120, t=10.0 + i)
    assert p.limit > 2


def test_pacer_alone_in_flight_is_never_queued():
    # started at 1 (or cut to 1): slow replies with nothing else in flight grow the level
    s = fast_settings(concurrency=40, start_concurrency=1, read_timeout=1.5)
    p = Pacer(s)
    for i in range(10):
        _reply(p, 1, 0.6, 120, t=float(i))
    assert p.limit > 1 and p.sustained >= 1 and p.stats.queued == 0


# ---------------------------------------------------------------- slow is not dead

def test_server_that_crawls_mid_run_and_recovers_is_paced_down_never_given_up(tmp_path):
    # 6 probes answered at once, then the server crawls: every probe waits (Fault.until) and
    # times out, more than a streak's worth. It still answers GET /models, so the run checks
    # that, keeps it (slow is not dead), stretches its timeouts, lowers the number in flight
    # and sends the timed-out probes again; the server recovers when it sees that check (an
    # event, not a clock), and every probe is answered.
    ps = probe_set(tmp_path, many_probes_toml(24))
    recovered = threading.Event()
    posts = itertools.count()
    lock = threading.Lock()

    def fault(req):
        if req.method == "GET" and req.path.endswith("/models"):
            recovered.set()                      # the client asked whether it is there: it recovers
            return None
        with lock:
            i = next(posts)
        return Fault.until(recovered) if i >= 6 and not recovered.is_set() else None
    s = fast_settings(concurrency=8, start_concurrency=8, read_timeout=1.0, request_timeout=2.0, deadline=120,
                      retries=3, timeout_streak=4)
    with FakeLLMServer(fault_fn=fault) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    bad = [(r.probe_id, r.error) for r in tr.results if not r.ok]
    assert not bad, bad
    p = tr.pacing
    assert p["not_answering"] is None and p["liveness_checks"] >= 1, p
    assert p["timeout_scale"] >= 2.0 and p["resent"] >= 4, p
    assert p["cuts"] >= 1 and p["final_concurrency"] < p["peak_concurrency"], p


def test_slow_server_gets_longer_timeouts_and_every_probe(tmp_path):
    # after 4 quick answers every reply takes 2.5 s against a 1 s read timeout: timeouts on a
    # server that still answers. The old rule gave it up after 8 probes in a row timed out (the
    # README's command lost 114 of 212 probes so on SmolLM2); now a probe sent again gets
    # twice its last timeouts (2 s, then 4 s: the reply fits), as does every later request
    # once a streak's check found the server there, and every probe is answered.
    ps = probe_set(tmp_path, many_probes_toml(12))
    posts = itertools.count()
    lock = threading.Lock()

    def fault(req):
        if req.method != "POST":
            return None
        with lock:
            return Fault.delay_(2.5) if next(posts) >= 4 else None
    s = fast_settings(concurrency=4, start_concurrency=4, read_timeout=1.0, request_timeout=2.0, deadline=300,
                      retries=3, timeout_streak=4)
    with FakeLLMServer(fault_fn=fault) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    bad = [(r.probe_id, r.error) for r in tr.results if not r.ok]
    assert not bad, bad
    p = tr.pacing
    assert p["not_answering"] is None, p
    assert p["timeout_scale"] >= 2.0 and p["resent"] >= 4, p       # 2.5 s never fits in 1 s (the first 4 slow ones)


def test_server_whose_model_stops_is_given_up_though_it_answers_get_models(tmp_path):
    # answers 4 probes, then its chat requests hang for good while GET /models still answers:
    # the timeouts are stretched to their longest, and a streak there with nothing answered
    # declares it not answering (bounded: a stuck model does not hold the run to its deadline)
    ps = probe_set(tmp_path, many_probes_toml(30))
    posts = itertools.count()
    lock = threading.Lock()

    def fault(req):
        if req.method != "POST":
            return None
        with lock:
            return Fault.hang() if next(posts) >= 4 else None
    s = fast_settings(concurrency=2, start_concurrency=2, read_timeout=0.3, request_timeout=0.6, deadline=120,
                      retries=3, timeout_streak=4)
    with FakeLLMServer(fault_fn=fault) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    p = tr.pacing
    assert p["timeout_scale"] == 4.0, p
    assert p["not_answering"].startswith("the server still answers (GET /models: HTTP 200), but its model "
                                         "answered nothing to "), p
    assert tr.counts()["ok"] == 4
    assert sum(r.error.startswith("not sent: endpoint not answering") for r in tr.results if not r.ok) >= 10


def test_a_long_answer_on_a_slow_server_gets_the_time_it_takes():
    # replies have taken 0.05 s a token: a 300-token answer needs about 15 s, far past the 1.5 s
    # read timeout, so it goes with the longest timeouts at once instead of being cut and re-sent;
    # a 4-token one keeps the configured timeout
    s = fast_settings(concurrency=4, start_concurrency=4, read_timeout=1.5)
    p = Pacer(s)
    for i in range(5):
        _reply(p, 1, 0.05 * (40 + 8), 40, t=float(i))
    assert p.timeout_scale_for(None) == 1.0 and p.timeout_scale_for(4) == 1.0
    assert p.timeout_scale_for(300) == 4.0
    assert p.timeout_scale_for(30) == pytest.approx(1.5 * 0.05 * (30 + 8) / 1.5)
