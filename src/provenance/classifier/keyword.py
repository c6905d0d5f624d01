"""A simple keyword scorer: counts creator names the answers mention.

It exists so the spine works before (and without) a trained artifact; it is
wired through the same ``Classifier`` interface, and reports say when it was used.
Its confidence is deliberately modest: it has never been calibrated.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..channels.registry import ANSWER_CHANNELS
from ..transcript import Transcript
from .base import UNKNOWN, Attribution, Candidate, Evidence

# creator -> patterns naming it or its products (case-insensitive)
NAMES: dict[str, tuple[str, ...]] = {
    "OpenAI": ("openai", "chatgpt", r"gpt-?\d", "gpt-4o"),
    "Anthropic": ("anthropic", "claude"),
    "Google": ("google", "gemini", "gemma", "deepmind", "bard", "palm"),
    "Meta": (r"\bmeta\b", "llama"),
    "Mistral": ("mistral", "mixtral", "codestral"),
    "Alibaba": ("alibaba", "qwen", "通义", "tongyi"),
    "DeepSeek": ("deepseek", "深度求索"),
    "Microsoft": ("microsoft", r"\bphi-?\d"),
    "Hugging Face": ("hugging ?face", "smollm"),
    "xAI": (r"\bxai\b", "grok"),
    "Moonshot": ("moonshot", "kimi"),
    "Zhipu": ("zhipu", "chatglm", r"\bglm-?\d", "智谱"),
    "Cohere": ("cohere", r"command[- ]r"),
}


class KeywordClassifier:
    name = "keyword-baseline"
    version = "0"

    def __init__(self) -> None:
        self._rx = {c: re.compile("|".join(p), re.I) for c, p in NAMES.items()}

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "hash": None, "probeset_hash": None,
                "calibrated": False}

    def classify(self, transcript: Transcript) -> Attribution:
        scores = {c: 0.0 for c in self._rx}
        hits: dict[str, list[str]] = {c: [] for c in self._rx}
        used = 0
        for r in transcript.ok_results():
            if r.family not in ANSWER_CHANNELS or not r.text:
                continue
            used += 1
            weight = 3.0 if r.family == "identity" else 1.0
            for c, rx in self._rx.items():
                if rx.search(r.text):
                    scores[c] += weight
                    hits[c].append(r.probe_id)
        z = [math.exp(min(v, 50)) for v in scores.values()]
        # an explicit "nobody named" mass keeps the scorer honest
        z_unknown = math.exp(2.0)
        total = sum(z) + z_unknown
        cands = sorted((Candidate(c, round(v / total, 4)) for c, v in zip(scores, z)),
                       key=lambda x: -x.probability)
        top = cands[0]
        evidence = [Evidence(text=f"answers mention {c} ({len(p)} probe(s))", probes=sorted(set(p))[:8],
                             channel="identity") for c, p in hits.items() if p]
        if top.probability >= 0.8:
            creator, status = top.creator, "match"
        elif top.probability >= 0.5:
            creator, status = top.creator, "ambiguous"
        else:
            creator, status = UNKNOWN, "unknown"
        return Attribution(creator=creator, confidence=top.probability, status=status,
                           candidates=cands[:5], evidence=evidence, probes_used=used,
                           reliability=["keyword baseline: not a trained or calibrated classifier"])
