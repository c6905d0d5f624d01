"""One answer -> hashed feature indices, the same code for training and inference.

The answer channels are the behavioural probe families (``registry.ANSWER_CHANNELS``:
identity, refusal, cutoff, style). Each answer is cut to its probe's token budget,
tokenised into word unigrams and bigrams plus its channel module's ``pseudo_tokens``
(claims, refusal wording, event knowledge) three times over, and hashed with a
stable CRC-32 into ``HASH_DIM``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .registry import ANSWER_CHANNELS, budget_of, implementation
from .style import answer_tokens
from .text import hash_tokens, truncate

DEFAULT_BUDGET = {ch: budget_of(ch) for ch in ANSWER_CHANNELS}
PSEUDO_REPEAT = 3       # a channel's pseudo-tokens count this many times as much as a word


def answer_feature_tokens(family: str, text: str, keywords: Sequence[str] = (),
                          month: str | None = None) -> list[str]:
    return answer_tokens(text) + implementation(family).pseudo_tokens(text, keywords, month) * PSEUDO_REPEAT


def answer_indices(family: str, text: str, max_tokens: int, keywords: Iterable[str] = (),
                   month: str | None = None) -> list[int]:
    """Hashed feature indices (with repeats) of one answer cut to ``max_tokens``."""
    t = truncate(text or "", max_tokens)
    return hash_tokens(answer_feature_tokens(family, t, tuple(keywords), month))


def vocab_lookup(vocab: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in the sorted ``vocab``, whether it is there) for each of ``ids``; positions
    of ids not there are arbitrary valid indices (0 in an empty vocabulary)."""
    if not len(vocab):
        return np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=bool)
    pos = np.minimum(np.searchsorted(vocab, ids), len(vocab) - 1)
    return pos, vocab[pos] == ids


def vocab_columns(vocab: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """An answer's hashed indices -> (columns of the sorted ``vocab`` they hit, counts), or None
    when none is in the vocabulary."""
    if not len(idx) or not len(vocab):
        return None
    pos, hit = vocab_lookup(vocab, idx)
    cols = pos[hit]
    if not len(cols):
        return None
    return np.unique(cols, return_counts=True)
