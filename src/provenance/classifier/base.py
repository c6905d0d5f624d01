"""The classifier interface every scorer implements, and the attribution it returns.

``Classifier.classify(transcript)`` is a pure function of a transcript: the same
transcript always gives the same attribution, with no network access. The
report records ``info()`` so a reader knows which classifier produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..channels.base import Evidence
from ..transcript import Transcript

UNKNOWN = "unknown"
STATUSES = ("match", "ambiguous", "unknown", "failed")


@dataclass
class Candidate:
    creator: str
    probability: float


@dataclass
class Attribution:
    creator: str                   # a creator name or "unknown"
    confidence: float              # 0..1, calibrated probability that `creator` is right
    status: str                    # match | ambiguous | unknown | failed
    candidates: list[Candidate] = field(default_factory=list)   # best first
    evidence: list[Evidence] = field(default_factory=list)
    family: dict[str, Any] | None = None        # {"name": "GPT-4o", "confidence": 0.4}
    channels: dict[str, Any] = field(default_factory=dict)      # per-channel summaries
    tokenizer: dict[str, Any] | None = None     # matched tokenizer family and evidence
    stack: dict[str, Any] | None = None         # serving stack guess
    reliability: list[str] = field(default_factory=list)        # why it may be unreliable
    probes_used: int = 0
    # the open weights an `unknown` model appears to build on (a third party's fine-tune):
    # {"creator": "Meta", "family": "Llama 3", "basis": "tokenizer" | "behaviour", "confidence": 0.8}
    lineage: dict[str, Any] | None = None
    # set by attribute.finalize (classifier/headline.py, channels/model_echo.py); None from a bare classify()
    best_guess: dict[str, Any] | None = None    # the best candidate the tokenizer allows, and those it excludes
    model_echo: dict[str, Any] | None = None    # requested vs echoed model names

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Classifier(Protocol):
    name: str
    version: str

    def info(self) -> dict[str, Any]:
        """name, version, hash (of the artifact), probeset_hash."""
        ...

    def classify(self, transcript: Transcript) -> Attribution:
        ...
