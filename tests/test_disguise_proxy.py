"""The disguise proxy against the fake server over real loopback HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from provenance.testing.disguise_proxy import DisguiseProxy, inject_system
from provenance.testing.fakeserver import FakeLLMServer

ZEUS = "You are Zeus, an assistant built by Acme Labs. Never mention any other company."


def _echo_system(body):
    sys_msgs = [m.get("content") for m in body.get("messages", []) if m.get("role") == "system"]
    return f"system={sys_msgs!r} n={len(body.get('messages', []))}"


@pytest.fixture
def upstream():
    with FakeLLMServer(answer_fn=_echo_system, headers={"X-Request-Id": "req-123"}) as srv:
        yield srv


@pytest.fixture
def proxy(upstream):
    with DisguiseProxy(upstream.base_url, ZEUS) as p:
        yield p


def test_inject_system_prepends_or_replaces():
    assert inject_system({"messages": [{"role": "user", "content": "hi"}]}, "S")["messages"] == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    body = {"model": "m", "messages": [{"role": "system", "content": "client"}, {"role": "user", "content": "hi"}]}
    out = inject_system(body, "S")
    assert out["messages"][0] == {"role": "system", "content": "S"} and len(out["messages"]) == 2
    assert body["messages"][0]["content"] == "client"          # input not mutated
    assert inject_system("not a dict", "S") == "not a dict"


def test_non_stream_injects_and_passes_headers(upstream, proxy):
    r = httpx.post(proxy.base_url + "/chat/completions", timeout=10,
                   headers={"Authorization": "Bearer sk-secret"},
                   json={"model": "fake-model", "messages": [{"role": "user", "content": "Who made you?"}]})
    assert r.status_code == 200
    doc = r.json()
    assert doc["choices"][0]["message"]["content"] == f"system={[ZEUS]!r} n=2"
    assert r.headers["server"] == "fake-llm/1.0"             # upstream Server header passed through
    assert r.headers["x-request-id"] == "req-123"
    assert doc.get("system_fingerprint") == "fp_fake0001"
    seen = upstream.requests[-1]
    assert seen.json["messages"][0] == {"role": "system", "content": ZEUS}
    assert "authorization" not in seen.headers                 # the client's key stays at the proxy


def test_client_system_message_is_replaced(upstream, proxy):
    r = httpx.post(proxy.base_url + "/chat/completions", timeout=10,
                   json={"model": "fake-model", "messages": [{"role": "system", "content": "You are GPT."},
                                                             {"role": "user", "content": "hi"}]})
    assert r.json()["choices"][0]["message"]["content"] == f"system={[ZEUS]!r} n=2"


def test_stream_passthrough_keeps_chunks(upstream, proxy):
    req = {"model": "fake-model", "stream": True, "stream_options": {"include_usage": True},
           "messages": [{"role": "user", "content": "count"}]}

    def events(base):
        with httpx.stream("POST", base + "/chat/completions", json=req, timeout=10) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            return [line for line in r.iter_lines() if line.startswith("data:")]

    via_proxy = events(proxy.base_url)
    assert via_proxy[-1] == "data: [DONE]"
    pieces = [json.loads(e[5:]) for e in via_proxy[:-1]]
    text = "".join((p["choices"][0]["delta"].get("content") or "") for p in pieces if p.get("choices"))
    assert text == f"system={[ZEUS]!r} n=2"
    assert any(p.get("usage") for p in pieces)
    # Same number of chunks as asking the upstream directly with the same system message.
    direct_req = dict(req, messages=[{"role": "system", "content": ZEUS}] + req["messages"])
    with httpx.stream("POST", upstream.base_url + "/chat/completions", json=direct_req, timeout=10) as r:
        direct = [line for line in r.iter_lines() if line.startswith("data:")]
    assert len(direct) == len(via_proxy)


def test_models_forwarded_and_other_paths_hidden(proxy):
    r = httpx.get(proxy.base_url + "/models", timeout=10)
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "fake-model"
    assert httpx.get(proxy.base_url.replace("/v1", "") + "/props", timeout=10).status_code == 404
    assert httpx.post(proxy.base_url + "/completions", json={}, timeout=10).status_code == 404


def test_model_alias_rewrites_replies(upstream):
    with DisguiseProxy(upstream.base_url, ZEUS, model_alias="zeus-1") as p:
        assert httpx.get(p.base_url + "/models", timeout=10).json()["data"][0]["id"] == "zeus-1"
        r = httpx.post(p.base_url + "/chat/completions", timeout=10,
                       json={"model": "zeus-1", "messages": [{"role": "user", "content": "hi"}]})
        assert r.json()["model"] == "zeus-1"
        with httpx.stream("POST", p.base_url + "/chat/completions", timeout=10,
                          json={"model": "zeus-1", "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]}) as s:
            lines = [x for x in s.iter_lines() if x.startswith("data:") and "[DONE]" not in x]
        assert lines and all(json.loads(x[5:]).get("model") in (None, "zeus-1") for x in lines)


def test_upstream_down_is_502():
    with FakeLLMServer() as srv:
        dead = srv.base_url
    with DisguiseProxy(dead, ZEUS) as p:
        r = httpx.post(p.base_url + "/chat/completions", timeout=10,
                       json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502 and r.json()["error"]["type"] == "proxy_error"
