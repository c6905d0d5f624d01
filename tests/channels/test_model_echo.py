"""Requested vs echoed model name: a mismatch warns and is evidence (issue 27 item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.channels.model_echo import model_echo, names_consistent
from provenance.testing.fakeserver import FakeLLMServer
from provenance.transcript import ProbeResult, Transcript

from factory import run_cli

ANSWER = "I am Qwen, created by Alibaba Cloud. \x1b[31m"


@pytest.mark.parametrize("requested,echoed", [
    ("gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4", "gpt-4-0613"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
    ("openai/gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4o", "openai/gpt-4o"),
    ("llama3", "llama3:latest"),
    ("qwen2.5-coder-0.5b", "/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    ("Qwen2.5-Coder-0.5B", "qwen2.5-coder-0.5b"),
])
def test_alias_style_names_are_consistent(requested: str, echoed: str) -> None:
    assert names_consistent(requested, echoed)


@pytest.mark.parametrize("requested,echoed", [
    ("no-such-model", "qwen2.5-coder-0.5b"),
    ("gpt-4", "gpt-4o"),
    ("gpt-4o", "claude-3-5-sonnet"),
    ("llama-3-8b", "llama-3-70b"),
])
def test_other_models_are_not(requested: str, echoed: str) -> None:
    assert not names_consistent(requested, echoed)


def test_model_echo_tallies_replies() -> None:
    t = Transcript(target={"model": "no-such-model"}, probeset={})
    t.results = [ProbeResult(probe_id=f"p{i}", family="style", text="x", response_model="qwen2.5-coder-0.5b")
                 for i in range(3)] + [ProbeResult(probe_id="f", family="style", status="failed")]
    e = model_echo(t)
    assert e == {"requested": "no-such-model", "echoed": [{"name": "qwen2.5-coder-0.5b", "replies": 3}],
                 "consistent": False}
    t.results = [ProbeResult(probe_id="p", family="style", text="x")]
    assert model_echo(t) is None


def test_probe_warns_when_the_server_serves_another_model(tmp_path: Path) -> None:
    # like llama.cpp: whatever the request names, replies say the served model's alias
    with FakeLLMServer(answer_fn=lambda b: ANSWER, model="qwen2.5-coder-0.5b") as srv:
        p = run_cli(["probe", srv.base_url, "--model", "no-such-model", "-o", "r.json"], tmp_path,
                    env={"COLUMNS": "300"})
    assert p.returncode == 0, p.stderr
    warn = [x for x in p.stderr.splitlines() if x.startswith("provenance: warning:")]
    # at once, from the first reply (issue 36 item 7), then with the tally at the end
    assert len(warn) == 2 and all("'qwen2.5-coder-0.5b'" in w and "'no-such-model'" in w for w in warn)
    assert "the first reply came from" in warn[0]
    n = sum(e["replies"] for e in json.loads((tmp_path / "r.json").read_text())["attribution"]["model_echo"]["echoed"])
    assert f"every one of the {n} replies that named a model" in warn[1]     # not "211 of 211" for 212 answers
    assert "the requested 'no-such-model'" in p.stdout          # the reliability note in the verdict
    doc = json.loads((tmp_path / "r.json").read_text())
    a = doc["attribution"]
    assert a["model_echo"]["consistent"] is False
    assert a["model_echo"]["echoed"][0]["name"] == "qwen2.5-coder-0.5b"
    assert any("not the requested 'no-such-model'" in r for r in a["reliability"])
    ev = [e for e in a["evidence"] if e["text"].startswith("model name echo:")]
    assert ev and ev[0]["channel"] == "api" and ev[0]["probes"]


def test_probe_accepts_a_dated_alias_silently(tmp_path: Path) -> None:
    with FakeLLMServer(answer_fn=lambda b: ANSWER, model="gpt-4o-2024-08-06") as srv:
        p = run_cli(["probe", srv.base_url, "--model", "gpt-4o", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stderr
    a = json.loads(p.stdout)["attribution"]
    assert a["model_echo"]["consistent"] is True
    assert not any("not the requested" in r for r in a["reliability"])
