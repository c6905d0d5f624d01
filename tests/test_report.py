from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.classifier.keyword import KeywordClassifier
from provenance.errors import ConfigError, SchemaVersionError
from provenance.run.steps import classify_report_dict
from provenance.report import (check_report, cost_of, read_report, report_schema, transcript_from_report,
                               write_atomic)
from provenance.transcript import ProbeResult, Transcript


def _transcript() -> Transcript:
    return Transcript(
        target={"base_url": "http://127.0.0.1:9/v1", "protocol": "openai", "model": "m"},
        probeset={"name": "t", "version": "1", "hash": "sha256:" + "0" * 64},
        results=[
            ProbeResult("identity.who", "identity", text="I am Claude, made by Anthropic.",
                        usage={"prompt_tokens": 20, "completion_tokens": 9}),
            ProbeResult("style.x", "style", status="failed", error="http 500: server error"),
        ],
        started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z")


def test_report_round_trip_and_schema_fields() -> None:
    doc = classify_report_dict(_transcript(), KeywordClassifier(), run_id="r1")
    schema = report_schema()
    for key in schema["required"]:
        assert key in doc
    assert doc["attribution"]["creator"] == "Anthropic"
    assert doc["classifier"]["name"] == "keyword-baseline"
    assert "1 of 2 probes failed" in doc["attribution"]["reliability"]
    back = transcript_from_report(json.loads(json.dumps(doc)))
    assert [r.probe_id for r in back.results] == ["identity.who", "style.x"]
    assert back.results[0].text == "I am Claude, made by Anthropic."


def test_all_failed_is_failed_status() -> None:
    t = _transcript()
    t.results = [ProbeResult("a", "style", status="failed", error="connect: refused")]
    doc = classify_report_dict(t, KeywordClassifier())
    assert doc["attribution"]["status"] == "failed" and doc["attribution"]["creator"] == "unknown"


def test_cost_usage_and_estimate() -> None:
    c = cost_of(_transcript())
    assert c["tokens_sent"] == 20 and c["tokens_received"] == 9 and c["basis"] == "usage"
    t = _transcript()
    t.results[0].usage = None
    t.results[0].request = {"json": {"messages": [{"role": "user", "content": "x" * 40}]}}
    c = cost_of(t)
    assert c["basis"] == "estimate" and c["tokens_sent"] > 0


@pytest.mark.parametrize("doc, msg", [
    ([], "not a JSON object"),
    ({}, "schema_version"),
    ({"schema_version": 1, "target": {}, "probeset": {}, "probes": [{"probe_id": 1}]}, "probes\\[0\\]"),
    ({"schema_version": 1, "target": {}, "probeset": {}, "probes": [{"probe_id": "a", "family": "s", "chunks": [1]}]}, "chunks"),
])
def test_check_report_rejects(doc: object, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        check_report(doc)


def test_newer_report_refused() -> None:
    with pytest.raises(SchemaVersionError):
        check_report({"schema_version": 99, "target": {}, "probeset": {}, "probes": []})


def test_read_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_report(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    with pytest.raises(ConfigError, match="not a JSON report"):
        read_report(bad)


def test_write_atomic(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    write_atomic(p, "one")
    write_atomic(p, "two")
    assert p.read_text() == "two"
    assert [x.name for x in tmp_path.iterdir()] == ["r.json"]
    with pytest.raises(ConfigError, match="does not exist"):
        write_atomic(tmp_path / "nodir" / "r.json", "x")


def test_schema_protocols_are_the_registry() -> None:
    """The schema's target.protocol enum is the protocol registry's names plus "manual": read from
    the registry by report_schema(), and the shipped file says the same."""
    import json
    from importlib import resources

    from provenance.endpoints import registry
    from provenance.transcript import MANUAL_PROTOCOL
    want = [*registry.names(), MANUAL_PROTOCOL]
    assert report_schema()["properties"]["target"]["properties"]["protocol"]["enum"] == want
    shipped = json.loads(resources.files("provenance").joinpath("data/report.schema.json").read_text())
    assert shipped["properties"]["target"]["properties"]["protocol"]["enum"] == want


def test_schema_accepts_error_kinds_and_normalised_usage() -> None:
    """A report's probes carry their typed error kind and normalised usage, as the schema says."""
    import pytest
    jsonschema = pytest.importorskip("jsonschema")
    from provenance.transcript import ErrorKind, ProbeResult, TokenUsage
    t = _transcript()
    t.results.append(ProbeResult(probe_id="x.lost", family="style", status="failed", error="rate limited: HTTP 429",
                                 error_kind=ErrorKind.RATE_LIMITED, http_status=429))
    t.results[0].tokens = TokenUsage(prompt=12, completion=3, cached=None)
    doc = classify_report_dict(t, KeywordClassifier(), run_id="r1")
    assert doc["probes"][-1]["error_kind"] == "rate_limited" and doc["probes"][0]["tokens"]["prompt"] == 12
    jsonschema.validate(doc, report_schema())
    kinds = report_schema()["properties"]["probes"]["items"]["properties"]["error_kind"]["enum"]
    assert set(kinds) == {str(k) for k in ErrorKind} | {None}
