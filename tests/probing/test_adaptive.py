"""Adaptive probing: --budget caps the probes sent, --until-confident stops early."""

from __future__ import annotations

import asyncio
from pathlib import Path

from provenance.classifier.keyword import KeywordClassifier
from provenance.probing.order import adaptive_order
from provenance.run.steps import choose_probes
from provenance.run.target import probe_async
from provenance.settings import RunSettings, make_target
from provenance.testing.fakeserver import FakeLLMServer

from factory import probe_set

PROBES = "\n".join(f'''
[[probe]]
id = "identity.q{i}"
family = "identity"
corpus = "model_name_identity:identity:q{i}"
messages = [{{ role = "user", content = "Who made you? ({i})" }}]
max_tokens = 32
''' for i in range(12)) + '''
[[probe]]
id = "tokenizer.baseline"
family = "tokenizer"
mode = "baseline"
messages = [{ role = "user", content = "a" }]
max_tokens = 1

[[probe]]
id = "tokenizer.count.digits"
family = "tokenizer"
mode = "count"
text = "1234567"
messages = [{ role = "user", content = "1234567" }]
max_tokens = 1
'''


def _set(tmp_path: Path):
    return probe_set(tmp_path, PROBES, name="adaptive", folder="p", file="a.toml")


def _run(srv, ps, **kw) -> dict:
    settings = RunSettings(concurrency=2, retries=0, deadline=30)
    return asyncio.run(probe_async(make_target(srv.base_url, "m"), probeset=ps, classifier=KeywordClassifier(),
                                   settings=settings, **kw))


def _probes_sent(srv) -> int:
    """Chat requests only: before the first probe the run also asks the server what it can take
    (GET /props, /info, /api/version: endpoints/capacity.py)."""
    return sum(1 for q in srv.requests if q.method == "POST")


def test_order_baseline_first_and_interleaved(tmp_path: Path) -> None:
    order = [p.id for p in choose_probes(_set(tmp_path), KeywordClassifier())]
    assert order[0] == "tokenizer.baseline"
    assert order[1].startswith("identity.") and order[2] == "tokenizer.count.digits"
    assert len(order) == len(set(order)) == 14


def test_order_follows_the_ranking_it_is_given(tmp_path: Path) -> None:
    """Probing reads a ranking of probe ids (the run layer takes it from the model), never a classifier."""
    order = [p.id for p in adaptive_order(_set(tmp_path), ["identity.q7", {"id": "identity.q3"}])]
    assert order[:4] == ["tokenizer.baseline", "identity.q7", "tokenizer.count.digits", "identity.q3"]
    assert order[4:] == [f"identity.q{i}" for i in range(12) if i not in (3, 7)]


def test_budget_caps_requests(tmp_path: Path) -> None:
    ps = _set(tmp_path)
    with FakeLLMServer(answer_fn=lambda b: "Hello there.") as srv:
        doc = _run(srv, ps, budget=5)
        assert _probes_sent(srv) == 5
    assert doc["summary"]["ok"] == 5 and doc["summary"]["skipped"] == 9
    assert "budget of 5" in doc["run"]["stopped_because"]
    skipped = [p for p in doc["probes"] if p["status"] == "skipped"]
    assert all(p["error"].startswith("not sent") for p in skipped)


def test_until_confident_stops_early(tmp_path: Path) -> None:
    ps = _set(tmp_path)
    with FakeLLMServer(answer_fn=lambda b: "I am Claude, made by Anthropic.") as srv:
        doc = _run(srv, ps, until_confident=0.8)
        sent = _probes_sent(srv)
    assert sent < 14
    assert doc["attribution"]["creator"] == "Anthropic"
    assert doc["run"]["stopped_because"].startswith("confident")
    assert doc["summary"]["ok"] == sent


def test_until_confident_unreached_sends_all(tmp_path: Path) -> None:
    ps = _set(tmp_path)
    with FakeLLMServer(answer_fn=lambda b: "Hello.") as srv:
        doc = _run(srv, ps, until_confident=0.99)
        assert _probes_sent(srv) == 14
    assert doc["run"]["stopped_because"] == "all probes sent"
