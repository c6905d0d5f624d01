"""A confident tokenizer match can never be outvoted into naming a creator it rules out.

The transcripts are synthetic: billed prompt-token counts come from the shipped
tokenizer table (as a server with that tokenizer would bill them), the answers
are written here.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from provenance.classifier import default_model_dir, load_classifier
from provenance.probes import load_probeset
from provenance.transcript import ProbeResult, Transcript

TABLE = json.loads(resources.files("provenance").joinpath("data/tokenizers.json").read_text())
CHATGPT = "I'm ChatGPT, a large language model developed by OpenAI. How can I help you today?"


def _transcript(family: str, answer: str) -> Transcript:
    ps = load_probeset()
    fam = TABLE["families"][family]
    template = 20
    results = []
    for p in ps.probes:
        usage = None
        if p.id == TABLE["baseline"]["probe"]:
            usage = {"prompt_tokens": template + fam["baseline"], "completion_tokens": 1}
        elif p.id in fam["counts"]:
            usage = {"prompt_tokens": template + fam["counts"][p.id], "completion_tokens": 1}
        # every behavioural answer carries the claim, worded per probe: one text repeated for
        # every prompt would be degenerate evidence (tests/classifier/test_degenerate.py), not a claim
        text = f"{answer} About your question ({p.id}): here is what I can say." if p.behavioural else "ok"
        results.append(ProbeResult(probe_id=p.id, family=p.family, text=text, usage=usage))
    return Transcript(target={}, probeset=ps.info(), results=results)


@pytest.fixture(scope="module")
def clf():
    if default_model_dir() is None:
        pytest.skip("no shipped model")
    return load_classifier(probeset=load_probeset())


def test_qwen_tokenizer_vetoes_an_openai_claim(clf) -> None:
    a = clf.classify(_transcript("qwen2", CHATGPT))
    assert a.tokenizer and a.tokenizer["summary"]["family"] == "qwen2"
    assert not (a.creator == "OpenAI" and a.status == "match")
    if a.creator != "Alibaba":
        # the evidence conflicts (a Qwen tokenizer, an answer claiming ChatGPT): nothing is named
        assert a.status == "unknown"
        top = a.candidates[0].creator
        if top != "Alibaba":
            # the behavioural best guess (OpenAI from the claims, or whoever else answers this
            # way: ERNIE also says it is made by OpenAI) is ruled out, and the report says so
            assert any(f"rules out {top}" in r and "Alibaba" in r for r in a.reliability)
    assert a.evidence[0].channel == "tokenizer"          # the tokenizer evidence is shown first


def test_consistent_tokenizer_keeps_the_match(clf) -> None:
    a = clf.classify(_transcript("o200k", CHATGPT))
    assert a.creator == "OpenAI" and a.status == "match"
    assert not any("rules out" in r for r in a.reliability)
