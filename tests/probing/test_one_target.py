"""The concurrent probe runner: bound, callbacks, resume, subset, deadline, metadata."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from provenance.endpoints.base import make_endpoint
from provenance.probing.one_target import run_probes, run_probes_sync
from provenance.settings import Target, make_target
from provenance.testing.fakeserver import FakeLLMServer, Fault
from provenance.transcript import ProbeResult, Transcript

from factory import fast_settings, free_port, many_probes_toml, probe_set

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_all_probes_ok_and_metadata(tmp_path, monkeypatch):
    ps = probe_set(tmp_path)
    monkeypatch.setenv("RUNNER_KEY", "sk-runner-SECRET-777")
    with FakeLLMServer(api_key="sk-runner-SECRET-777") as srv:
        t = make_target(srv.base_url, "m", api_key_env="RUNNER_KEY", name="entrant-1")
        tr = run_probes_sync(t, ps, settings=fast_settings())
    assert [r.probe_id for r in tr.results] == ps.ids()
    assert all(r.ok for r in tr.results), [(r.probe_id, r.error) for r in tr.results]
    assert tr.target == t.public() and tr.target["name"] == "entrant-1"
    assert tr.probeset == ps.info()
    assert ISO_Z.match(tr.started_at) and ISO_Z.match(tr.finished_at) and tr.started_at <= tr.finished_at
    blob = json.dumps(tr.to_dict())
    assert "sk-runner-SECRET-777" not in blob
    back = Transcript.from_dict(json.loads(blob))
    assert back.by_id()["t.stream"].chunks == tr.by_id()["t.stream"].chunks


class CountingEndpoint:
    """Wraps an endpoint and records the largest number of probes in flight at once."""

    def __init__(self, inner):
        self.inner = inner
        self.target = inner.target
        self.now = 0
        self.peak = 0

    async def __aenter__(self):
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc):
        await self.inner.__aexit__(*exc)

    async def run_probe(self, probe, *, deadline_at=None):
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self.inner.run_probe(probe, deadline_at=deadline_at)
        finally:
            self.now -= 1


def test_concurrency_is_bounded(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(12))
    s = fast_settings(concurrency=3)
    with FakeLLMServer(latency=0.05) as srv:
        ep = CountingEndpoint(make_endpoint(Target(base_url=srv.base_url, model="m"), s))
        tr = run_probes_sync(ep, ps, settings=s)
        assert srv.request_count == 12
    assert tr.counts() == {"total": 12, "ok": 12, "failed": 0, "skipped": 0}
    assert ep.peak == 3


def test_on_result_called_once_per_probe_during_the_run(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(6))
    seen: list[tuple[str, int]] = []
    with FakeLLMServer() as srv:
        def cb(res: ProbeResult):
            seen.append((res.probe_id, srv.request_count))
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps,
                             settings=fast_settings(concurrency=1), on_result=cb)
    assert sorted(p for p, _ in seen) == ps.ids()
    # with one probe in flight, each callback fires before the next request is sent
    assert [n for _, n in seen] == list(range(1, 7))
    assert len(tr.results) == 6


def test_on_result_exception_propagates(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(4))

    def boom(res):
        raise RuntimeError("store is full")
    with FakeLLMServer() as srv:
        with pytest.raises(RuntimeError, match="store is full"):
            run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=fast_settings(), on_result=boom)


def test_existing_results_are_not_resent(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(5))
    prior = [ProbeResult(probe_id="t.p000", family="api", text="old answer"),
             ProbeResult(probe_id="t.p003", family="api", text="old answer 3")]
    called = []
    with FakeLLMServer() as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=fast_settings(),
                             existing=prior, on_result=lambda r: called.append(r.probe_id))
        sent = [r.json["messages"][0]["content"] for r in srv.requests]
    assert sorted(sent) == ["probe number 1", "probe number 2", "probe number 4"]
    assert [r.probe_id for r in tr.results] == ps.ids()
    assert tr.by_id()["t.p000"].text == "old answer"
    assert sorted(called) == ["t.p001", "t.p002", "t.p004"]


def test_probe_subset_in_order(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(5))
    sub = [ps.get("t.p004"), ps.get("t.p001")]
    with FakeLLMServer() as srv:
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=fast_settings(), probes=sub)
        assert srv.request_count == 2
    assert [r.probe_id for r in tr.results] == ["t.p004", "t.p001"]


def test_deadline_marks_pending_probes(tmp_path):
    ps = probe_set(tmp_path, many_probes_toml(6))
    s = fast_settings(concurrency=2, read_timeout=30, request_timeout=30, deadline=1.0)
    with FakeLLMServer(fault_fn=lambda req: Fault.hang()) as srv:
        t0 = time.monotonic()
        tr = run_probes_sync(Target(base_url=srv.base_url, model="m"), ps, settings=s)
        elapsed = time.monotonic() - t0
    assert elapsed < s.deadline + 10.0                   # generous on a busy machine: the point is "it stops"
    assert tr.counts()["failed"] == 6
    reasons = [r.error for r in tr.results]
    assert all(r.startswith("deadline") for r in reasons), reasons
    assert reasons.count("deadline") >= 4                # never started: exactly "deadline"


def test_unreachable_endpoint_never_raises(tmp_path):
    ps = probe_set(tmp_path)
    port = free_port()
    tr = run_probes_sync(Target(base_url=f"http://127.0.0.1:{port}/v1", model="m"), ps,
                         settings=fast_settings(retries=1))
    assert tr.counts()["failed"] == 3
    assert all(r.error.startswith("connection failed") for r in tr.results)
    assert all(r.attempts == 2 for r in tr.results)


def test_async_api_with_endpoint_object(tmp_path):
    ps = probe_set(tmp_path)

    async def go(url):
        ep = make_endpoint(Target(base_url=url, model="m", protocol="anthropic"), fast_settings())
        return await run_probes(ep, ps, settings=fast_settings())
    with FakeLLMServer() as srv:
        tr = asyncio.run(go(srv.anthropic_base_url))
    assert tr.counts()["ok"] == 3 and tr.target["protocol"] == "anthropic"
