"""API-surface channel: serving-stack detection on recorded-style fixtures (written for
these tests from the documented formats) and on a real local server."""

from __future__ import annotations

import pytest

from provenance.channels.api import UNRECOGNISED, api_channel, collect_signals
from provenance.probes import load_probeset
from provenance.probing.one_target import run_probes_sync
from provenance.settings import RunSettings, Target
from provenance.testing.fakeserver import Fault, FakeLLMServer
from provenance.transcript import ProbeResult, Transcript, filter_headers

INVALID = "api.invalid.response_format"


def tr(base_url="http://10.0.0.5:8080/v1", *, headers=None, rid=None, fp=None, model=None,
       error_body=None, error_status=400, n=3):
    res = []
    for i in range(n):
        res.append(ProbeResult(probe_id=f"x.chat{i}", family="identity", text="hello", http_status=200,
                               headers=filter_headers((headers or {}).items()),
                               response_id=(rid(i) if callable(rid) else rid), system_fingerprint=fp,
                               response_model=model, request={"model": "m"}))
    if error_body is not None:
        res.append(ProbeResult(probe_id=INVALID, family="api", status="failed", http_status=error_status,
                               error="HTTP 400", error_body=error_body,
                               headers=filter_headers((headers or {}).items())))
    return Transcript(target={"base_url": base_url, "protocol": "openai", "model": "m"}, probeset={}, results=res)


FIXTURES = {
    "openai": dict(
        base_url="https://gateway.example.net/v1",
        headers={"openai-processing-ms": "412", "openai-version": "2020-10-01", "x-request-id": "req_5f0c2a",
                 "x-ratelimit-limit-requests": "10000"},
        rid="chatcmpl-" + "Ab3dE" * 5 + "f9Gh", fp="fp_3b2e9c1d0a",
        error_body={"error": {"message": "Invalid value for 'response_format.type'.", "type": "invalid_request_error",
                              "param": "response_format.type", "code": "invalid_value"}}),
    "anthropic": dict(
        base_url="https://llm-proxy.example.org",
        headers={"anthropic-ratelimit-requests-limit": "50", "request-id": "req_01XyZ"},
        rid="msg_01" + "Qw3rTy" * 4,
        error_body={"type": "error", "error": {"type": "invalid_request_error",
                                               "message": "response_format: Extra inputs are not permitted"}}),
    "llama.cpp": dict(
        headers={"server": "llama.cpp", "content-type": "application/json; charset=utf-8"},
        rid=lambda i: "chatcmpl-" + ("kP2mZx9Qa1Lr" * 3)[:32], fp="b6123-1a2b3c4d",
        error_body={"error": {"code": 400, "message": "response_format type must be one of \"text\" or "
                              "\"json_object\", but got: provenance_invalid_format", "type": "invalid_request_error"}}),
    "vllm": dict(
        headers={"server": "uvicorn"}, rid=lambda i: "chatcmpl-" + f"{i:x}" * 1 + "0f3a9c4e1b7d2a6f8e5c0b9a3d7f1e2",
        error_body={"object": "error", "message": "unknown response_format type", "type": "BadRequestError",
                    "param": None, "code": 400}),
    "ollama": dict(
        base_url="http://127.0.0.1:11434/v1", rid=lambda i: f"chatcmpl-{100 + i}", fp="fp_ollama",
        error_body={"error": {"message": "invalid response_format", "type": "invalid_request_error",
                              "param": None, "code": None}}),
    "openrouter": dict(
        base_url="https://openrouter.ai/api/v1", rid=lambda i: f"gen-17300000{i:02d}-Kx8QwErTy5UiOp3AsDf",
        error_body={"error": {"message": "Provider returned error", "code": 400,
                              "metadata": {"provider_name": "SomeHost"}}}),
    "tgi": dict(
        headers={"x-compute-type": "gpu+optimized", "x-validation-time": "1", "x-queue-time": "0",
                 "x-compute-time": "0.41"},
        rid="", fp="3.1.0-sha-7a3c9d1",
        error_body={"error": "Input validation error: unknown response_format", "error_type": "validation"}),
}


@pytest.mark.parametrize("stack", sorted(FIXTURES))
def test_stack_detected_from_fixture(stack):
    ch = api_channel(tr(**FIXTURES[stack]))
    assert ch.available and ch.name == "api"
    assert ch.summary["stack"] == stack, ch.summary
    assert ch.summary["confidence"] > 0.9
    assert ch.summary["signals"] and ch.evidence


def test_unrecognised_stack():
    ch = api_channel(tr(headers={"server": "nginx"}, rid="r-123", error_body={"message": "bad"}))
    assert ch.summary["stack"] == UNRECOGNISED
    assert max(ch.loglik.values()) - min(ch.loglik.values()) == pytest.approx(0.0, abs=0.05)


def test_each_stack_signal_alone():
    """Single signals: the header, the id format, the fingerprint, the error shape."""
    assert api_channel(tr(headers={"server": "llama.cpp"})).summary["stack"] == "llama.cpp"
    assert api_channel(tr(fp="b4524-6171c9d2")).summary["stack"] == "llama.cpp"
    assert api_channel(tr(fp="fp_ollama")).summary["stack"] == "ollama"
    assert api_channel(tr(headers={"openai-processing-ms": "80"})).summary["stack"] == "openai"
    assert api_channel(tr(rid="gen-1730000000-AbCdEfGhIjKlMnOpQrSt")).summary["stack"] == "openrouter"
    assert api_channel(tr(base_url="https://api.anthropic.com")).summary["stack"] == "anthropic"


def test_creator_weights_follow_the_stack():
    oa = api_channel(tr(**FIXTURES["openai"]))
    assert oa.loglik["OpenAI"] == 0.0 and oa.loglik["Meta"] <= -3.0 and oa.default <= -3.0
    an = api_channel(tr(**FIXTURES["anthropic"]))
    assert an.loglik["Anthropic"] == 0.0 and an.loglik["OpenAI"] <= -3.0
    lc = api_channel(tr(**FIXTURES["llama.cpp"]))
    assert lc.loglik["Anthropic"] < lc.loglik["OpenAI"] < lc.loglik["Alibaba"] == 0.0
    assert lc.loglik["Meta"] == lc.loglik["Alibaba"] == lc.default
    orr = api_channel(tr(**FIXTURES["openrouter"]))
    assert max(orr.loglik.values()) - min(orr.loglik.values()) < 0.1


def test_router_naming_a_first_party_provider():
    t = tr(**FIXTURES["openrouter"])
    for r in t.results:
        r.provider = "Anthropic"
    ch = api_channel(t)
    assert ch.summary["stack"] == "openrouter" and ch.summary["upstream_providers"] == ["Anthropic"]
    assert any("served by Anthropic" in e.text for e in ch.evidence)
    # the creator weight of a provider is the classifier's learned P(provider | creator)
    # (tests/channels/test_provider.py), so the API channel itself adds none: never counted twice
    assert max(ch.loglik.values()) - min(ch.loglik.values()) < 0.1
    for r in t.results:
        r.provider = "SomeHost"
    ch = api_channel(t)
    assert max(ch.loglik.values()) - min(ch.loglik.values()) < 0.1


def test_no_replies():
    t = Transcript(target={}, probeset={}, results=[ProbeResult(probe_id="a", family="api", status="skipped")])
    ch = api_channel(t)
    assert not ch.available and ch.reason


def test_fake_server_posing_as_llama_cpp_end_to_end():
    """A real HTTP server with llama.cpp's header, fingerprint and error reply to the invalid probe."""
    ps = load_probeset()
    probes = [p for p in ps.probes if p.family == "api" or p.id == "tokenizer.baseline"]
    err = {"error": {"code": 400, "type": "invalid_request_error",
                     "message": "response_format type must be one of \"text\" or \"json_object\", but got: x"}}

    def fault(req):
        body = req.json or {}
        return Fault.status(400, body=err, headers={"Server": "llama.cpp"}) if "response_format" in body else None

    with FakeLLMServer(headers={"Server": "llama.cpp"}, system_fingerprint="b6000-abcdef12", fault_fn=fault) as srv:
        t = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, probes=probes,
                            settings=RunSettings(retries=0, deadline=20.0, read_timeout=5.0))
    inv = t.by_id()["api.invalid.response_format"]
    assert inv.http_status == 400 and isinstance(inv.error_body, dict)
    ch = api_channel(t)
    assert ch.summary["stack"] == "llama.cpp" and ch.summary["confidence"] > 0.99
    texts = " ".join(s["signal"] for s in ch.summary["signals"])
    assert "server: llama.cpp" in texts and "response_format" in texts


def test_signals_are_deduplicated():
    sig = collect_signals(tr(headers={"server": "llama.cpp"}, n=10))
    assert len([s for s in sig if s.stack == "llama.cpp"]) == 1
