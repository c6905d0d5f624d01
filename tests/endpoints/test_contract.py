"""One contract, every registered protocol: each adapter of endpoints/registry.py against the
fake server speaking its wire format on 127.0.0.1, streamed and not, its errors and its usage.

A protocol added to the registry is tested here at once; the fake server must speak it
(``FakeLLMServer.base_for``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from provenance.endpoints import registry
from provenance.endpoints.base import get_endpoint_class, make_endpoint
from provenance.endpoints.http import HttpExecutor
from provenance.settings import make_target
from provenance.testing.fakeserver import FakeLLMServer, Fault, default_chunks
from provenance.transcript import ErrorKind

from factory import fast_settings, probe_set

KEY = "sk-contract-KEY-0123456789abcdef"
ENV = "CONTRACT_TEST_KEY"
ANSWER = "I am a contract model, made to answer tests."
PROTOCOLS = registry.names()


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


def target_of(srv, protocol, monkeypatch, model="contract-m"):
    monkeypatch.setenv(ENV, KEY)
    return make_target(srv.base_for(protocol), model, protocol=protocol, api_key_env=ENV)


def test_every_protocol_describes_itself() -> None:
    """Its registry line names a class with that protocol, a key variable and help text; the
    class declares its models and liveness URLs and how its requests stream."""
    assert len(set(PROTOCOLS)) == len(PROTOCOLS) >= 2
    for spec in registry.PROTOCOLS:
        cls = get_endpoint_class(spec.name)
        assert cls.protocol == spec.name and cls.key_env() == spec.key_env
        assert spec.key_env.isupper() and spec.base_url and spec.name in registry.protocol_help()
        assert spec.key_env in registry.key_env_help()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_non_stream_reply_usage_and_key(protocol, ps, monkeypatch) -> None:
    with FakeLLMServer(api_key=KEY, answer_fn=lambda body: ANSWER, usage_fn=lambda msgs: 42) as srv:
        r = run_one(target_of(srv, protocol, monkeypatch), ps.get("t.chat"))
        assert r.status == "ok", r.error
        assert r.text == ANSWER and r.stream is False and r.chunks is None
        assert r.finish_reason and r.response_model == "contract-m" and r.response_id
        assert r.tokens is not None and r.tokens.prompt == 42 and r.tokens.completion == len(default_chunks(ANSWER))
        assert r.token_usage() == r.tokens and r.usage                  # the raw usage is kept beside it
        sent = srv.requests[-1]
        assert any(KEY in v for v in sent.headers.values())              # in the protocol's own header
        assert KEY not in json.dumps(r.to_dict())
        assert "Be brief." in json.dumps(sent.json) and "Who made you?" in json.dumps(sent.json)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stream_reply_chunks_and_usage(protocol, ps, monkeypatch) -> None:
    with FakeLLMServer(answer_fn=lambda body: ANSWER, usage_fn=lambda msgs: 7) as srv:
        r = run_one(target_of(srv, protocol, monkeypatch), ps.get("t.stream"))
        assert r.status == "ok", r.error
        assert r.stream is True and r.chunks == default_chunks(ANSWER) and "".join(r.chunks) == r.text
        assert r.finish_reason and r.tokens.prompt == 7 and r.tokens.completion == len(r.chunks)
        assert srv.requests[-1].headers.get("accept") == "text/event-stream"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_answer_cut_at_max_tokens(protocol, ps, monkeypatch) -> None:
    with FakeLLMServer(answer_fn=lambda body: "word " * 200) as srv:
        for pid in ("t.chat", "t.stream"):
            r = run_one(target_of(srv, protocol, monkeypatch), ps.get(pid))
            assert r.status == "ok", r.error
            assert r.tokens.completion == 64 and r.finish_reason not in (None, "stop", "end_turn", "STOP")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("code,kind", [(429, ErrorKind.RATE_LIMITED), (503, ErrorKind.SERVER_ERROR),
                                       (401, ErrorKind.AUTH), (404, ErrorKind.NOT_FOUND),
                                       (400, ErrorKind.REJECTED)])
def test_error_replies_have_their_kind(protocol, code, kind, ps, monkeypatch) -> None:
    with FakeLLMServer(faults=[Fault.status(code)]) as srv:
        r = run_one(target_of(srv, protocol, monkeypatch), ps.get("t.chat"), retries=0)
        assert r.status == "failed" and r.http_status == code and r.failed_as() == kind
        assert r.error_body and "\n" not in r.error


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault,probe", [(Fault.malformed_json(), "t.chat"), (Fault.wrong_shape(), "t.chat"),
                                         (Fault.null_content(), "t.chat"), (Fault.null_content(), "t.stream"),
                                         (Fault.malformed_json(), "t.stream"), (Fault.wrong_shape(), "t.stream")])
def test_unusable_replies_are_bad_replies(protocol, fault, probe, ps, monkeypatch) -> None:
    with FakeLLMServer(faults=[fault]) as srv:
        r = run_one(target_of(srv, protocol, monkeypatch), ps.get(probe), retries=0)
        assert r.status == "failed" and r.failed_as() == ErrorKind.BAD_REPLY and r.error.startswith("bad response")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transport_faults_have_their_kind(protocol, ps, monkeypatch) -> None:
    from factory import free_port
    monkeypatch.setenv(ENV, KEY)
    dead = make_target(f"http://127.0.0.1:{free_port()}", "m", protocol=protocol, api_key_env=ENV)
    r = run_one(dead, ps.get("t.chat"), retries=0)
    assert r.status == "failed" and r.failed_as() == ErrorKind.CONNECT
    with FakeLLMServer(faults=[Fault.hang()]) as srv:
        r = run_one(target_of(srv, protocol, monkeypatch), ps.get("t.chat"), retries=0, read_timeout=0.3,
                    request_timeout=0.5)
        assert r.status == "failed" and r.failed_as() == ErrorKind.TIMEOUT


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_invalid_probe_records_the_error_reply(protocol, ps, monkeypatch) -> None:
    """The API-surface probe's error reply is its observation (4xx, never retried)."""
    with FakeLLMServer() as srv:
        r = run_one(target_of(srv, protocol, monkeypatch), ps.get("t.invalid"))
        assert r.status == "ok" and r.http_status == 400 and r.error is None and r.error_body
        assert srv.request_count == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_models_and_liveness_urls_answer(protocol, monkeypatch) -> None:
    with FakeLLMServer(models=("contract-m",)) as srv:
        ep = make_endpoint(target_of(srv, protocol, monkeypatch), fast_settings())

        async def get(url):
            async with HttpExecutor(fast_settings()) as ex:
                return await ex.request("GET", url, headers=ep.public_headers(), secret_headers=ep.auth_headers())
        for url in (ep.models_url(), ep.liveness_url()):
            res = asyncio.run(get(url))
            assert res.status == 200 and b"contract-m" in res.body


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_default_key_variable(protocol, monkeypatch) -> None:
    """Without --api-key-env a protocol reads its own variable, when set."""
    spec = registry.get(protocol)
    monkeypatch.setenv(spec.key_env, KEY)
    assert make_target("http://127.0.0.1:9/v1", "m", protocol=protocol).api_key_env == spec.key_env
    monkeypatch.delenv(spec.key_env)
    assert make_target("http://127.0.0.1:9/v1", "m", protocol=protocol).api_key_env is None
