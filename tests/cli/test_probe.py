"""`provenance probe` end to end through the CLI, against real loopback servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.testing.fakeserver import Fault, FakeLLMServer

from factory import free_port, run_cli

FAKE_KEY = "sk-test-PROVENANCE-CANARY-7f3a9b"
CLAUDE = "I am Claude, an AI assistant made by Anthropic. \x1b[31m[bold]red[/bold]\x1b]0;pwn\x07"


def claude(body: dict) -> str:
    """The Claude self-description, worded per prompt: one text pasted under every prompt would be
    degenerate evidence (tests/classifier/test_degenerate.py), which no verdict rests on."""
    msgs = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    asked = str(msgs[-1].get("content", ""))[:60] if msgs else ""
    return f"{CLAUDE} You asked: {asked}"


@pytest.fixture
def claude_server():
    with FakeLLMServer(answer_fn=claude) as srv:
        yield srv


def test_openai_json_report(claude_server: FakeLLMServer, tmp_path: Path) -> None:
    p = run_cli(["probe", claude_server.base_url, "--model", "m", "--json", "-o", "report.json"], tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)                               # stdout is exactly one JSON document
    assert json.loads((tmp_path / "report.json").read_text()) == doc
    a = doc["attribution"]
    assert a["creator"] == "Anthropic" and a["status"] in ("match", "ambiguous") and 0 < a["confidence"] <= 1
    assert a["candidates"][0]["creator"] == "Anthropic"
    assert any(e["probes"] for e in a["evidence"])
    assert doc["summary"]["failed"] == 0 and doc["cost"]["basis"] == "usage"
    streamed = [q for q in doc["probes"] if q["stream"]]
    assert streamed and all(q["chunks"] for q in streamed if q["status"] == "ok")
    assert {q["response_id"][:9] for q in doc["probes"] if q["status"] == "ok" and q["response_id"]} == {"chatcmpl-"}
    assert doc["classifier"]["probeset_hash"] == doc["probeset"]["hash"]
    bodies = [r.json for r in claude_server.requests if r.json and r.json.get("stream")]
    assert bodies and all(b.get("stream_options", {}).get("include_usage") for b in bodies)


def test_readable_verdict_is_escaped(claude_server: FakeLLMServer, tmp_path: Path) -> None:
    p = run_cli(["probe", claude_server.base_url, "--model", "m\x1b[2J"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "Anthropic" in p.stdout
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout


def test_anthropic_protocol(tmp_path: Path) -> None:
    with FakeLLMServer(answer_fn=claude) as srv:
        p = run_cli(["probe", srv.anthropic_base_url, "--protocol", "anthropic", "--model", "claude-x",
                     "--api-key-env", "MY_ANTHROPIC", "--json"], tmp_path, env={"MY_ANTHROPIC": FAKE_KEY})
        sent_keys = {r.headers.get("x-api-key") for r in srv.requests}
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["target"]["protocol"] == "anthropic" and doc["attribution"]["creator"] == "Anthropic"
    assert sent_keys == {FAKE_KEY}
    assert FAKE_KEY not in p.stdout + p.stderr


def test_retries_and_partial_failure(tmp_path: Path) -> None:
    # a burst of 429/503 is retried; a handful of probes then fail for good: the run goes on
    calls = {"n": 0}

    def fault_fn(req):
        calls["n"] += 1
        if calls["n"] <= 3:
            return Fault.status(429, retry_after="0")
        body = req.json or {}
        if "Repeat" in json.dumps(body.get("messages", "")):
            return Fault.status(500)
        return None

    with FakeLLMServer(answer_fn=claude, fault_fn=fault_fn) as srv:
        p = run_cli(["probe", srv.base_url, "--model", "m", "--json", "--retries", "1"], tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    failed = [q for q in doc["probes"] if q["status"] == "failed"]
    assert failed and all(q["error"] for q in failed)
    assert doc["summary"]["ok"] > 0 and doc["attribution"]["creator"] == "Anthropic"
    assert any("probes failed" in r for r in doc["attribution"]["reliability"])


def test_unusable_endpoint_exit_3(tmp_path: Path) -> None:
    with FakeLLMServer(api_key="right-key") as srv:                 # every request: 401
        p = run_cli(["probe", srv.base_url, "--model", "m", "--api-key-env", "K", "--json"], tmp_path,
                    env={"K": FAKE_KEY})
    assert p.returncode == 3, p.stderr
    doc = json.loads(p.stdout)
    assert doc["attribution"]["status"] == "failed" and doc["attribution"]["creator"] == "unknown"
    assert FAKE_KEY not in p.stdout + p.stderr


def test_unreachable_exit_3(tmp_path: Path) -> None:
    p = run_cli(["probe", f"http://127.0.0.1:{free_port()}/v1", "--model", "m", "--retries", "0"], tmp_path)
    assert p.returncode == 3
    assert "Probe run failed" in p.stdout


@pytest.mark.parametrize("args, msg", [
    (["probe", "127.0.0.1:9/v1", "--model", "m"], "scheme"),
    (["probe", "ftp://h/v1", "--model", "m"], "not supported"),
    (["probe", "http://h/v1", "--model", "m", "--protocol", "grpc"], "unknown protocol"),
    (["probe", "http://h/v1", "--model", "m", "--api-key-env", "UNSET_VAR_X"], "UNSET_VAR_X is not set"),
    (["probe", "http://h/v1", "--model", "m", "--probes", "/nonexistent"], "not a directory"),
    (["probe", "http://h/v1", "--model", "m", "--model-dir", "/nonexistent"], ""),
    (["probes", "show", "no.such.probe"], "no probe"),
])
def test_usage_errors_exit_2(args: list[str], msg: str, tmp_path: Path) -> None:
    p = run_cli(args, tmp_path)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("provenance: error:") and msg in lines[0]
    assert "Traceback" not in p.stderr


def test_secret_never_written_anywhere(tmp_path: Path) -> None:
    """A recognisable key: sent to the server, never in stdout, stderr, report, or store."""
    with FakeLLMServer(answer_fn=lambda b: f"echo {FAKE_KEY} " + claude(b)) as srv:
        p = run_cli(["probe", srv.base_url, "--model", "m", "--api-key-env", "K", "--json", "-o", "r.json"],
                    tmp_path, env={"K": FAKE_KEY})
        assert {r.headers.get("authorization") for r in srv.requests} == {f"Bearer {FAKE_KEY}"}
    assert p.returncode == 0, p.stderr
    assert FAKE_KEY not in p.stdout + p.stderr
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert FAKE_KEY.encode() not in f.read_bytes(), f


def test_stored_run_export_and_reclassify(claude_server: FakeLLMServer, tmp_path: Path) -> None:
    p = run_cli(["probe", claude_server.base_url, "--model", "m", "--json"], tmp_path)
    doc = json.loads(p.stdout)
    run_id = doc["run"]["id"]
    e = run_cli(["report", "export", run_id], tmp_path)
    assert e.returncode == 0, e.stderr
    assert json.loads(e.stdout)["attribution"]["creator"] == "Anthropic"
    (tmp_path / "r.json").write_text(json.dumps(doc))
    c = run_cli(["classify", "r.json", "--json"], tmp_path)
    assert c.returncode == 0, c.stderr
    assert json.loads(c.stdout)["attribution"]["creator"] == "Anthropic"


def test_report_schema_command(tmp_path: Path) -> None:
    p = run_cli(["report", "schema"], tmp_path)
    assert p.returncode == 0 and json.loads(p.stdout)["title"].startswith("provenance")
