"""Tokenizer channel: a real local server whose usage counts and stream chunks come
from a REAL tokenizer (quicktok-v1, a dev extra) must be matched to that family.

Skips cleanly when quicktok is not installed.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest

from provenance.channels.independent import content_independent_channels
from provenance.channels.segmentation import segmentation_channel
from provenance.channels.tokenizer import (
    TABLE_PATH, echo_outcome, load_table, prompt_tokens, tokenizer_channel,
)
from provenance.probes import load_probeset
from provenance.probing.one_target import run_probes_sync
from provenance.settings import RunSettings, Target
from provenance.testing.fakeserver import Fault, FakeLLMServer
from provenance.transcript import ProbeResult, TokenUsage, Transcript



@pytest.fixture(scope="module")
def qt():
    """The real tokenizer package behind the test server (skips cleanly when absent)."""
    return pytest.importorskip("quicktok", reason="quicktok-v1 (dev extra) not installed")

SETTINGS = RunSettings(connect_timeout=2.0, read_timeout=5.0, request_timeout=10.0, deadline=30.0,
                       retries=0, backoff_base=0.01, concurrency=4)


def _enc(name):
    import quicktok
    return quicktok.get_encoding(name)


def chatml_usage(enc_name, system_overhead=0, specials=()):
    """prompt_tokens as a ChatML-templated server would count them: per message
    <|im_start|>role\\ncontent<|im_end|>\\n, plus the assistant header."""
    enc = _enc(enc_name)

    def count(text):         # strings in ``specials`` count as one token (a server parsing them)
        for sp in specials:
            if sp in text:
                left, right = text.split(sp, 1)
                return count(left) + 1 + count(right)
        return len(enc.encode_ordinary(text))

    def usage(messages):
        n = 3 + system_overhead
        for m in messages:
            c = m.get("content") if isinstance(m, dict) else ""
            if isinstance(c, list):
                c = "".join(p.get("text", "") for p in c if isinstance(p, dict))
            n += 4 + len(enc.encode_ordinary(str(m.get("role", "")))) + count(str(c or ""))
        return n
    return usage


def token_chunks(enc_name):
    """One chunk per token; a character spanning several tokens arrives whole."""
    enc = _enc(enc_name)

    def chunks(text):
        out, buf = [], b""
        for t in enc.encode_ordinary(text):
            buf += enc.decode_single_token_bytes(t)
            try:
                out.append(buf.decode("utf-8"))
                buf = b""
            except UnicodeDecodeError:
                continue
        if buf:
            out.append(buf.decode("utf-8", "replace"))
        return out
    return chunks


def answer(body):
    return "Order 9876543210 shipped 2024-07-15: ストロベリー, Привет мир, 人工智能, naïve café."


@pytest.fixture(scope="module")
def shipped():
    ps = load_probeset()
    return ps, [p for p in ps.probes if p.family in ("tokenizer", "api")]


def run_against(srv, shipped, protocol="openai"):
    ps, probes = shipped
    base = srv.base_url if protocol == "openai" else srv.anthropic_base_url
    return run_probes_sync(Target(base_url=base, model="m", protocol=protocol), ps, settings=SETTINGS, probes=probes)


# ------------------------------------------------------------------ the table

def test_table_covers_shipped_probes(shipped):
    t = load_table()
    ps, _ = shipped
    count = {p.id: p for p in ps.probes if p.family == "tokenizer" and p.mode == "count"}
    base = [p for p in ps.probes if p.family == "tokenizer" and p.mode == "baseline"]
    assert len(base) == 1 and t["baseline"]["probe"] == base[0].id
    assert t["baseline"]["content"] == base[0].messages[-1]["content"]
    assert set(t["probes"]) == set(count)
    for pid, p in count.items():
        assert p.text == p.messages[-1]["content"] == t["probes"][pid]
        assert p.max_tokens == 1
    required = {"cl100k", "o200k", "llama3", "qwen2", "qwen35", "gemma", "mistral_spm", "tekken",
                "deepseek_v3", "claude_legacy", "command_r", "gpt2"}
    assert required <= set(t["families"])
    for f in t["families"].values():
        assert set(f["counts"]) == set(count)


def test_table_families_pairwise_separated():
    t = load_table()
    fams = t["families"]
    worst = min(sum(1 for p in t["probes"] if abs(fams[a]["counts"][p] - fams[b]["counts"][p]) >= 2)
                for a, b in itertools.combinations(fams, 2))
    assert worst >= 3, "some two families differ by >= 2 tokens on fewer than 3 probes"


@pytest.mark.parametrize("qname,family", [("qwen3", "qwen2"), ("llama3", "llama3"),
                                          ("o200k_base", "o200k"), ("cl100k_base", "cl100k")])
def test_table_agrees_with_an_independent_tokenizer(qt, qname, family):
    """The table was built from other packages; quicktok must give the same counts."""
    t = load_table()
    enc = _enc(qname)
    assert len(enc.encode_ordinary(t["baseline"]["content"])) == t["families"][family]["baseline"]
    for pid, text in t["probes"].items():
        assert len(enc.encode_ordinary(text)) == t["families"][family]["counts"][pid], pid


# ------------------------------------------------------------------ a real server

@pytest.mark.parametrize("qname,family,creator,protocol", [
    ("qwen3", "qwen2", "Alibaba", "openai"),
    ("llama3", "llama3", "Meta", "anthropic"),
    ("o200k_base", "o200k", "OpenAI", "openai"),
])
def test_server_tokenizer_is_matched(qt, shipped, qname, family, creator, protocol):
    with FakeLLMServer(usage_fn=chatml_usage(qname, system_overhead=7), chunk_fn=token_chunks(qname),
                       answer_fn=answer) as srv:
        tr = run_against(srv, shipped, protocol)
    ch = tokenizer_channel(tr)
    assert ch.available, ch.reason
    assert ch.summary["family"] == family
    assert ch.summary["confidence"] > 0.99
    assert len(ch.summary["matched_probes"]) == ch.summary["probes_used"] == 17   # 12 counts + 5 echoes
    assert ch.summary["special_tokens_parsed"] == []        # this server counts them as text
    assert ch.loglik[creator] == max(ch.loglik.values()) == 0.0
    # strong enough that a disguised identity claim does not outvote it
    others = [v for c, v in ch.loglik.items() if c not in (creator, "DeepSeek", "Microsoft")]
    assert max(others) <= -4.0 and ch.default <= -4.0      # named creators not in the map, too
    assert any(family in " ".join(e.text for e in ch.evidence) or "tokenizer" in e.text for e in ch.evidence)
    # the stream of the same server is explained by the same tokenizer
    seg = segmentation_channel(tr)
    assert seg.available and seg.summary["family"] == family, seg.summary
    assert seg.summary["agreement"][family] == 1.0


def test_server_parsing_special_tokens_is_seen(qt, shipped):
    usage = chatml_usage("qwen3", specials=("<|endoftext|>", "<|im_start|>"))
    with FakeLLMServer(usage_fn=usage, answer_fn=answer) as srv:
        tr = run_against(srv, shipped)
    ch = tokenizer_channel(tr)
    assert ch.summary["family"] == "qwen2" and ch.summary["confidence"] > 0.99
    assert ch.summary["special_tokens_parsed"] == ["<|endoftext|>", "<|im_start|>"]
    assert len(ch.summary["matched_probes"]) == 17
    assert any("special token" in e.text for e in ch.evidence)


def test_usage_missing_is_reported(shipped):
    with FakeLLMServer(report_usage=False, answer_fn=answer) as srv:
        tr = run_against(srv, shipped)
    ch = tokenizer_channel(tr)
    assert not ch.available and ch.reason == "no usage reported"


def test_stream_alone_stands_in_when_usage_missing(qt, shipped):
    with FakeLLMServer(report_usage=False, chunk_fn=token_chunks("qwen3"), answer_fn=answer) as srv:
        tr = run_against(srv, shipped)
    tok, api = content_independent_channels(tr)
    assert tok.name == "tokenizer" and tok.available
    assert tok.summary["source"] == "stream segmentation" and tok.summary["family"] == "qwen2"
    assert tok.loglik["Alibaba"] == 0.0
    assert api.name == "api"


def test_unknown_tokenizer_points_to_no_listed_creator(shipped):
    def odd_usage(messages):      # a tokenizer unlike any family: 3 UTF-8 bytes per token
        return 11 + sum(math.ceil(len(str(m.get("content", "")).encode()) / 3) for m in messages)
    with FakeLLMServer(usage_fn=odd_usage, answer_fn=answer) as srv:
        tr = run_against(srv, shipped)
    ch = tokenizer_channel(tr)
    assert ch.available
    assert ch.summary["family"] == "unknown"
    assert max(ch.loglik.values()) <= ch.default


def test_a_few_failed_or_odd_probes_do_not_break_the_match(qt, shipped):
    usage = chatml_usage("qwen3")
    calls = {"n": 0}

    def noisy(messages):
        calls["n"] += 1
        text = str(messages[-1].get("content", ""))
        bump = 1 if text.startswith(("Math", "Emoji")) else 0       # template merges a boundary
        bump += 6 if text.startswith("Hex") else 0                    # one odd count
        return usage(messages) + bump

    def fail_some(req):
        body = req.json or {}
        text = str((body.get("messages") or [{}])[-1].get("content", ""))
        return Fault.status(400) if text.startswith(("Thai", "สวัสดี", "Call")) else None

    with FakeLLMServer(usage_fn=noisy, fault_fn=fail_some, answer_fn=answer) as srv:
        tr = run_against(srv, shipped)
    ch = tokenizer_channel(tr)
    assert ch.summary["family"] == "qwen2" and ch.summary["confidence"] > 0.99
    assert ch.summary["probes_used"] == 15


# ------------------------------------------------------------------ units

def test_prompt_tokens_reads_the_normalised_usage():
    """The channel reads each result's normalised usage (``ProbeResult.token_usage``): what its
    adapter normalised, or for a result recorded before adapters did, the two wire formats of
    then (OpenAI's prompt_tokens; Anthropic's input_tokens plus its cache tokens)."""
    def r(usage=None, tokens=None):
        return ProbeResult(probe_id="p", family="tokenizer", usage=usage, tokens=tokens)
    assert prompt_tokens(r({"prompt_tokens": 12, "completion_tokens": 1})) == 12
    assert prompt_tokens(r({"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 2})) == 12
    assert prompt_tokens(r({"input_tokens": True})) is None
    assert prompt_tokens(r(None)) is None
    assert prompt_tokens(r({"prompt_tokens": "12"})) is None
    assert prompt_tokens(r({"promptTokenCount": 9}, TokenUsage(prompt=9, completion=1))) == 9     # Gemini's, normalised
    assert prompt_tokens(None) is None


def test_too_few_count_probes():
    t = load_table()
    res = [ProbeResult(probe_id=t["baseline"]["probe"], family="tokenizer", usage={"prompt_tokens": 9})]
    pid = next(iter(t["probes"]))
    res.append(ProbeResult(probe_id=pid, family="tokenizer", usage={"prompt_tokens": 30}))
    ch = tokenizer_channel(Transcript(target={}, probeset={}, results=res))
    assert not ch.available and "too few" in ch.reason


@pytest.mark.parametrize("text,status,want", [
    ("[<|im_start|>]", 200, "echoed"),
    ("Sure: []", 200, "dropped"),
    ("Sure: [", 200, "truncated"),
    ("", 200, "truncated"),
    ("I cannot do that.", 200, None),
    ("[Hello, how can I help you today?", 200, None),
    (None, 400, "error"),
])
def test_echo_outcomes(text, status, want):
    r = ProbeResult(probe_id="tokenizer.echo.im_start", family="tokenizer", text=text, http_status=status,
                    status="ok" if status == 200 else "failed")
    assert echo_outcome(r, "<|im_start|>") == want


def test_segmentation_without_tokenizers_or_stream():
    r = ProbeResult(probe_id="tokenizer.stream.repeat", family="tokenizer", stream=True,
                    chunks=["Order", " ", "987", "654", "321", "0"], text="Order 9876543210")
    t = Transcript(target={}, probeset={}, results=[r])
    ch = segmentation_channel(t, tokenizers={})
    assert not ch.available and ch.reason == "tokenizer packages not installed"
    ch = segmentation_channel(Transcript(target={}, probeset={}, results=[]), tokenizers={})
    assert not ch.available and ch.reason == "no streamed answer"


def test_table_file_is_plain_json():
    with open(TABLE_PATH, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["schema_version"] == 1 and "skipped" in doc
