"""Verdict lines read at a glance: a best guess the tokenizer excludes is never the headline,
and each line's percentages mean one thing (issue 27 item 1)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.classifier import headline
from provenance.cli.render import render_verdict, unknown_lines
from provenance.report import read_report, transcript_from_report

from factory import REPORTS

DISGUISED = REPORTS / "qwen2.5-coder-0.5b-disguised-zeus.json"
SMOL = REPORTS / "smollm2-135m.json"


def _plain(lines: list[str]) -> list[str]:
    from rich.text import Text
    return [Text.from_markup(x).plain for x in lines]


def test_the_veto_rule_has_one_home() -> None:
    # the classifier's veto, the headline and the claim check all read channels/tokenizer.py
    import inspect
    from provenance import verify
    from provenance.classifier import decide
    for mod in (headline, decide, verify):
        src = inspect.getsource(mod)
        assert "VETO_NATS" in src
        assert "VETO_NATS =" not in src and "VETO_CONFIDENCE =" not in src   # no copy of the thresholds


def test_best_guess_skips_a_candidate_the_qwen_tokenizer_excludes() -> None:
    t = transcript_from_report(read_report(DISGUISED))
    # the disguised run's behavioural answers favoured OpenAI in another run: put it first
    bg = headline.best_guess(t, [{"creator": "OpenAI", "probability": 0.6},
                                 {"creator": "Alibaba", "probability": 0.35},
                                 {"creator": "Meta", "probability": 0.05}])
    assert bg["creator"] == "Alibaba" and bg["probability"] == 0.35
    assert bg["tokenizer"] == "qwen2"
    assert [e["creator"] for e in bg["excluded"]][0] == "OpenAI"
    assert all("tokenizer" in e["reason"] for e in bg["excluded"])


def test_unknown_lines_never_headline_an_excluded_guess() -> None:
    a = {"status": "unknown", "confidence": 0.4, "creator": "unknown",
         "candidates": [{"creator": "OpenAI", "probability": 0.6}, {"creator": "Alibaba", "probability": 0.35}],
         "best_guess": {"creator": "Alibaba", "probability": 0.35, "tokenizer": "qwen2",
                        "excluded": [{"creator": "OpenAI", "probability": 0.6, "reason": "x"}]}}
    lines = _plain(unknown_lines(a))
    assert "OpenAI" not in lines[0] and "OpenAI" not in lines[1] and "OpenAI" not in lines[2]
    assert lines[0].startswith("No confident creator match: unknown: the tokenizer (qwen2) rules out")
    assert lines[2] == "  best guess, if the maker is one this classifier knows: Alibaba (35%)"
    assert any(x.startswith("  note: the answers alone favour OpenAI (60%), which the tokenizer") for x in lines)
    # one meaning per percentage on each line: P(unknown) never shares a line with a creator's probability
    for x in lines:
        if "P(unknown)" in x:
            assert x.count("%") == 1


def test_old_report_without_best_guess_still_renders() -> None:
    a = {"status": "unknown", "confidence": 0.51, "creator": "unknown",
         "candidates": [{"creator": "Alibaba", "probability": 0.55}]}
    lines = _plain(unknown_lines(a))
    assert lines[0] == "No confident creator match: unknown (P(unknown) 51%)"
    assert "Alibaba (55%)" in lines[1]


def _classify(report: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PROVENANCE_DB=str(tmp_path / "db.sqlite3"), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "provenance", "classify", str(report), *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def test_smollm2_verdict_names_no_excluded_guess(tmp_path: Path) -> None:
    """SmolLM2's tokenizer belongs to a maker the shipped model has no label for: the answers'
    best guess is ruled out, and the headline says so instead of naming it."""
    p = _classify(SMOL, tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    a = json.loads(p.stdout)["attribution"]
    bg = a["best_guess"]
    if a["status"] != "unknown" or not bg["excluded"]:
        pytest.skip("the shipped model no longer vetoes SmolLM2's candidates")
    top = a["candidates"][0]["creator"]
    assert top in {e["creator"] for e in bg["excluded"]} and bg["creator"] != top
    p = _classify(SMOL, tmp_path)
    head = [x for x in p.stdout.splitlines() if x.startswith("No confident")][0]
    assert top not in head and "%" not in head
    best = [x for x in p.stdout.splitlines() if "best guess" in x][0]
    assert top not in best


def test_render_prints_best_guess_for_the_disguised_run(tmp_path: Path) -> None:
    p = _classify(DISGUISED, tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    bg = doc["attribution"]["best_guess"]
    assert bg["tokenizer"] == "qwen2" and bg["creator"] != "OpenAI"
    from rich.console import Console
    buf = io.StringIO()
    render_verdict(doc, Console(file=buf, width=200, highlight=False))
    out = buf.getvalue()
    if doc["attribution"]["status"] == "unknown":
        assert f"best guess, if the maker is one this classifier knows: {bg['creator']}" in out
    assert "OpenAI" not in out.splitlines()[1]
