"""The one list of channels: every channel's module gives what its kind needs, the shipped model
was trained on the registry's score channels, no module keeps its own list, and a channel is
added with one module and one registry entry."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from provenance.channels import registry
from provenance.channels.base import ChannelResult, Evidence
from provenance.transcript import Transcript

SRC = Path(registry.__file__).resolve().parents[1]


def test_every_channel_module_gives_what_its_kind_needs() -> None:
    needs = {registry.ANSWERS: "pseudo_tokens", registry.TRANSCRIPT: "score", registry.CLAIM: "claim_of_text",
             registry.LEXICAL: "LexicalModel", registry.ALIGNED: "similarities", registry.PROVIDER: "loglik"}
    for ch in registry.CHANNELS:
        mod = registry.implementation(ch.name)
        attr = needs[ch.kind]
        assert hasattr(mod, attr) or any(hasattr(v, attr) for v in vars(mod).values() if isinstance(v, type)), \
            (ch.name, attr)


def test_derived_lists_follow_the_registry() -> None:
    assert registry.ANSWER_CHANNELS == ("identity", "refusal", "cutoff", "style")
    assert registry.SCORE_CHANNELS[:4] == registry.ANSWER_CHANNELS
    assert set(registry.FIT_CHANNELS) <= set(registry.SCORE_CHANNELS)
    assert set(registry.PROBE_FAMILIES) == {"identity", "refusal", "cutoff", "style", "tokenizer", "api"}
    assert registry.aligned_channel_of("style") == "aligned_style"
    assert registry.aligned_channel_of("refusal") == "aligned_other"
    assert registry.sub_channel("style", "benchpress") == "style-benchpress"
    assert registry.sub_channel("identity", "model_name_identity") == "identity"


def test_the_shipped_model_was_trained_on_the_registry_channels() -> None:
    from provenance.classifier import default_model_dir
    from provenance.classifier.artifact import read_manifest
    d = default_model_dir()
    if d is None:
        pytest.skip("no shipped model")
    m = read_manifest(d)
    assert tuple(m["score_channels"]) == registry.SCORE_CHANNELS
    assert m["features"]["vocab"] == registry.vocab_table()


def test_no_module_keeps_its_own_list_of_channels() -> None:
    spelled = re.compile(r'\(\s*"identity",\s*"refusal",\s*"cutoff",\s*"style"')
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name != "registry.py" and spelled.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_a_transcript_channel_is_one_module_and_one_registry_entry(monkeypatch) -> None:
    # the module: a channel that favours Mistral whenever the run has any answer
    mod = types.ModuleType("provenance.channels.fake_latency")

    def score(transcript: Transcript, *, cross_check: bool = False) -> ChannelResult:
        return ChannelResult(name="fake_latency", available=True, loglik={"Mistral": 0.0}, default=-50.0,
                             evidence=[Evidence(text="latency profile like Mistral's", probes=[], channel="api")],
                             summary={"profile": "fast"})
    mod.score = score
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    # the registry entry (and what the registry derives from its list)
    entry = registry.Channel("fake_latency", registry.TRANSCRIPT, "fake_latency", ("api",))
    monkeypatch.setattr(registry, "CHANNELS", registry.CHANNELS + (entry,))
    monkeypatch.setattr(registry, "BY_NAME", dict(registry.BY_NAME, fake_latency=entry))
    monkeypatch.setattr(registry, "TRANSCRIPT_CHANNELS", registry.TRANSCRIPT_CHANNELS + ("fake_latency",))

    from provenance.classifier import default_model_dir, load_classifier
    if default_model_dir() is None:
        pytest.skip("no shipped model")
    clf = load_classifier()
    t = Transcript.from_texts({"style.p0": "Here is a short poem about the sea."}, {"style.p0": "style"})
    att = clf.classify(t)
    assert att.channels["fake_latency"] == {"available": True, "summary": {"profile": "fast"}, "reason": None}
    assert "latency profile like Mistral's" in [e.text for e in att.evidence[:2]]   # pinned, as each channel's first line
    assert att.candidates[0].creator == "Mistral"
