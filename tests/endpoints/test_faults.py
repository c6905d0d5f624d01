"""Fault injection: every misbehaviour against the real fake server ends in bounded time,
with failed probes recorded with reasons, and never leaks the API key."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time

import pytest

from provenance.endpoints.openai import list_models
from provenance.errors import ProvenanceError
from provenance.probing.one_target import run_probes_sync
from provenance.settings import Target, make_target
from provenance.testing.fakeserver import FakeLLMServer, Fault

from factory import CHAT_TOML, STREAM_TOML, fast_settings, free_port, probe_set

KEY_ENV = "PROVENANCE_FAULT_TEST_KEY"
KEY = "sk-FAULTTEST-do-not-leak-4f8a2c"


def run(srv: FakeLLMServer, ps, protocol="openai", **kw):
    s = fast_settings(**kw)
    base = srv.base_url if protocol == "openai" else srv.anthropic_base_url
    t0 = time.monotonic()
    tr = run_probes_sync(Target(base_url=base, model="m", protocol=protocol), ps, settings=s)
    elapsed = time.monotonic() - t0
    # generous on a busy 2-core machine: the point is that it stops, not how fast
    assert elapsed < s.deadline + 10.0, f"run took {elapsed:.1f}s, deadline {s.deadline}s"
    assert len(tr.results) == len(ps.probes)
    return tr.results[0]


def gaps(srv: FakeLLMServer) -> list[float]:
    ts = [r.received_at for r in srv.requests]
    return [b - a for a, b in zip(ts, ts[1:])]


# ---------------------------------------------------------------- retries

def test_429_without_retry_after_then_success(chat):
    with FakeLLMServer(faults=[Fault.status(429), Fault.status(429)]) as srv:
        r = run(srv, chat)
        assert r.status == "ok" and r.attempts == 3 and srv.request_count == 3


def test_429_retry_after_seconds_is_honoured(chat):
    with FakeLLMServer(faults=[Fault.status(429, retry_after="1")]) as srv:
        r = run(srv, chat, backoff_max=2.0)
        assert r.status == "ok" and r.attempts == 2
        assert gaps(srv)[0] >= 0.95


def test_429_retry_after_is_capped_by_backoff_max(chat):
    with FakeLLMServer(faults=[Fault.status(429, retry_after="3600")]) as srv:
        r = run(srv, chat, backoff_max=0.2)
        assert r.status == "ok" and r.attempts == 2
        assert 0.19 <= gaps(srv)[0]


def test_429_retry_after_http_date(chat):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    with FakeLLMServer(faults=[Fault.status(429, retry_after=when)]) as srv:
        r = run(srv, chat, backoff_max=1.5)
        assert r.status == "ok" and r.attempts == 2
        assert gaps(srv)[0] >= 0.5


def test_429_forever_fails_as_rate_limited(chat):
    with FakeLLMServer(fault_fn=lambda req: Fault.status(429, retry_after="0")) as srv:
        r = run(srv, chat, retries=2)
        assert r.status == "failed" and r.http_status == 429 and r.attempts == 3
        assert r.error.startswith("rate limited: HTTP 429 after 3 attempts")
        assert r.headers.get("retry-after") == "0"


@pytest.mark.parametrize("codes", [(500,), (502, 503), (500, 502, 503)])
def test_5xx_bursts_then_success(chat, codes):
    with FakeLLMServer(faults=[Fault.status(c) for c in codes]) as srv:
        r = run(srv, chat)
        assert r.status == "ok" and r.attempts == len(codes) + 1


def test_5xx_outliving_retries(chat):
    with FakeLLMServer(fault_fn=lambda req: Fault.status(503)) as srv:
        r = run(srv, chat, retries=3)
        assert r.status == "failed" and r.attempts == 4 and srv.request_count == 4
        assert r.error.startswith("server error: HTTP 503 after 4 attempts")
        assert r.error_body["error"]["type"] == "server_error"


def test_anthropic_overloaded_529_then_success(chat):
    with FakeLLMServer(faults=[Fault.status(529)]) as srv:
        r = run(srv, chat, protocol="anthropic")
        assert r.status == "ok" and r.attempts == 2


# ---------------------------------------------------------------- transport faults

def test_connection_refused(chat):
    port = free_port()
    s = fast_settings(retries=2)
    t0 = time.monotonic()
    tr = run_probes_sync(Target(base_url=f"http://127.0.0.1:{port}/v1", model="m"), chat, settings=s)
    assert time.monotonic() - t0 < s.deadline + 10          # generous: the point is that it stops
    r = tr.results[0]
    assert r.status == "failed" and r.attempts == 3 and r.error.startswith("connection failed")
    assert r.http_status is None


def test_reset_mid_body_then_success(chat):
    with FakeLLMServer(faults=[Fault.reset(after_bytes=25)]) as srv:
        r = run(srv, chat)
        assert r.status == "ok" and r.attempts == 2


def test_reset_mid_stream_always(stream):
    with FakeLLMServer(fault_fn=lambda req: Fault.reset(after_bytes=60)) as srv:
        r = run(srv, stream, retries=1)
        assert r.status == "failed" and r.attempts == 2
        assert r.error.startswith("transport error")


def test_disconnect_without_reply(chat):
    with FakeLLMServer(faults=[Fault.disconnect()]) as srv:
        r = run(srv, chat)
        assert r.status == "ok" and r.attempts == 2


def test_accept_and_never_answer(chat):
    with FakeLLMServer(fault_fn=lambda req: Fault.hang()) as srv:
        r = run(srv, chat, read_timeout=0.5, retries=1)
        assert r.status == "failed" and r.error.startswith("timeout") and r.attempts == 2


def test_hang_bounded_by_target_deadline(chat):
    with FakeLLMServer(fault_fn=lambda req: Fault.hang()) as srv:
        r = run(srv, chat, read_timeout=10, request_timeout=10, deadline=1.0)
        assert r.status == "failed" and r.error.startswith("deadline")


def test_trickle_cut_by_request_timeout(chat):
    # one byte every 0.2 s never trips the 0.5 s read timeout; the whole-request deadline cuts it
    with FakeLLMServer(fault_fn=lambda req: Fault.trickle(0.2)) as srv:
        r = run(srv, chat, read_timeout=0.5, request_timeout=1.0, retries=0)
        assert r.status == "failed" and r.error.startswith("timeout: no complete reply within 1 s")


def test_trickle_stream_cut_by_target_deadline(stream):
    with FakeLLMServer(fault_fn=lambda req: Fault.trickle(0.2)) as srv:
        r = run(srv, stream, read_timeout=0.5, request_timeout=30, deadline=1.5)
        assert r.status == "failed" and r.error.startswith("deadline")


# ---------------------------------------------------------------- redirects

def test_redirect_same_host_followed(chat):
    with FakeLLMServer(faults=[Fault.redirect("/moved/v1/chat/completions", 307)]) as srv:
        r = run(srv, chat)
        assert r.status == "ok" and r.text
        assert [q.path for q in srv.requests] == ["/v1/chat/completions", "/moved/v1/chat/completions"]
        assert srv.requests[1].json == srv.requests[0].json


def test_redirect_other_host_refused(chat):
    with FakeLLMServer() as srv:
        srv.add_faults(Fault.redirect(f"http://localhost:{srv.port}/v1/chat/completions", 302))
        r = run(srv, chat)
        assert r.status == "failed" and "refused" in r.error and r.attempts == 1
        assert srv.request_count == 1


def test_redirect_to_https_or_other_port_refused(chat):
    with FakeLLMServer() as srv:
        srv.add_faults(Fault.redirect(f"https://127.0.0.1:{srv.port}/v1/chat/completions", 308),
                       Fault.redirect(f"http://127.0.0.1:{free_port()}/v1/chat/completions", 301))
        assert "refused" in run(srv, chat).error
        assert "refused" in run(srv, chat).error
        assert srv.request_count == 2


def test_redirect_loop_stops(chat):
    with FakeLLMServer(fault_fn=lambda req: Fault.redirect("/again/chat/completions")) as srv:
        r = run(srv, chat)
        assert r.status == "failed" and "too many redirects" in r.error
        assert srv.request_count == 4


# ---------------------------------------------------------------- bad content

@pytest.mark.parametrize("fault,reason", [
    (Fault.malformed_json(), "body is not JSON"),
    (Fault.wrong_shape(), "no 'choices' list"),
    (Fault.empty_choices(), "'choices' is empty"),
    (Fault.null_content(), "message content is null"),
])
def test_bad_json_replies(chat, fault, reason):
    with FakeLLMServer(faults=[fault]) as srv:
        r = run(srv, chat)
        assert r.status == "failed" and r.error.startswith("bad response") and reason in r.error
        assert r.attempts == 1 and r.http_status == 200


@pytest.mark.parametrize("fault,reason", [
    (Fault.malformed_json(), "not JSON"),
    (Fault.wrong_shape(), "no 'choices' list"),
    (Fault.empty_choices(), "carried no choices"),
    (Fault.null_content(), "stream content is null"),
])
def test_bad_stream_replies(stream, fault, reason):
    with FakeLLMServer(faults=[fault]) as srv:
        r = run(srv, stream)
        assert r.status == "failed" and reason in r.error, r.error


@pytest.mark.parametrize("fault,reason", [
    (Fault.malformed_json(), "not JSON"),
    (Fault.wrong_shape(), "no 'content' list"),
    (Fault.null_content(), "content is null"),
])
def test_bad_anthropic_replies(chat, stream, fault, reason):
    with FakeLLMServer(faults=[fault, fault]) as srv:
        assert reason in run(srv, chat, protocol="anthropic").error
        assert run(srv, stream, protocol="anthropic").status == "failed"


def test_sse_without_done_still_ok(stream):
    with FakeLLMServer(faults=[Fault.no_done(), Fault.no_done()]) as srv:
        r = run(srv, stream)
        assert r.status == "ok" and r.finish_reason == "stop" and r.usage and r.chunks
        a = run(srv, stream, protocol="anthropic")
        assert a.status == "ok" and a.finish_reason == "end_turn"


def test_sse_split_at_odd_boundaries(stream):
    with FakeLLMServer() as srv:
        normal = run(srv, stream)
        srv.add_faults(Fault.split((1, 2, 3, 5, 7, 11)), Fault.split((1,)))
        split = run(srv, stream)
        single = run(srv, stream)
    assert split.status == "ok" and split.chunks == normal.chunks and split.usage == normal.usage
    assert single.chunks == normal.chunks


def test_invalid_utf8_replaced(chat, stream):
    with FakeLLMServer(fault_fn=lambda req: Fault.bad_utf8()) as srv:
        for ps in (chat, stream):
            for proto in ("openai", "anthropic"):
                r = run(srv, ps, protocol=proto)
                assert r.status == "ok", r.error
                assert "\ufffd" in r.text and r.text.startswith("I am a fake model.")


def test_huge_body_capped(chat):
    with FakeLLMServer(faults=[Fault.huge(50_000_000)]) as srv:
        r = run(srv, chat, max_body_bytes=1_000_000)
        assert r.status == "failed" and r.truncated
        assert "truncated at 1000000 bytes" in r.error


def test_gzip_bomb_capped(chat):
    with FakeLLMServer(faults=[Fault.gzip_bomb(50_000_000)]) as srv:
        r = run(srv, chat, max_body_bytes=1_000_000)
        assert r.status == "failed" and r.truncated and "truncated" in r.error


def test_stream_over_the_cap_is_truncated(stream):
    with FakeLLMServer(answer_fn=lambda body: "word " * 2000) as srv:
        r = run(srv, stream, max_body_bytes=5_000)
        assert r.status == "failed" and r.truncated and "truncated at 5000 bytes" in r.error
        assert r.chunks and r.text.startswith("word word")      # what came before the cap is kept


def test_small_gzip_body_is_decoded(chat):
    with FakeLLMServer(faults=[Fault.gzip_bomb(5_000)]) as srv:
        r = run(srv, chat, max_body_bytes=1_000_000)
        assert r.status == "ok" and len(r.text) > 4_000 and not r.truncated


# ---------------------------------------------------------------- secrets

def test_key_never_recorded_nor_in_exceptions(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    ps = probe_set(tmp_path, CHAT_TOML + STREAM_TOML + '''
[[probe]]
id = "f.invalid"
family = "api"
mode = "invalid"
params = { temperature = 9 }
messages = [{ role = "user", content = "x" }]
''')
    scripts = [
        [Fault.status(429, retry_after="0"), Fault.status(500)],
        [Fault.hang()] * 6, [Fault.reset(10)] * 6, [Fault.malformed_json()] * 3,
        [Fault.status(401)] * 3, [Fault.redirect("http://localhost:1/x")] * 3, [],
    ]
    blobs = []
    for proto in ("openai", "anthropic"):
        for script in scripts:
            with FakeLLMServer(faults=script, api_key=KEY) as srv:
                base = srv.base_url if proto == "openai" else srv.anthropic_base_url
                t = make_target(base, "m", protocol=proto, api_key_env=KEY_ENV)
                tr = run_probes_sync(t, ps, settings=fast_settings(retries=1, read_timeout=0.5, deadline=2.0))
                blobs.append(json.dumps(tr.to_dict()))
                got = [q.headers.get("authorization") or q.headers.get("x-api-key") for q in srv.requests]
                assert got and all(KEY in g for g in got)     # the server did receive it
    assert not any(KEY in b for b in blobs)
    assert not any("FAULTTEST" in b for b in blobs)
    # exception strings from the model lister (refused, 401 and bad reply paths)
    errors = []
    for script in ([Fault.status(401)], [Fault.status(200, body="<html>not json")]):
        with FakeLLMServer(faults=script) as srv:
            with pytest.raises(ProvenanceError) as ei:
                asyncio.run(list_models(srv.base_url, settings=fast_settings(), api_key=KEY))
            errors.append(repr(ei.value) + str(ei.value))
    with pytest.raises(ProvenanceError) as ei:
        asyncio.run(list_models(f"http://127.0.0.1:{free_port()}/v1", settings=fast_settings(retries=0),
                                api_key=KEY))
    errors.append(repr(ei.value) + str(ei.value))
    assert not any(KEY in e for e in errors)
