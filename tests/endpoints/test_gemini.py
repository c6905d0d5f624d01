"""Google's Gemini API (``--protocol gemini``): request shapes, its reply, stream, usage and error
shapes against a real loopback server speaking them, and the CLI's verdict over it."""

from __future__ import annotations

import asyncio
import json

import pytest

from provenance.endpoints.base import make_endpoint
from provenance.errors import ConfigError
from provenance.settings import Target, make_target, validate_base_url
from provenance.testing.fakeserver import FakeLLMServer, Fault
from provenance.transcript import ErrorKind

from factory import REPORTS, fast_settings, probe_set, replay_server, run_cli

KEY = "AIza-gemini-test-KEY-0123456789"


@pytest.fixture
def ps(tmp_path):
    return probe_set(tmp_path)


def run_one(target, probe, **settings):
    s = fast_settings(**settings)

    async def go():
        ep = make_endpoint(target, s)
        async with ep:
            return await ep.run_probe(probe, deadline_at=asyncio.get_running_loop().time() + s.deadline)
    return asyncio.run(go())


def gemini(base: str, model: str = "gemini-2.5-flash") -> Target:
    return Target(base_url=base, model=model, protocol="gemini")


def test_request_shape_and_urls(ps):
    for base, root in (("https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta"),
                       ("http://h:1/proxy/google", "http://h:1/proxy/google/v1beta"),
                       ("http://h:1/v1beta", "http://h:1/v1beta")):
        ep = make_endpoint(gemini(base, "models/gemini-2.5-flash"), fast_settings())
        req = ep.build_request(ps.get("t.chat"))
        assert req.url == f"{root}/models/gemini-2.5-flash:generateContent" and req.stream is False
        assert ep.models_url() == ep.liveness_url() == f"{root}/models"
    assert req.body == {"contents": [{"role": "user", "parts": [{"text": "Who made you?"}]}],
                        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.0},
                        "systemInstruction": {"parts": [{"text": "Be brief."}]}}
    req = ep.build_request(ps.get("t.stream"))
    assert req.url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse") and req.stream is True
    assert "stream" not in req.body
    assert ep.build_request(ps.get("t.invalid")).body["max_tokens"] == -1       # params merged as they are


def test_key_header_and_none_without_a_key(ps, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    with FakeLLMServer(api_key=KEY) as srv:
        t = make_target(srv.base_for("gemini"), "gemini-x", protocol="gemini")
        assert t.api_key_env == "GEMINI_API_KEY"
        r = run_one(t, ps.get("t.chat"))
        assert r.status == "ok", r.error
        sent = srv.requests[-1]
        assert sent.headers["x-goog-api-key"] == KEY and "authorization" not in sent.headers
        assert sent.path == "/v1beta/models/gemini-x:generateContent"
        assert r.request["headers"].get("x-goog-api-key") is None and KEY not in json.dumps(r.to_dict())
    monkeypatch.delenv("GEMINI_API_KEY")
    with FakeLLMServer(api_key=KEY) as srv:
        r = run_one(make_target(srv.base_for("gemini"), "gemini-x", protocol="gemini"), ps.get("t.chat"))
        assert r.status == "failed" and r.failed_as() == ErrorKind.AUTH and "x-goog-api-key" not in srv.requests[-1].headers


def test_reply_usage_and_model_echo(ps):
    with FakeLLMServer(answer_fn=lambda body: "I was built by a fake lab.", usage_fn=lambda m: 11,
                       model="gemini-2.5-flash-001") as srv:
        r = run_one(gemini(srv.base_for("gemini", "proxy")), ps.get("t.chat"))
        assert r.status == "ok", r.error
        assert r.text == "I was built by a fake lab." and r.finish_reason == "STOP"
        assert r.response_model == "gemini-2.5-flash-001" and r.response_id.endswith("fakegemini")
        assert r.usage["promptTokenCount"] == 11 and (r.tokens.prompt, r.tokens.completion) == (11, 7)
        assert srv.requests[-1].path == "/proxy/v1beta/models/gemini-2.5-flash:generateContent"
        s = run_one(gemini(srv.base_for("gemini")), ps.get("t.stream"))
        assert s.status == "ok", s.error
        assert s.stream and s.chunks == ["I", " was", " built", " by", " a", " fake", " lab."]
        assert s.tokens.prompt == 11 and s.tokens.completion == 7 and s.finish_reason == "STOP"
        assert srv.requests[-1].query == "alt=sse"


def _serve(doc_or_events, status=200, stream=False):
    """A fake whose every POST gets this exact body (a JSON document, or SSE event lines)."""
    if stream:
        body = "".join(f"data: {json.dumps(d)}\r\n\r\n" for d in doc_or_events).encode()
        return FakeLLMServer(fault_fn=lambda req: Fault.status(status, body=body,
                                                               headers={"Content-Type": "text/event-stream"}))
    return FakeLLMServer(fault_fn=lambda req: Fault.status(status, body=json.dumps(doc_or_events)))


def test_usage_cached_thoughts_and_empty_candidates(ps):
    doc = {"candidates": [{"content": {"role": "model", "parts": [{"text": "thinking...", "thought": True},
                                                                  {"text": "Answer."}]},
                           "finishReason": "STOP"}],
           "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 2, "cachedContentTokenCount": 24,
                             "thoughtsTokenCount": 50}, "modelVersion": "gemini-2.5-pro", "responseId": "abc"}
    with _serve(doc) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.chat"))
        assert r.status == "ok" and r.text == "Answer."
        assert (r.tokens.prompt, r.tokens.completion, r.tokens.cached) == (30, 2, 24)
    # a thinking model's budget spent before any text: an empty answer whose usage still counts
    spent = {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}],
             "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}
    with _serve(spent) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.chat"))
        assert r.status == "ok" and r.text == "" and r.finish_reason == "MAX_TOKENS" and r.tokens.prompt == 9
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}
    with _serve(blocked) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.chat"))
        assert r.failed_as() == ErrorKind.BAD_REPLY and "blocked (SAFETY)" in r.error


def test_stream_usage_from_the_last_event_and_no_end_marker(ps):
    events = [{"candidates": [{"content": {"parts": [{"text": "Hel"}]}}], "usageMetadata": {"promptTokenCount": 5}},
              {"candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}}]
    with _serve(events, stream=True) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.stream"))
        assert r.status == "ok", r.error
        assert r.chunks == ["Hel", "lo"] and r.tokens.completion == 2 and r.finish_reason == "STOP"
    with _serve(events[:1], stream=True) as srv:                     # cut before any finishReason
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.stream"))
        assert r.failed_as() == ErrorKind.BAD_REPLY and "ended early" in r.error
    err = [{"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}]
    with _serve(err, stream=True) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.stream"))
        assert r.failed_as() == ErrorKind.BAD_REPLY and "INTERNAL: Internal error" in r.error


def test_error_shape_and_kinds(ps):
    """Gemini's {error: {code, message, status}}: RESOURCE_EXHAUSTED is rate limiting and
    UNAVAILABLE a server error whatever the HTTP status; both are retried as 429/503 are."""
    quota = {"error": {"code": 429, "message": "Quota exceeded for metric", "status": "RESOURCE_EXHAUSTED"}}
    with FakeLLMServer(faults=[Fault.status(429, body=quota)]) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.chat"), retries=0)
        assert r.failed_as() == ErrorKind.RATE_LIMITED
        assert r.error == "rate limited: HTTP 429: RESOURCE_EXHAUSTED: Quota exceeded for metric"
    odd = {"error": {"code": 400, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
    with FakeLLMServer(faults=[Fault.status(400, body=odd)]) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.chat"), retries=0)
        assert r.failed_as() == ErrorKind.RATE_LIMITED and r.error.startswith("rate limited: HTTP 400")
    with FakeLLMServer(faults=[Fault.status(503), Fault.status(429, retry_after="0")]) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.chat"))
        assert r.status == "ok" and r.attempts == 3                  # 503 UNAVAILABLE and 429 retried
    with FakeLLMServer(faults=[Fault.status(503)]) as srv:
        r = run_one(gemini(srv.base_for("gemini")), ps.get("t.chat"), retries=0)
        assert r.failed_as() == ErrorKind.SERVER_ERROR and r.error_body["error"]["status"] == "UNAVAILABLE"


def test_a_pasted_method_url_is_refused_with_the_base():
    with pytest.raises(ConfigError, match="endpoint path: give the base URL, e.g. https://generativelanguage.googleapis.com"):
        validate_base_url("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent")
    assert validate_base_url("https://generativelanguage.googleapis.com/") == "https://generativelanguage.googleapis.com"


def test_cli_probe_over_gemini_reads_the_answers_and_gives_a_verdict(tmp_path):
    """`provenance probe BASE --protocol gemini --model M --json` against a loopback server speaking
    Gemini's wire format, replaying a recorded model: every answer read, a verdict given."""
    with replay_server(REPORTS / "qwen2.5-coder-0.5b.json", "qwen2", model="qwen-served") as srv:
        p = run_cli(["probe", srv.base_for("gemini", "gw"), "--protocol", "gemini", "--model", "qwen2.5-coder",
                     "--json"], tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["target"]["protocol"] == "gemini"
    ok = [q for q in doc["probes"] if q["status"] == "ok"]
    assert len(ok) >= 0.95 * len(doc["probes"]) and all(q["request"]["url"].startswith(srv.base_for("gemini", "gw"))
                                                          for q in doc["probes"])
    assert all(q["tokens"]["prompt"] for q in ok if q["family"] != "api")
    a = doc["attribution"]
    assert a["status"] in ("match", "ambiguous", "unknown") and a["candidates"]
    assert a["tokenizer"]["summary"]["family"] == "qwen2"            # the normalised usage reached the tokenizer channel
    assert "qwen-served" in json.dumps(a.get("model_echo"))
