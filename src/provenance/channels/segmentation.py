"""Stream segmentation: which tokenizer explains where the server cut its stream chunks.

Most servers send one token per server-sent chunk (a character spanning several
tokens arrives whole), so the chunk boundaries of a streamed answer are the
tokenizer's boundaries. For every tokenizer installed at run time, the streamed
text is re-tokenized and each character boundary inside it is scored: the family
predicts "cut" or "no cut", the stream says which happened.

    log P(stream | family) = agree * log(1 - EPS) + disagree * log(EPS)
    log P(stream | other)  = (same tallies of the closest family) with 0.9 / 0.1

so a family must explain almost every cut to beat "another tokenizer like it".

Needs real tokenizers at run time, which the core does not depend on: the
``tokenizers`` extra (``quicktok-v1`` bundles cl100k, o200k, Llama 3 and Qwen 2/3;
``tokenizers`` loads any ``<family>.json`` file in ``$PROVENANCE_TOKENIZERS_DIR``,
which ``scripts/build_tokenizer_table.py --export-dir`` writes). When none is
importable the channel says ``tokenizer packages not installed``.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..transcript import Transcript
from .base import ChannelResult, Evidence
from .tokenizer import FAMILY_LABELS, OTHER, creator_logliks, family_posterior

EPS = 0.02
OTHER_AGREE = 0.9
MIN_POSITIONS = 12
MAX_CHARS = 4000
ENV_DIR = "PROVENANCE_TOKENIZERS_DIR"

Splitter = Callable[[str], list[bytes]]


def _quicktok(name: str) -> Splitter:
    import quicktok  # optional
    enc = quicktok.get_encoding(name)
    return lambda s: [enc.decode_single_token_bytes(t) for t in enc.encode_ordinary(s)]


def _hf_file(path: Path) -> Splitter:
    from tokenizers import Tokenizer  # optional
    tok = Tokenizer.from_file(str(path))

    def split(s: str) -> list[bytes]:
        enc = tok.encode(s, add_special_tokens=False)
        out: list[bytes] = []
        prev = 0
        for _, end in enc.offsets:          # character offsets
            if end > prev:
                out.append(s[prev:end].encode("utf-8"))
                prev = end
        if prev < len(s):
            out.append(s[prev:].encode("utf-8"))
        return out
    return split


def available_tokenizers() -> dict[str, Splitter]:
    """Family -> splitter for every tokenizer that loads here (no network). Loaded once
    per process and tokenizer folder (a big tokenizer.json takes seconds to parse)."""
    return dict(_load_tokenizers(os.environ.get(ENV_DIR) or ""))


@lru_cache(maxsize=2)
def _load_tokenizers(d: str) -> tuple[tuple[str, Splitter], ...]:
    out: dict[str, Splitter] = {}
    for fam, name in (("cl100k", "cl100k_base"), ("o200k", "o200k_base"), ("llama3", "llama3"), ("qwen2", "qwen3")):
        try:
            out[fam] = _quicktok(name)
        except Exception:
            pass
    if d and Path(d).is_dir():
        for f in sorted(Path(d).glob("*.json")):
            fam = f.stem
            if fam in out or fam not in FAMILY_LABELS:
                continue
            try:
                out[fam] = _hf_file(f)
            except Exception:
                pass
    return tuple(out.items())


def _char_boundaries(text: str) -> list[int]:
    pos, out = 0, []
    for ch in text[:-1]:
        pos += len(ch.encode("utf-8"))
        out.append(pos)
    return out


def _cuts(pieces: list[bytes]) -> set[int]:
    pos, out = 0, set()
    for p in pieces[:-1]:
        pos += len(p)
        out.add(pos)
    return out


def stream_texts(transcript: Transcript) -> list[tuple[str, list[str]]]:
    """(probe id, non-empty chunks) for every successful streamed answer."""
    out = []
    for r in transcript.results:
        if r.ok and r.stream and r.chunks:
            ch = [c for c in r.chunks if isinstance(c, str) and c]
            if len(ch) >= 2:
                out.append((r.probe_id, ch))
    return out


def segmentation_channel(transcript: Transcript, tokenizers: dict[str, Splitter] | None = None) -> ChannelResult:
    streams = stream_texts(transcript)
    if not streams:
        return ChannelResult(name="segmentation", available=False, reason="no streamed answer")
    toks = tokenizers if tokenizers is not None else available_tokenizers()
    if not toks:
        return ChannelResult(name="segmentation", available=False, reason="tokenizer packages not installed")
    agree = {f: 0 for f in toks}
    disagree = {f: 0 for f in toks}
    n_pos = 0
    probes: list[str] = []
    for pid, chunks in streams:
        text = "".join(chunks)
        if len(text) > MAX_CHARS:
            continue
        obs = _cuts([c.encode("utf-8") for c in chunks])
        bounds = _char_boundaries(text)
        if not bounds:
            continue
        probes.append(pid)
        n_pos += len(bounds)
        for f, split in toks.items():
            try:
                pred = _cuts(split(text))
            except Exception:
                pred = set()
            for b in bounds:
                if (b in obs) == (b in pred):
                    agree[f] += 1
                else:
                    disagree[f] += 1
    if n_pos < MIN_POSITIONS:
        return ChannelResult(name="segmentation", available=False, reason="streamed text too short")
    ll = {f: agree[f] * math.log(1 - EPS) + disagree[f] * math.log(EPS) for f in toks}
    closest = max(toks, key=lambda f: agree[f])
    ll[OTHER] = agree[closest] * math.log(OTHER_AGREE) + disagree[closest] * math.log(1 - OTHER_AGREE)
    post = family_posterior(ll)
    best = max(post, key=lambda f: post[f])
    loglik, default = creator_logliks(ll)
    rate = {f: round(agree[f] / n_pos, 4) for f in toks}
    summary = {
        "family": best if best != OTHER else "unknown",
        "label": FAMILY_LABELS.get(best, "a tokenizer not installed here / not in the table"),
        "confidence": round(post[best], 4),
        "scores": {f: round(p, 4) for f, p in sorted(post.items(), key=lambda kv: -kv[1])[:6]},
        "agreement": dict(sorted(rate.items(), key=lambda kv: -kv[1])),
        "positions": n_pos,
        "families_tested": sorted(toks),
    }
    if best == OTHER:
        text = (f"stream chunk boundaries fit none of the installed tokenizers "
                f"(closest {FAMILY_LABELS.get(closest, closest)}: {rate[closest]:.1%} of {n_pos} positions)")
    else:
        text = (f"stream chunk boundaries follow the {FAMILY_LABELS.get(best, best)} tokenizer at "
                f"{rate[best]:.1%} of {n_pos} positions")
    ev = [Evidence(text=text, probes=probes, channel="tokenizer", strength=round(post[best], 4))]
    return ChannelResult(name="segmentation", available=True, loglik={c: round(v, 4) for c, v in loglik.items()},
                         default=round(default, 4), evidence=ev, summary=summary)
