"""One answer -> hashed feature indices, the same code for training and inference.

The answer channels are the behavioural probe families (``registry.ANSWER_CHANNELS``:
identity, refusal, cutoff, style). Each answer is cut to its probe's token budget,
tokenised into word unigrams and bigrams plus its channel module's ``pseudo_tokens``
(claims, refusal wording, event knowledge) three times over, and hashed with a
stable CRC-32 into ``HASH_DIM``. ``vocab_lut`` and ``sparse_rows`` lay answers' indices
out as a sparse matrix over a vocabulary (training's naive-Bayes and lexical fits).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .registry import ANSWER_CHANNELS, budget_of, implementation
from .style import answer_tokens
from .text import HASH_DIM, hash_tokens, truncate

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


def vocab_lut(vocab: np.ndarray) -> np.ndarray:
    """Lookup table hash id -> column of ``vocab`` (or -1)."""
    lut = np.full(HASH_DIM, -1, dtype=np.int64)
    lut[vocab] = np.arange(len(vocab))
    return lut


def sparse_rows(index_lists: Sequence[Sequence[int]], lut: np.ndarray, normalise: bool = True):
    """CSR matrix (answers x K) of in-vocab counts, each row normalised to sum 1 unless
    ``normalise`` is False (raw counts)."""
    from scipy import sparse
    data, cols, ptr = [], [], [0]
    for idx in index_lists:
        c = lut[np.asarray(idx, dtype=np.int64)] if len(idx) else np.zeros(0, dtype=np.int64)
        c = c[c >= 0]
        if len(c):
            u, n = np.unique(c, return_counts=True)
            data.append(n / n.sum() if normalise else n.astype(np.float64))
            cols.append(u)
            ptr.append(ptr[-1] + len(u))
        else:
            ptr.append(ptr[-1])
    K = int((lut >= 0).sum())
    d = np.concatenate(data) if data else np.zeros(0)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    return sparse.csr_matrix((d, c, np.asarray(ptr)), shape=(len(index_lists), K))
