"""The one list of channels. Every other module asks this one which channels there are.

A channel is one kind of evidence about who made a model. Each is a module in
this package (``module``), listed here once; what the classifier, the trainer and
the probe loader know about channels they read from these entries:

* ``answers``: naive Bayes over the hashed words of one probe family's answers
  (identity, refusal, cutoff, style). The module gives ``pseudo_tokens(text,
  keywords, month)``: the family's own pseudo-tokens, added three times to the
  answer's words (``featurize.py``). ``budget``: the tokens of an answer scored by
  default; ``vocab``: hashed features kept (``vocab_by_source``: per corpus
  source, the style channel being one sub-channel per source); ``nearest_model``:
  a label scores as its best-fitting training model, not as the mean of its models.
* ``claim``: P(claimed maker | creator) over the self-identification answers.
* ``lexical``: logistic regression over the style sources' (and identity's) words.
* ``aligned``: similarity to each reference model's answer to the same prompt.
* ``transcript``: content-independent channels, a function of the whole
  transcript (``score(transcript) -> ChannelResult``, ``base.py``): the tokenizer
  (token counts, else stream segmentation) and the API surface. Added to the
  calibrated posterior as the log-likelihood ratios they are.
* ``provider``: the upstream provider a router names (its weight is learned).

The score channels (``answers``, ``claim``, ``lexical``, ``aligned``) are combined
by the calibrator in this order (``SCORE_CHANNELS``); the artifact records the
order it was trained with, so a channel added here is simply absent (weight 0)
from an older artifact. Adding a channel: its module, and one line below
(``docs/extending.md``).

The package's other modules are helpers, not channels: ``base.py`` (result types),
``text.py`` and ``featurize.py`` (answer features), ``independent.py`` (runs the
transcript channels), ``segmentation.py`` (the tokenizer's fallback) and ``model_echo.py``
(a warning when the served model's name differs from the one asked for).

Standard library only: importing the registry imports no channel module
(``implementation`` loads one when it is needed).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

ANSWERS, CLAIM, LEXICAL, ALIGNED, TRANSCRIPT, PROVIDER = "answers", "claim", "lexical", "aligned", "transcript", "provider"


@dataclass(frozen=True)
class Channel:
    name: str                         # as reports, artifacts and evidence lines name it
    kind: str                         # one of the kinds above
    module: str                       # the module of this package that implements it
    families: tuple[str, ...] = ()    # probe families whose answers it reads
    budget: int = 0                   # answers: tokens of an answer scored when the probe sets none
    vocab: int = 0                    # answers: hashed features kept
    vocab_by_source: dict[str, int] = field(default_factory=dict)   # answers: per corpus source
    nearest_model: bool = False       # answers: a label scores as its best-fitting training model
    per_source: bool = False          # answers: one sub-channel per corpus source ("style-benchpress")


CHANNELS: tuple[Channel, ...] = (
    Channel("identity", ANSWERS, "identity", ("identity",), budget=300, vocab=12000),
    Channel("refusal", ANSWERS, "refusal", ("refusal",), budget=200, vocab=8000),
    Channel("cutoff", ANSWERS, "cutoff", ("cutoff",), budget=200, vocab=10000, nearest_model=True),
    Channel("style", ANSWERS, "style", ("style",), budget=300, vocab=15000, nearest_model=True, per_source=True,
            vocab_by_source={"alpaca_eval": 20000, "arena_hard": 20000, "mt_bench": 10000}),
    Channel("claim", CLAIM, "identity", ("identity",)),
    Channel("lexical", LEXICAL, "lexical", ("style", "identity")),
    Channel("aligned_style", ALIGNED, "aligned", ("style",)),
    Channel("aligned_other", ALIGNED, "aligned", ("identity", "refusal", "cutoff")),
    Channel("tokenizer", TRANSCRIPT, "tokenizer", ("tokenizer",)),
    Channel("api", TRANSCRIPT, "api", ("api",)),
    Channel("provider", PROVIDER, "provider"),
)

BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}


def of_kind(*kinds: str) -> tuple[str, ...]:
    return tuple(c.name for c in CHANNELS if c.kind in kinds)


# the probe families scored by naive Bayes over their answers ("behavioural" probes)
ANSWER_CHANNELS = of_kind(ANSWERS)
# the channels the calibrator weighs, in its column order
SCORE_CHANNELS = of_kind(ANSWERS, CLAIM, LEXICAL, ALIGNED)
# the channels that report how well the best label fits (the rejector reads it)
FIT_CHANNELS = of_kind(ANSWERS, ALIGNED)
ALIGNED_CHANNELS = of_kind(ALIGNED)
TRANSCRIPT_CHANNELS = of_kind(TRANSCRIPT)
# the probe families whose answers make self-identification claims
CLAIM_FAMILIES = BY_NAME["claim"].families
# every probe family a probe may declare
PROBE_FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(f for c in CHANNELS for f in c.families))


def aligned_channel_of(family: str) -> str:
    """The aligned channel that scores answers of a probe family (the last one, ``aligned_other``,
    takes every answer family no aligned channel names)."""
    return next((c.name for c in CHANNELS if c.kind == ALIGNED and family in c.families), ALIGNED_CHANNELS[-1])


def vocab_of(channel: str) -> int:
    """Hashed features kept for a training channel ("identity", "style-benchpress", ...)."""
    base, _, source = channel.partition("-")
    c = BY_NAME[base]
    return c.vocab_by_source.get(source, c.vocab)


def sub_channel(family: str, source: str) -> str:
    """The training channel of an answer: its family's, or one per corpus source (``per_source``)."""
    c = BY_NAME.get(family)
    return f"{family}-{source}" if c is not None and c.per_source else family


def vocab_table() -> dict[str, int]:
    """The vocabulary sizes set per channel and per source (recorded in the artifact's manifest)."""
    out: dict[str, int] = {}
    for c in CHANNELS:
        if c.kind == ANSWERS and not c.per_source:
            out[c.name] = c.vocab
        out.update({f"{c.name}-{s}": v for s, v in c.vocab_by_source.items()})
    return out


def is_nearest_model(channel: str) -> bool:
    return BY_NAME[channel.split("-")[0]].nearest_model


def budget_of(family: str) -> int:
    return BY_NAME[family].budget


def implementation(name: str) -> ModuleType:
    """The module that implements channel ``name`` (imported on first use)."""
    return importlib.import_module(f"{__package__}.{BY_NAME[name].module}")
