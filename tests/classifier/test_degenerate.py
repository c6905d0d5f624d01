"""Degenerate evidence: answers that do not depend on the prompt lead to `unknown`."""

from __future__ import annotations

import pytest

from provenance.classifier import default_model_dir, load_classifier
from provenance.classifier.degenerate import degenerate
from provenance.probes import load_probeset
from provenance.transcript import ProbeResult, Transcript

CANNED = "I am GPT, made by OpenAI. " + "padding " * 25_000


def test_repeated_long_answers_are_degenerate() -> None:
    assert degenerate([CANNED] * 6) is not None
    assert "do not depend on the prompt" in degenerate([CANNED] * 6)


def test_one_short_reply_everywhere_is_degenerate() -> None:
    assert degenerate(["I am GPT made by OpenAI."] * 12) is not None


def test_repeated_short_refusals_are_not() -> None:
    refusals = ["I'm sorry, but I can't help with that."] * 8
    varied = [f"Here is a thorough answer about topic {i}: " + "detail " * (30 + i) for i in range(20)]
    assert degenerate(refusals + varied) is None


def test_varied_answers_are_not() -> None:
    assert degenerate([f"answer number {i} " * 30 for i in range(30)]) is None
    assert degenerate([]) is None


@pytest.fixture(scope="module")
def clf():
    if default_model_dir() is None:
        pytest.skip("no shipped model")
    return load_classifier(probeset=load_probeset())


def test_canned_endpoint_is_unknown(clf) -> None:
    """Every probe answered with one self-description and 200,000 characters of padding, with
    token counts no tokenizer gives: no creator is named, and the report says why."""
    ps = load_probeset()
    results = [ProbeResult(probe_id=p.id, family=p.family, text=CANNED,
                           usage={"prompt_tokens": 7 + 13 * i, "completion_tokens": 50_000})
               for i, p in enumerate(ps.probes)]
    a = clf.classify(Transcript(target={}, probeset=ps.info(), results=results))
    assert a.status == "unknown"
    assert a.confidence >= 0.9
    assert any("do not depend on the prompt" in r for r in a.reliability)
