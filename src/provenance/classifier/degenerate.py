"""Degenerate evidence: answers that do not depend on the prompt (numpy-free).

An endpoint that answers every probe with the same text (a canned reply, a relay's error page
returned as 200, a disguise that pastes one self-description everywhere) gives the channels many
"answers" that are really one. Scored as independent evidence they add up to a confident verdict
about nothing. A genuine model repeats itself only in short replies (the same refusal to several
harmful requests), so two tests are made: long answers repeated word for word, and a run whose
answers are nearly all the same.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

LONG_CHARS = 200         # an answer this long is not a stock refusal
MIN_LONG = 4             # long answers needed before their repetition is judged
LONG_DUP_SHARE = 0.5     # share of long answers identical to another long answer
MIN_ANSWERS = 10         # answers needed before the distinct share is judged
MIN_DISTINCT_SHARE = 0.3 # fewer distinct answers than this share of all answers


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text[:2000]).strip().lower()


def degenerate(texts: Iterable[str]) -> str | None:
    """Why these answers (one per probe) are degenerate evidence, or None."""
    norm = [_norm(t) for t in texts if t and t.strip()]
    if not norm:
        return None
    n = len(norm)
    counts = Counter(norm)
    long_ = [t for t in norm if len(t) >= LONG_CHARS]
    dup_long = sum(1 for t in long_ if counts[t] > 1)
    if len(long_) >= MIN_LONG and dup_long / len(long_) >= LONG_DUP_SHARE:
        return (f"{dup_long} of {len(long_)} long answers repeat another answer word for word: "
                "the answers do not depend on the prompt")
    if n >= MIN_ANSWERS and len(counts) / n < MIN_DISTINCT_SHARE:
        return f"only {len(counts)} distinct answers to {n} probes: the answers do not depend on the prompt"
    return None
