"""Endpoint adapters against the real local fake server: request shapes and recorded fields."""

from __future__ import annotations

import asyncio
import json
import zlib

import pytest

from provenance.endpoints import registry
from provenance.endpoints.base import get_endpoint_class, make_endpoint
from provenance.endpoints.http import (HttpExecutor, _BoundedDecoder, parse_retry_after,
                                       redirect_allowed, scrub_obj)
from provenance.endpoints.openai import list_models
from provenance.errors import AuthError, ConfigError
from provenance.settings import Target, make_target
from provenance.testing.fakeserver import FakeLLMServer, Fault, default_chunks

from factory import fast_settings, probe_set

KEY = "sk-endpoint-test-KEY-0123456789"


@pytest.fixture
def ps(tmp_path):
    return probe_set(tmp_path)


def run_one(target, probe, settings=None):
    settings = settings or fast_settings()

    async def go():
        ep = make_endpoint(target, settings)
        async with ep:
            return await ep.run_probe(probe, deadline_at=asyncio.get_running_loop().time() + settings.deadline)
    return asyncio.run(go())


# ---------------------------------------------------------------- registry and requests

def test_registry_is_lazy_and_complete():
    assert set(registry.names()) == {"openai", "anthropic", "gemini"}
    for name in registry.names():
        assert get_endpoint_class(name).protocol == name
    with pytest.raises(ConfigError):
        get_endpoint_class("grpc")


def test_openai_request_shape(ps):
    t = Target(base_url="http://h:1/v1", model="m")
    ep = make_endpoint(t, fast_settings())
    req = ep.build_request(ps.get("t.chat"))
    url, body = req.url, req.body
    assert url == "http://h:1/v1/chat/completions" and req.stream is False
    assert body["model"] == "m" and body["max_tokens"] == 64 and body["stream"] is False
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "stream_options" not in body
    req = ep.build_request(ps.get("t.stream"))
    assert req.stream is True and req.body["stream"] is True and req.body["stream_options"] == {"include_usage": True}
    body = ep.build_request(ps.get("t.invalid")).body
    assert body["max_tokens"] == -1                      # params merged over defaults


def test_anthropic_request_shape_and_url(ps):
    for base, want in (("http://h:1", "http://h:1/v1/messages"), ("http://h:1/v1", "http://h:1/v1/messages"),
                       ("http://h:1/api/", "http://h:1/api/v1/messages")):
        ep = make_endpoint(Target(base_url=base, model="c", protocol="anthropic"), fast_settings())
        req = ep.build_request(ps.get("t.chat"))
        body = req.body
        assert req.url == want and ep.models_url() == want.replace("/messages", "/models")
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Who made you?"}]
    assert ep.protocol_headers() == {"anthropic-version": "2023-06-01"}
    req = ep.build_request(ps.get("t.stream"))
    assert req.stream is True and req.body["stream"] is True and "stream_options" not in req.body


# ---------------------------------------------------------------- round trips

def test_openai_non_stream_records_everything(ps, monkeypatch):
    monkeypatch.setenv("EP_TEST_KEY", KEY)
    with FakeLLMServer(api_key=KEY, headers={"x-request-id": "req-1", "openai-version": "2020-10-01"},
                       usage_fn=lambda msgs: 42) as srv:
        t = make_target(srv.base_url, "gpt-x", api_key_env="EP_TEST_KEY")
        r = run_one(t, ps.get("t.chat"))
        assert r.status == "ok", r.error
        assert r.text == "I am a fake model. You said: Who made you?"
        assert r.http_status == 200 and r.attempts == 1 and r.latency_ms is not None
        assert r.response_id.startswith("chatcmpl-") and r.response_model == "gpt-x"
        assert r.system_fingerprint == "fp_fake0001" and r.finish_reason == "stop"
        assert r.usage["prompt_tokens"] == 42
        assert r.headers["x-request-id"] == "req-1" and r.headers["openai-version"] == "2020-10-01"
        assert r.stream is False and r.chunks is None
        assert r.request["url"] == srv.base_url + "/chat/completions"
        assert "authorization" not in {k.lower() for k in r.request["headers"]}
        sent = srv.requests[-1]
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert sent.json["messages"][0]["role"] == "system"
        assert KEY not in json.dumps(r.to_dict())


def test_openai_stream_chunks_usage_and_chunk_fn(ps):
    def chunker(text):
        return [text[i:i + 3] for i in range(0, len(text), 3)]
    with FakeLLMServer(chunk_fn=chunker, system_fingerprint="fp_abc") as srv:
        r = run_one(Target(base_url=srv.base_url, model="m"), ps.get("t.stream"))
        assert r.status == "ok", r.error
        assert r.stream is True
        assert r.chunks == chunker("I am a fake model. You said: count these words")
        assert "".join(r.chunks) == r.text
        assert r.usage["completion_tokens"] == len(r.chunks)
        assert r.system_fingerprint == "fp_abc" and r.finish_reason == "stop"
        assert srv.requests[-1].json["stream_options"] == {"include_usage": True}


def test_openai_stream_finish_length(ps):
    with FakeLLMServer(answer_fn=lambda body: "word " * 200) as srv:
        r = run_one(Target(base_url=srv.base_url, model="m"), ps.get("t.stream"))
        assert r.status == "ok" and r.finish_reason == "length" and len(r.chunks) == 64


def test_anthropic_both_modes(ps, monkeypatch):
    monkeypatch.setenv("ANTH_TEST_KEY", KEY)
    with FakeLLMServer(api_key=KEY, usage_fn=lambda msgs: len(msgs)) as srv:
        t = make_target(srv.anthropic_base_url, "claude-x", protocol="anthropic", api_key_env="ANTH_TEST_KEY")
        r = run_one(t, ps.get("t.chat"))
        assert r.status == "ok", r.error
        assert r.text.endswith("Who made you?") and r.finish_reason == "end_turn"
        assert r.response_id.startswith("msg_") and r.response_model == "claude-x"
        assert r.usage == {"input_tokens": 2, "output_tokens": len(default_chunks(r.text))}
        sent = srv.requests[-1]
        assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == KEY
        assert sent.headers["anthropic-version"] == "2023-06-01"
        assert sent.json["system"] == "Be brief."
        s = run_one(t, ps.get("t.stream"))
        assert s.status == "ok", s.error
        assert s.chunks == default_chunks(s.text) and s.usage["output_tokens"] == len(s.chunks)
        assert s.usage["input_tokens"] == 1
        assert KEY not in json.dumps(r.to_dict()) + json.dumps(s.to_dict())


def test_invalid_mode_records_error_reply_as_observation(ps):
    for proto in ("openai", "anthropic"):
        with FakeLLMServer() as srv:
            base = srv.base_url if proto == "openai" else srv.anthropic_base_url
            r = run_one(Target(base_url=base, model="m", protocol=proto), ps.get("t.invalid"))
            assert r.status == "ok" and r.http_status == 400 and r.attempts == 1
            assert r.error is None and r.text is None
            assert "max_tokens" in json.dumps(r.error_body)
            assert srv.request_count == 1                     # 4xx never retried


def test_4xx_on_normal_probe_fails_without_retry(ps):
    with FakeLLMServer(faults=[Fault.status(401)] * 3) as srv:
        r = run_one(Target(base_url=srv.base_url, model="m"), ps.get("t.chat"))
        assert r.status == "failed" and r.http_status == 401 and r.attempts == 1
        assert r.error.startswith("authentication failed: HTTP 401")
        assert r.error_body["error"]["type"] == "invalid_api_key"
    with FakeLLMServer(faults=[Fault.status(404)]) as srv:
        r = run_one(Target(base_url=srv.base_url, model="m"), ps.get("t.chat"))
        assert r.status == "failed" and "HTTP 404" in r.error


def test_server_ignoring_stream_flag_is_parsed_as_json(ps):
    with FakeLLMServer(ignore_stream=True) as srv:
        r = run_one(Target(base_url=srv.base_url, model="m"), ps.get("t.stream"))
        assert r.status == "ok", r.error
        assert r.stream is True and r.chunks is None and r.text.endswith("count these words")


def test_user_headers_sent_and_secretish_redacted_in_record(ps):
    with FakeLLMServer() as srv:
        t = make_target(srv.base_url, "m", headers={"X-Team": "blue", "X-Api-Token": "tok-SECRET-99"},
                        require_key=False)
        r = run_one(t, ps.get("t.chat"))
        assert r.status == "ok"
        assert r.request["headers"]["x-team"] == "blue"
        assert r.request["headers"]["x-api-token"] == "[redacted]"
        assert srv.requests[-1].headers["x-api-token"] == "tok-SECRET-99"
        assert "tok-SECRET-99" not in json.dumps(r.to_dict())


def test_key_echoed_by_server_is_scrubbed(ps, monkeypatch):
    monkeypatch.setenv("ECHO_KEY", KEY)
    with FakeLLMServer(answer_fn=lambda body: f"your key is {KEY}",
                       faults=[Fault.status(400, body={"error": {"message": f"bad key {KEY}"}})]) as srv:
        t = make_target(srv.base_url, "m", api_key_env="ECHO_KEY")
        bad = run_one(t, ps.get("t.chat"))
        good = run_one(t, ps.get("t.chat"))
        blob = json.dumps(bad.to_dict()) + json.dumps(good.to_dict())
        assert KEY not in blob and "***" in blob


def test_list_models(monkeypatch):
    with FakeLLMServer(models=["a", "b-2"], api_key=KEY) as srv:
        got = asyncio.run(list_models(srv.base_url, settings=fast_settings(), api_key=KEY))
        assert got == ["a", "b-2"]
        with pytest.raises(AuthError) as ei:
            asyncio.run(list_models(srv.base_url, settings=fast_settings(), api_key="sk-wrong-key-000"))
        assert "sk-wrong" not in str(ei.value)


# ---------------------------------------------------------------- http helpers

def test_parse_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-1") is None and parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    now = 1_700_000_000.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:22 GMT", now=now) == pytest.approx(2.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now=now) == 0.0


def test_redirect_policy():
    a = "https://api.example.com/v1/chat/completions"
    assert redirect_allowed(a, "https://api.example.com/v2/chat/completions")
    assert redirect_allowed(a, "https://API.example.com:443/x")
    assert not redirect_allowed(a, "http://api.example.com/v1/chat/completions")   # https -> http
    assert not redirect_allowed(a, "https://evil.example.com/v1")
    assert not redirect_allowed(a, "https://api.example.com:8443/v1")
    assert not redirect_allowed(a, "https://user:pw@api.example.com/v1")
    assert not redirect_allowed("http://h/x", "https://h/x")                      # scheme change


def test_bounded_decoder_stops_at_cap():
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = comp.compress(b"\0" * 20_000_000) + comp.flush()
    d = _BoundedDecoder("gzip")
    out, over = d.feed(bomb, 1000)
    assert len(out) == 1000 and over
    raw = zlib.compress(b"hello world")
    assert _BoundedDecoder("deflate").feed(raw, 100) == (b"hello world", False)
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = raw_deflate.compress(b"abc") + raw_deflate.flush()
    assert _BoundedDecoder("deflate").feed(data, 100)[0] == b"abc"
    assert _BoundedDecoder("").feed(b"abcdef", 4) == (b"abcd", True)


def test_scrub_obj_nested():
    doc = {"a": [f"x{KEY}y", {"k": KEY}], KEY: 1}
    assert KEY not in json.dumps(scrub_obj(doc, [KEY]))


def test_executor_timeout_object_is_explicit():
    ex = HttpExecutor(fast_settings(connect_timeout=1.0, read_timeout=2.0))
    t = ex.timeout()
    assert (t.connect, t.read, t.write) == (1.0, 2.0, 2.0) and t.pool is not None


def test_fake_server_holds_many_slow_connections_at_once():
    async def one(port):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await w.drain()
        data = await r.read()
        w.close()
        await w.wait_closed()
        return data

    async def go(port, srv):
        tasks = [asyncio.create_task(one(port)) for _ in range(200)]
        while srv.request_count < 200:          # all 200 are inside the server at once
            await asyncio.sleep(0.02)
        return await asyncio.gather(*tasks)

    with FakeLLMServer(latency=0.5) as srv:
        replies = asyncio.run(asyncio.wait_for(go(srv.port, srv), 20))
    assert len(replies) == 200 and all(b" 200 OK" in r and b"fake-model" in r for r in replies)


def test_router_provider_is_recorded(tiny_probes) -> None:
    """OpenRouter names the upstream provider in each reply; it is an API-surface observation."""
    from provenance.probes import load_probeset
    from provenance.probing.one_target import run_probes_sync
    from provenance.settings import RunSettings, make_target
    from provenance.testing.fakeserver import FakeLLMServer

    ps = load_probeset(tiny_probes)
    with FakeLLMServer(answer_fn=lambda b: "hello", extra_fields={"provider": "Amazon Bedrock"}) as srv:
        t = run_probes_sync(make_target(srv.base_url, "m"), ps, settings=RunSettings(retries=0, deadline=20))
    assert {r.provider for r in t.results} == {"Amazon Bedrock"}
    assert any(r.stream for r in t.results) and any(not r.stream for r in t.results)
