"""A start that fits the endpoint: what servers say of themselves (endpoints/capacity.py), read
from real loopback servers, and the pacer starting (and capping) where they say."""

from __future__ import annotations

import asyncio
import json
import threading

from factory import fast_settings, many_probes_toml, probe_set
from provenance.endpoints.base import make_endpoint
from provenance.endpoints.capacity import Capacity, from_replies, server_root
from provenance.endpoints.http import HTTPResult
from provenance.probing.one_target import run_probes_sync
from provenance.settings import Target
from provenance.testing.fakeserver import FakeLLMServer, Fault


def reply(doc, status=200):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return HTTPResult(url="http://x/props", status=status, body=body)


def read(srv, **kw):
    ep = make_endpoint(Target(base_url=srv.base_url, model="m"), fast_settings(**kw))

    async def go():
        async with ep:
            return await ep.read_capacity()
    return asyncio.run(go())


def test_server_root():
    assert server_root("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:8080/llama/v1/") == "http://127.0.0.1:8080/llama"
    assert server_root("http://127.0.0.1:8080/api") == "http://127.0.0.1:8080/api"


def test_replies_are_read_as_untrusted_input():
    assert from_replies(reply({"total_slots": 4}), None, None) == Capacity("llama.cpp", "GET /props total_slots",
                                                                           slots=4)
    for bad in ({"total_slots": 0}, {"total_slots": -3}, {"total_slots": 10**9}, {"total_slots": "4"},
                {"total_slots": True}, {"total_slots": 4.5}, [4], b"<html>4</html>", b"\xff\xfe"):
        assert from_replies(reply(bad), None, None) is None, bad
    assert from_replies(reply({"total_slots": 4}, status=404), None, None) is None
    tgi = {"model_id": "x", "max_concurrent_requests": 128, "router": "text-generation-router"}
    assert from_replies(None, reply(tgi), None).slots == 128
    assert from_replies(None, reply({"max_concurrent_requests": 128}), None) is None   # not TGI's shape
    ollama = from_replies(None, None, reply({"version": "0.5.7"}))
    assert ollama.server == "Ollama" and ollama.slots is None and ollama.start == 4
    assert from_replies(None, None, reply({"version": "0.6.3", "extra": 1})) is None    # not Ollama's shape
    assert from_replies(None, None, None) is None


def test_read_from_real_servers():
    with FakeLLMServer(describe={"/props": {"total_slots": 3, "model_path": "/m.gguf"}}) as srv:
        cap = read(srv)
        paths = sorted(q.path for q in srv.requests)
    assert cap == Capacity("llama.cpp", "GET /props total_slots", slots=3)
    assert paths == ["/api/version", "/info", "/props"]           # the server's root, not /v1
    with FakeLLMServer(describe={"/info": {"model_id": "m", "max_concurrent_requests": 64}}) as srv:
        assert read(srv).slots == 64
    with FakeLLMServer(describe={"/api/version": {"version": "0.5.7"}}) as srv:
        assert read(srv).server == "Ollama"
    with FakeLLMServer() as srv:                                   # says nothing: 404s
        assert read(srv) is None


def test_a_server_that_hangs_on_its_description_says_nothing():
    with FakeLLMServer(fault_fn=lambda req: Fault.hang() if req.method == "GET" else None) as srv:
        assert read(srv, read_timeout=0.8) is None                # a quarter of the read timeout each, at once


def test_the_key_goes_with_the_self_description(monkeypatch):
    monkeypatch.setenv("CAP_TEST_KEY", "sk-capacity-secret")
    with FakeLLMServer(describe={"/props": {"total_slots": 2}}) as srv:
        ep = make_endpoint(Target(base_url=srv.base_url, model="m", api_key_env="CAP_TEST_KEY"), fast_settings())

        async def go():
            async with ep:
                return await ep.read_capacity()
        assert asyncio.run(go()).slots == 2
        props = [q for q in srv.requests if q.path == "/props"][0]
    assert props.headers["authorization"] == "Bearer sk-capacity-secret"


def test_the_slot_count_is_the_start_and_the_cap(tmp_path):
    # a server of 2 slots that says so: never more than 2 in flight, from the first probe on,
    # though the cap allows 24 (the default: every probe)
    ps = probe_set(tmp_path, many_probes_toml(24))
    s = fast_settings(concurrency=24, read_timeout=5.0, request_timeout=10.0, deadline=120, ask_server=True)
    with FakeLLMServer(slots=2, latency=0.01, describe={"/props": {"total_slots": 2}}) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        assert srv.busy_peak <= 2
    assert tr.counts()["ok"] == 24
    p = tr.pacing
    assert p["server"]["slots"] == 2
    assert p["start_concurrency"] == p["max_concurrency"] == 2 and p["peak_concurrency"] <= 2, p


def test_a_configured_start_stays_below_the_slots_but_never_above(tmp_path):
    # a scan's entrant starts at 16; a server of 4 slots still gets at most 4
    ps = probe_set(tmp_path, many_probes_toml(12))
    s = fast_settings(concurrency=16, start_concurrency=16, read_timeout=5.0, request_timeout=10.0, deadline=60,
                      ask_server=True)
    with FakeLLMServer(slots=4, describe={"/props": {"total_slots": 4}}) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    assert tr.pacing["start_concurrency"] == 4 and tr.pacing["peak_concurrency"] <= 4


def test_a_server_that_says_nothing_gets_every_probe_at_once(tmp_path):
    # an API that serves all of them answers in one round trip: every probe goes out before any
    # reply comes back (the server holds each reply until it has seen all 20 requests)
    ps = probe_set(tmp_path, many_probes_toml(20))
    all_in = threading.Event()
    seen = []
    lock = threading.Lock()

    def fault(req):
        if req.method != "POST":
            return None
        with lock:
            seen.append(req)
            if len(seen) == 20:
                all_in.set()
        return Fault.until(all_in)
    s = fast_settings(concurrency=20, read_timeout=30.0, request_timeout=60.0, deadline=120, ask_server=True)
    with FakeLLMServer(fault_fn=fault) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    assert tr.counts()["ok"] == 20
    p = tr.pacing
    assert p["server"] is None and p["start_concurrency"] == 20 and p["peak_concurrency"] == 20, p


def test_ollama_starts_at_its_default_parallel_limit(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(12))
    s = fast_settings(concurrency=12, read_timeout=5.0, request_timeout=10.0, deadline=60, ask_server=True)
    with FakeLLMServer(describe={"/api/version": {"version": "0.5.7"}}) as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
    p = tr.pacing
    assert p["server"]["server"] == "Ollama" and p["start_concurrency"] == 4 and p["max_concurrency"] == 12, p
    assert tr.counts()["ok"] == 12
