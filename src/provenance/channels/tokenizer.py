"""Tokenizer channel: which tokenizer family explains the endpoint's usage counts.

Content-independent: the model's words do not matter, only usage (each adapter's
normalised prompt-token count, ``ProbeResult.token_usage``). For each count probe,
``prompt_tokens(probe) - prompt_tokens(baseline)`` equals ``count_f(text) - count_f(baseline content)``
under the true tokenizer family ``f``, since the chat template cancels out. The
table of ``count_f`` comes from ``data/tokenizers.json``
(``scripts/build_tokenizer_table.py``); no tokenizer is needed at run time.

Likelihood of one observed difference ``D`` given a family predicting ``d``:

* ``|D - d| == 0``: 0.85; ``== 1``: 0.05 each side (a chat template may merge a
  boundary token); anything else: an outlier mass of 0.05 spread over ~50 values
  (a failed or odd probe), i.e. 0.001 per value.
* "another tokenizer" (none of the table): uniform over a band around the known
  families' predictions (width ``max(8, 1.5 * spread)``): about 1/10 .. 1/60 per value.

So an exact match on a probe gains ~ +2.3 .. +4 nats for a family over "another
tokenizer" and a miss by >= 2 costs ~ -3.5 .. -5: a family needs agreement on most
probes to beat "another tokenizer", and one odd probe does not sink the true one.

Family -> creator: ``P(obs | creator) = sum_f P(obs | f) P(f | creator)`` with the
usage table ``CREATOR_FAMILIES`` below (OTHER = a tokenizer not in the table, e.g.
current Claude or Gemini). Every listed creator keeps a small share (``LEAK`` =
0.02) on open-weights families, and creators not listed (the channel's
``default``) carry 0.03 on them: fine-tunes of Llama/Qwen/Mistral... by anyone are
common, so a tokenizer shows lineage, not proof of creator. The creator
log-likelihoods are shifted so the best is 0 and floored at ``-FLOOR`` (8 nats).
Values with a clean match on the 12 count probes (measured; tests/channels/test_tokenizer.py
checks the bounds):

* Qwen 2 tokenizer -> Alibaba 0, DeepSeek -1.93 (R1 distills), unlisted -5.28,
  every other listed creator about -5.7 .. -6.0;
* Llama 3 -> Meta 0, DeepSeek -1.78, unlisted -5.13, others ~ -5.6 .. -5.9;
* o200k or legacy Claude -> OpenAI (resp. Anthropic) 0, everyone else -8 (floor);
  cl100k -> OpenAI 0, Microsoft -0.34 (Phi-4), others -8;
* GPT-2 -> unlisted 0, Microsoft -0.29, OpenAI -1.15, Meta -1.76 (weak: many old models);
* no family matches -> unlisted 0, Anthropic -0.39, Hugging Face -0.65, Google -0.83,
  the rest -0.96 .. -3.4: it pushes toward "unknown", not toward a listed creator.

Strong enough that a disguised identity claim does not outvote it, weak enough
that several other strong channels together still can.

Echo probes (repeat a string that is a special token in some families) add weak
evidence: dropped/truncated vs echoed, at most ~0.7 nats per probe.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..transcript import ProbeResult, Transcript
from .base import ChannelResult, Evidence

TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "tokenizers.json"

OTHER = "other"          # "a tokenizer not in the table"
P_EXACT = 0.85
P_OFF1 = 0.05            # each side
P_OUTLIER_PER_VALUE = 0.001
MIN_COUNT_PROBES = 3
LEAK = 0.02              # listed creator -> open-weights families (spread)
UNLISTED_OPEN = 0.03     # unlisted creators -> open-weights families (spread)
FLOOR = 8.0              # creator log-likelihoods are clipped to [-FLOOR, 0]
PRIOR_OTHER = 0.2        # family prior for "another tokenizer"

FAMILY_LABELS = {
    "cl100k": "OpenAI cl100k (GPT-3.5/GPT-4)",
    "o200k": "OpenAI o200k (GPT-4o and later)",
    "llama3": "Llama 3",
    "llama2": "Llama 2 SentencePiece",
    "qwen2": "Qwen 2/2.5/3",
    "qwen35": "Qwen 3.5/3.6",
    "gemma": "Gemma (Gemma 3/4)",
    "mistral_spm": "Mistral SentencePiece (v3)",
    "tekken": "Mistral Tekken",
    "deepseek_v3": "DeepSeek V3/R1",
    "claude_legacy": "legacy Claude (up to Claude 2)",
    "command_r": "Cohere Command-R",
    "gpt2": "GPT-2 (used by many older models)",
    "smollm2": "SmolLM2 (Hugging Face)",
}

# Families whose weights anyone can fine-tune (lineage, not proof of creator).
OPEN_FAMILIES = ("llama3", "llama2", "qwen2", "qwen35", "gemma", "mistral_spm", "tekken",
                 "deepseek_v3", "command_r", "gpt2", "smollm2")

# P(tokenizer family | creator), with OTHER = "a tokenizer not in the table" (current
# Claude, Gemini, Grok ... tokenizers are not public). Normalised with LEAK at use.
CREATOR_FAMILIES: dict[str, dict[str, float]] = {
    "OpenAI": {"o200k": 0.6, "cl100k": 0.35, "gpt2": 0.02, OTHER: 0.03},    # gpt2 ~ GPT-2/GPT-3 r50k
    "Anthropic": {"claude_legacy": 0.3, OTHER: 0.5},
    "Meta": {"llama3": 0.6, "llama2": 0.27, "gpt2": 0.01, OTHER: 0.12},   # Llama 4: own; OPT: GPT-2
    "Alibaba": {"qwen2": 0.7, "qwen35": 0.27, OTHER: 0.03},
    "Google": {"gemma": 0.6, OTHER: 0.4},
    "Mistral": {"mistral_spm": 0.5, "tekken": 0.42, "llama2": 0.03, OTHER: 0.05},
    "DeepSeek": {"deepseek_v3": 0.72, "qwen2": 0.1, "llama3": 0.1, OTHER: 0.08},   # R1 distills
    "Cohere": {"command_r": 0.85, OTHER: 0.15},
    "Hugging Face": {"smollm2": 0.7, "mistral_spm": 0.08, "llama2": 0.07, OTHER: 0.15},
    "Microsoft": {"llama2": 0.35, "cl100k": 0.25, "gpt2": 0.05, OTHER: 0.35},  # Phi-3, Phi-4, Phi-2
}
UNLISTED_OTHER = 0.7     # creators not listed: mostly their own tokenizers (GLM, Kimi, Yi, ERNIE ...)
UNLISTED_GPT2 = 0.05     # ... GPT-2-like ones for older open models (MPT, StableLM, Falcon era)

# Special/control strings per family (echo probes), keyed by the probe's ``text``.
SPECIAL_IN = {
    "<|endoftext|>": ("gpt2", "cl100k", "o200k", "qwen2", "qwen35", "smollm2"),
    "<|im_start|>": ("qwen2", "qwen35", "smollm2"),
    "<|eot_id|>": ("llama3",),
    "<end_of_turn>": ("gemma",),
    "[INST]": ("mistral_spm", "tekken"),
}
# P(outcome | token is special in the family) and P(outcome | it is plain text there)
ECHO_SPECIAL = {"echoed": 0.3, "dropped": 0.3, "truncated": 0.3, "error": 0.1}
ECHO_PLAIN = {"echoed": 0.8, "dropped": 0.07, "truncated": 0.08, "error": 0.05}


@lru_cache(maxsize=4)
def _load_table(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_table(path: Path | str | None = None) -> dict[str, Any]:
    return _load_table(str(path or TABLE_PATH))


def prompt_tokens(result: Any) -> int | None:
    """The prompt-side token count the endpoint billed for one result (its normalised usage,
    ``ProbeResult.token_usage``: cached tokens included), or None."""
    u = result.token_usage() if result is not None else None
    return u.prompt if u is not None else None


def observed_differences(transcript: Transcript, table: Mapping[str, Any]) -> tuple[dict[str, int], str | None]:
    """probe id -> prompt-token difference to the baseline; and why none, if none."""
    results = {r.probe_id: r for r in transcript.results}
    base = results.get(table["baseline"]["probe"])
    have_usage = any(prompt_tokens(r) is not None for r in transcript.results if r.ok)
    if base is None or not base.ok:
        return {}, "baseline probe not answered" if have_usage else "no usage reported"
    b = prompt_tokens(base)
    if b is None:
        return {}, "no usage reported"
    out: dict[str, int] = {}
    for pid in list(table["probes"]) + list(table.get("echo_probes", {})):
        r = results.get(pid)
        if r is None or not r.ok:
            continue
        p = prompt_tokens(r)
        if p is not None:
            out[pid] = p - b
    if not any(pid in table["probes"] for pid in out):
        return {}, "no usage reported"
    return out, None


def _predictions(table: Mapping[str, Any], pid: str) -> dict[str, tuple[int, ...]]:
    """family -> the differences to the baseline it allows for probe ``pid``: one for a
    count probe; for an echo probe, the plain-text count and, where the echoed string is
    a special token of the family, the count with it parsed as one token (servers differ)."""
    out: dict[str, tuple[int, ...]] = {}
    for f, v in table["families"].items():
        b = v["baseline"]
        if pid in v["counts"]:
            out[f] = (v["counts"][pid] - b,)
        elif pid in v.get("echo", {}):
            e = v["echo"][pid]
            out[f] = tuple(x - b for x in (e["plain"], e.get("special")) if x is not None)
    return out


def _logsumexp(xs: list[float]) -> float:
    m = max(xs)
    if m == -math.inf:
        return m
    return m + math.log(sum(math.exp(x - m) for x in xs))


def family_logliks(diffs: Mapping[str, int], table: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """log P(observed differences | family) for every family and OTHER; plus per-family
    {exact, off1, miss} tallies."""
    fams = table["families"]
    ll: dict[str, float] = {f: 0.0 for f in fams}
    tally = {f: {"exact": 0, "off1": 0, "miss": 0} for f in fams}
    ll[OTHER] = 0.0
    for pid, obs in diffs.items():
        preds = _predictions(table, pid)
        if not preds:
            continue
        allv = [d for ds in preds.values() for d in ds]
        spread = max(allv) - min(allv)
        ll[OTHER] += -math.log(max(8.0, 1.5 * spread))
        for f, ds in preds.items():
            p = sum(_p_err(abs(obs - d)) for d in ds) / len(ds)
            ll[f] += math.log(p)
            err = min(abs(obs - d) for d in ds)
            tally[f]["exact" if err == 0 else "off1" if err == 1 else "miss"] += 1
    return ll, tally


def _p_err(err: int) -> float:
    return P_EXACT if err == 0 else P_OFF1 if err == 1 else P_OUTLIER_PER_VALUE


def family_posterior(ll: Mapping[str, float]) -> dict[str, float]:
    fams = [f for f in ll if f != OTHER]
    prior = {f: (1 - PRIOR_OTHER) / max(1, len(fams)) for f in fams}
    prior[OTHER] = PRIOR_OTHER
    lp = {f: ll[f] + math.log(prior[f]) for f in ll}
    z = _logsumexp(list(lp.values()))
    return {f: math.exp(v - z) for f, v in lp.items()}


def creator_logliks(ll: Mapping[str, float]) -> tuple[dict[str, float], float]:
    """Creator log-likelihoods (best = 0, floored at -FLOOR) and the default for unlisted creators."""
    open_f = [f for f in OPEN_FAMILIES if f in ll]

    def mix(weights: Mapping[str, float], open_share: float) -> float:
        w = {f: v for f, v in weights.items() if f in ll}
        for f in open_f:
            w[f] = w.get(f, 0.0) + open_share / max(1, len(open_f))
        z = sum(w.values())
        return _logsumexp([math.log(p / z) + ll[f] for f, p in w.items() if p > 0])

    raw = {c: mix(fw, LEAK) for c, fw in CREATOR_FAMILIES.items()}
    default = mix({OTHER: UNLISTED_OTHER, "gpt2": UNLISTED_GPT2}, UNLISTED_OPEN)
    top = max(max(raw.values()), default)
    out = {c: max(-FLOOR, v - top) for c, v in raw.items()}
    return out, max(-FLOOR, default - top)


# ---------------------------------------------------------------- echo probes

def echo_outcome(r: ProbeResult, token: str) -> str | None:
    """echoed | dropped | truncated | error | None (no usable signal)."""
    if not r.ok or (r.http_status is not None and r.http_status >= 400):
        return "error" if r.http_status is not None and 400 <= r.http_status < 500 else None
    t = r.text or ""
    if token in t:
        return "echoed"
    if not t.strip():
        return "truncated"
    i = t.rfind("[")
    if i >= 0:
        rest = t[i + 1:]
        if not rest.strip():
            return "truncated"          # stopped right after the opening bracket
        if "]" in rest and not rest.split("]", 1)[0].strip():
            return "dropped"            # "[]": the token vanished
    return None


def echo_logliks(transcript: Transcript, families: list[str]) -> tuple[dict[str, float], list[tuple[str, str]]]:
    ll = {f: 0.0 for f in families}
    ll[OTHER] = 0.0
    seen: list[tuple[str, str]] = []
    for r in transcript.results:
        if r.family != "tokenizer" or not r.probe_id.startswith("tokenizer.echo."):
            continue
        token = _echo_token(r)
        if token is None or token not in SPECIAL_IN:
            continue
        out = echo_outcome(r, token)
        if out is None:
            continue
        seen.append((r.probe_id, out))
        special = set(SPECIAL_IN[token])
        for f in families:
            ll[f] += math.log((ECHO_SPECIAL if f in special else ECHO_PLAIN)[out])
        ll[OTHER] += math.log(0.5 * ECHO_SPECIAL[out] + 0.5 * ECHO_PLAIN[out])
    return ll, seen


def _echo_token(r: ProbeResult) -> str | None:
    req = r.request or {}
    msgs = req.get("messages") if isinstance(req, dict) else None
    text = None
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict):
        c = msgs[-1].get("content")
        text = c if isinstance(c, str) else None
    for tok in SPECIAL_IN:
        if text and f"[{tok}]" in text:
            return tok
    key = r.probe_id.rsplit(".", 1)[-1]
    return {"endoftext": "<|endoftext|>", "im_start": "<|im_start|>", "eot_id": "<|eot_id|>",
            "end_of_turn": "<end_of_turn>", "inst": "[INST]"}.get(key)


# ---------------------------------------------------------------- the channel

def tokenizer_channel(transcript: Transcript, table: Mapping[str, Any] | None = None) -> ChannelResult:
    table = table or load_table()
    diffs, why = observed_differences(transcript, table)
    if why:
        return ChannelResult(name="tokenizer", available=False, reason=why)
    n_count = sum(1 for pid in diffs if pid in table["probes"])
    if n_count < MIN_COUNT_PROBES:
        return ChannelResult(name="tokenizer", available=False,
                             reason=f"too few count probes answered with usage ({n_count} < {MIN_COUNT_PROBES})")
    ll, tally = family_logliks(diffs, table)
    ell, echoes = echo_logliks(transcript, list(table["families"]))
    total = {f: ll[f] + ell.get(f, 0.0) for f in ll}
    post = family_posterior(total)
    best = max(post, key=lambda f: post[f])
    loglik, default = creator_logliks(total)
    n = len(diffs)
    matched = sorted(pid for pid in diffs if best != OTHER and _exact(table, best, pid, diffs[pid]))
    scores = {f: round(p, 4) for f, p in sorted(post.items(), key=lambda kv: -kv[1])[:6]}
    summary = {
        "family": best if best != OTHER else "unknown",
        "label": FAMILY_LABELS.get(best, "a tokenizer not in the table"),
        "confidence": round(post[best], 4),
        "scores": scores,
        "matched_probes": matched,
        "probes_used": n,
        "tallies": {f: tally[f] for f in list(scores) if f in tally},
        "echo": dict(echoes),
        "special_tokens_parsed": _specials_parsed(table, best, diffs),
    }
    ev: list[Evidence] = []
    probes = sorted(diffs)
    if best == OTHER:
        near = max((f for f in tally), key=lambda f: (tally[f]["exact"], tally[f]["off1"]))
        t = tally[near]
        ev.append(Evidence(
            text=(f"prompt-token counts match no known tokenizer family (closest: {FAMILY_LABELS.get(near, near)}, "
                  f"exact on {t['exact']}/{n} probes)"),
            probes=probes, channel="tokenizer", strength=round(post[OTHER], 4)))
    else:
        t = tally[best]
        ev.append(Evidence(
            text=(f"prompt-token counts match the {FAMILY_LABELS.get(best, best)} tokenizer: exact on {t['exact']}/{n} "
                  f"probes ({_short(matched)}), off by one on {t['off1']} (posterior {post[best]:.3f})"),
            probes=matched or probes, channel="tokenizer", strength=round(post[best], 4)))
        if best in OPEN_FAMILIES:
            ev.append(Evidence(text="an open-weights tokenizer shows lineage, not proof of creator (fine-tunes share it)",
                               probes=[], channel="tokenizer", strength=None))
    if summary["special_tokens_parsed"]:
        ev.append(Evidence(
            text=("the server counted " + ", ".join(summary["special_tokens_parsed"]) +
                  " as one special token each, as the " + FAMILY_LABELS.get(best, best) + " vocabulary has it"),
            probes=[pid for pid in diffs if pid in table.get("echo_probes", {})], channel="tokenizer", strength=None))
    if echoes:
        ev.append(Evidence(text="special-token echo: " + ", ".join(f"{p.rsplit('.', 1)[-1]} {o}" for p, o in echoes),
                           probes=[p for p, _ in echoes], channel="tokenizer", strength=None))
    return ChannelResult(name="tokenizer", available=True, loglik={c: round(v, 4) for c, v in loglik.items()},
                         default=round(default, 4), evidence=ev, summary=summary)


def _short(pids: list[str], k: int = 6) -> str:
    names = [p.split(".", 1)[-1] for p in pids]
    return ", ".join(names[:k]) + (f", +{len(names) - k} more" if len(names) > k else "")


def _specials_parsed(table: Mapping[str, Any], fam: str, diffs: Mapping[str, int]) -> list[str]:
    """Echo strings whose prompt count matched ``fam`` only with the string as one special token."""
    if fam not in table["families"]:
        return []
    out = []
    v = table["families"][fam]
    for pid, e in table.get("echo_probes", {}).items():
        c = v.get("echo", {}).get(pid)
        if pid in diffs and c and c.get("special") is not None and c["special"] != c["plain"] \
                and diffs[pid] == c["special"] - v["baseline"]:
            out.append(e["token"])
    return out


def _exact(table: Mapping[str, Any], fam: str, pid: str, obs: int) -> bool:
    return obs in _predictions(table, pid).get(fam, ())


def score(transcript: Transcript, *, cross_check: bool = False) -> ChannelResult:
    """The tokenizer channel (``registry.py``): token counts, else stream segmentation.

    Stream segmentation (``segmentation.py``) is folded into this channel rather than
    added as another one, so that one tokenizer is never counted twice: when usage
    counts are available they decide (segmentation is then scored only with
    ``cross_check``, kept in the summary; loading the run-time tokenizers costs a few
    seconds once per process); when they are not, the segmentation match stands in
    for them (with the same family -> creator mapping).
    """
    tok = tokenizer_channel(transcript)
    seg: ChannelResult | None = None
    if not tok.available or cross_check:
        try:
            from .segmentation import segmentation_channel
            seg = segmentation_channel(transcript)
        except Exception as e:  # an optional extra must never break classification
            seg = ChannelResult(name="segmentation", available=False, reason=f"segmentation failed: {type(e).__name__}")
    if seg is None:
        return tok
    if tok.available:
        tok.summary["segmentation"] = seg.summary if seg.available else {"available": False, "reason": seg.reason}
        return tok
    if not seg.available:
        return tok
    return ChannelResult(name="tokenizer", available=True, loglik=seg.loglik, default=seg.default,
                         evidence=seg.evidence, summary=dict(seg.summary, source="stream segmentation",
                                                             counts_unavailable=tok.reason))


# -- the veto rule: a tokenizer match this confident, ruling a creator out by this many nats, forbids
# naming it (the classifier's verdict, the headline's best guess and the claim check all apply it)
VETO_CONFIDENCE = 0.95
VETO_NATS = 3.0


def confident(tok: ChannelResult | None) -> bool:
    """Whether an available tokenizer result is confident enough to veto a creator."""
    return (tok is not None and tok.available
            and float((tok.summary or {}).get("confidence") or 0.0) >= VETO_CONFIDENCE)


def shortfall(tok: ChannelResult, creator: str, among: Iterable[str] | None = None) -> float:
    """How many nats ``creator``'s tokenizer log-likelihood falls below the best one: the best of
    ``among`` (creator names) when given, else the best of every creator and of "none of them"."""
    ll = dict(tok.loglik)
    if among is None:
        best = max(list(ll.values()) + [tok.default])
    else:
        best = max(ll.get(c, tok.default) for c in among)
    return best - ll.get(creator, tok.default)
