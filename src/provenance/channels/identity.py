"""Identity features: which creator (and model name) an answer claims, and how firmly.

``claim_of_text`` reads one answer and returns the creator it claims to be made
by (a known creator name, ``"other"`` for a maker we have no pattern for, or
``"none"``), with a firmness in 0..1. Names are matched in any language,
including the Chinese names of Chinese labs. A generic "created / developed /
trained / made by X" reader recognises claims of makers outside the list.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from ..transcript import Transcript
from .base import Evidence, evidence_line as base_evidence_line

NONE = "none"
OTHER = "other"

# creator -> patterns naming it or its products (matched on lower-cased text)
CREATOR_PATTERNS: dict[str, tuple[str, ...]] = {
    "OpenAI": (r"openai", r"chat\s?gpt", r"\bgpt[-\s]?(?:3|4|5|o)", r"\bdavinci\b", r"\bo[134]-mini\b"),
    "Anthropic": (r"anthropic", r"\bclaude\b"),
    "Google": (r"\bgoogle\b", r"\bgemini\b", r"\bgemma\b", r"deepmind", r"\bbard\b", r"\bpalm\s?2?\b", r"谷歌"),
    "Meta": (r"\bmeta\s+(?:ai|platforms|llama)\b", r"\bllama\b", r"\bmeta\b", r"facebook"),
    "Mistral": (r"mistral", r"mixtral", r"codestral", r"devstral", r"ministral", r"\ble chat\b"),
    "Alibaba": (r"alibaba", r"\bqwen", r"\bqwq\b", r"tongyi", r"通义", r"千问", r"阿里"),
    "DeepSeek": (r"deepseek", r"深度求索"),
    "Microsoft": (r"microsoft", r"\bphi-?\d", r"\bcopilot\b"),
    "Cohere": (r"\bcohere\b", r"\bcommand[-\s]r", r"\baya\b"),
    "01.AI": (r"\b01\.ai\b", r"零一万物", r"\byi-(?:large|34b|1\.5|lightning)"),
    "Zhipu": (r"zhipu", r"chatglm", r"\bglm-?\d", r"智谱", r"\bz\.ai\b"),
    "xAI": (r"\bxai\b", r"\bx\.ai\b", r"\bgrok\b"),
    "Moonshot": (r"moonshot", r"\bkimi\b", r"月之暗面"),
    "Baidu": (r"\bbaidu\b", r"\bernie\b", r"文心", r"百度"),
    "StepFun": (r"stepfun", r"阶跃星辰", r"\bstep-?\d"),
    "MiniMax": (r"minimax", r"\babab\d", r"海螺"),
    "Inception": (r"\binception\b", r"\bmercury\b"),
    "Shanghai AI Lab": (r"internlm", r"shanghai\s+ai\s+lab", r"书生", r"上海人工智能实验室"),
    "MosaicML": (r"mosaicml", r"\bmpt-?\d"),
    "TII": (r"technology innovation institute", r"\bfalcon\b", r"\btii\b"),
    "Baichuan": (r"baichuan", r"百川"),
    "Stability AI": (r"stability\s?ai", r"stablelm"),
    "RWKV": (r"\brwkv\b",),
    "Jina": (r"\bjina\b",),
    "Thinking Machines": (r"thinking machines",),
    "Hugging Face": (r"hugging\s?face", r"smollm"),
    "Nvidia": (r"\bnvidia\b", r"nemotron"),
    "Amazon": (r"\bamazon\b", r"\bnova\b"),
    "AI21": (r"\bai21\b", r"jamba"),
    "IBM": (r"\bibm\b", r"granite"),
}

CLAIM_LABELS: tuple[str, ...] = tuple(CREATOR_PATTERNS) + (OTHER, NONE)

_COMPILED = {c: re.compile("|".join(p)) for c, p in CREATOR_PATTERNS.items()}
_FIRST_PERSON = re.compile(r"\b(?:i am|i'm|i was|my name is|this is|called|我是|我叫|我由)\b|我是|我叫|我由")
_MAKER_RX = re.compile(
    r"(?:created|developed|trained|made|built|designed|produced|owned)\s+by\s+(?:the\s+)?"
    r"(?:team\s+at\s+|researchers\s+at\s+|engineers\s+at\s+)?([A-Z][\w.&\-]*(?:\s+[A-Z][\w.&\-]*){0,3})"
)
_MAKER_ZH_RX = re.compile(r"由\s*([^\s，。,.]{2,12}?)\s*(?:开发|研发|训练|创建|打造)")
_NEGATION = re.compile(r"\b(?:not|n't|no affiliation|unlike|rather than|instead of)\b[^.\n]{0,40}$")


@dataclass(frozen=True)
class Claim:
    creator: str          # known creator, "other" or "none"
    firmness: float       # 0..1: 1 = "I am X, made by Y" in the first sentence
    mentions: tuple[str, ...] = ()   # every creator the text names


def creators_named(text: str) -> list[tuple[int, str]]:
    """(position, creator) of the first mention of each creator the text names."""
    low = text.lower()
    found = []
    for c, rx in _COMPILED.items():
        m = rx.search(low)
        if m:
            found.append((m.start(), c))
    return sorted(found)


def _resolve_maker(name: str, window: str = "") -> str:
    """The known creator a "made by X" phrase names (X first, then a short window after)."""
    for s in (name, window):
        hits = creators_named(s)
        if hits:
            return hits[0][1]
    return OTHER


def claim_of_text(text: str | None) -> Claim:
    """The creator an answer claims, with firmness; ``none`` when it names nobody."""
    if not text:
        return Claim(NONE, 0.0)
    head = text[:1500]
    named = creators_named(head)
    mentions = tuple(c for _, c in named)
    low = head.lower()
    # explicit "made by X" statements weigh most; negated ones ("not made by") are skipped
    makers: list[tuple[int, str]] = []
    for m in _MAKER_RX.finditer(head):
        if _NEGATION.search(low[max(0, m.start() - 60):m.start()]):
            continue
        makers.append((m.start(), _resolve_maker(m.group(1), head[m.start(1):m.start(1) + 50])))
    for m in _MAKER_ZH_RX.finditer(head):
        makers.append((m.start(), _resolve_maker(m.group(1))))
    if makers:
        pos, creator = makers[0]
        firm = 1.0 if pos < 300 else 0.7
        return Claim(creator, firm, mentions)
    if not named:
        return Claim(NONE, 0.0)
    pos, creator = named[0]
    fp = _FIRST_PERSON.search(low)
    firm = 0.8 if fp and fp.start() <= pos and pos - fp.start() < 120 else 0.4
    if pos > 600:
        firm *= 0.5
    return Claim(creator, firm, mentions)


def claim_tokens(text: str | None) -> list[str]:
    """Pseudo-tokens of an identity answer's claim, for the text channels."""
    c = claim_of_text(text)
    out = [f"~claim:{c.creator}"]
    if c.firmness >= 0.8:
        out.append(f"~firm:{c.creator}")
    out.extend(f"~names:{m}" for m in c.mentions[:4])
    return out


def transcript_claims(transcript: Transcript, family: str = "identity") -> dict[str, Claim]:
    """probe id -> claim, for the answers of one family (identity by default)."""
    return {pid: claim_of_text(t) for pid, t in transcript.texts(family).items()}


def pseudo_tokens(text: str, keywords: object = (), month: object = None) -> list[str]:
    """The identity channel's pseudo-tokens (``featurize.py``): the claim an answer makes."""
    return claim_tokens(text)


def evidence_line(channel: str, *, count: int, favours: str, margin: float, probes: list[str],
                  claims: Sequence[tuple[str, str, float]] = (), **kw: Any) -> Evidence:
    """The claim channel's evidence line: the maker most answers claim (the identity channel's
    words get the common line)."""
    if channel != "claim" or not claims:
        return base_evidence_line(channel, count=count, favours=favours, margin=margin, probes=probes)
    named, k = Counter(c for _, c, _ in claims).most_common(1)[0]
    what = "names no creator" if named == NONE else f"claims {named}"
    return Evidence(text=f"identity: {what} in {k} of {len(claims)} answers ({', '.join(probes[:4])})",
                    probes=probes[:8], channel="identity", strength=round(margin, 3), favours=favours)

