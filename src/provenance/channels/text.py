"""Text tokenisation and stable feature hashing shared by training and inference.

Everything here is standard library only. ``stable_hash`` uses CRC-32, which is
identical on every platform and Python run (unlike ``hash()``), so a model
trained here scores live answers with exactly the same feature indices.
"""

from __future__ import annotations

import re
import zlib
from typing import Iterable

HASH_BITS = 18
HASH_DIM = 1 << HASH_BITS

# words (latin letters, digits, apostrophes), single CJK characters, or any other
# single non-space character (punctuation, markdown symbols, emoji)
_TOKEN_RX = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\sa-z0-9]")


def truncate(text: str, max_tokens: int) -> str:
    """Cut an answer to the budget a probe allows (about four characters a token).

    Training answers are cut to the same budget as live answers, so the two match.
    """
    limit = max(1, int(max_tokens)) * 4
    return text[:limit]


def words(text: str) -> list[str]:
    return _TOKEN_RX.findall(text.lower())


def ngrams(tokens: list[str], prefix: str = "") -> list[str]:
    """Unigrams and bigrams, each tagged with ``prefix`` (the channel)."""
    out = [prefix + t for t in tokens]
    out.extend(prefix + a + " " + b for a, b in zip(tokens, tokens[1:]))
    return out


def stable_hash(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) & (HASH_DIM - 1)


def hash_tokens(tokens: Iterable[str]) -> list[int]:
    mask = HASH_DIM - 1
    return [zlib.crc32(t.encode("utf-8")) & mask for t in tokens]
