"""Model family names derived from model ids (the secondary, finer-grained guess).

One table names families: ``data/model_names.json`` (``claim.py``), the same one that reads
the family a model name claims, so the family a trained model guesses is named as a claim
names it (``chatgpt-4o-latest`` is GPT-4o, ``qwq-32b`` Qwen2.5, the weights it is built on).
``FALLBACK_RULES`` name the few ids that table gives no family; the rest fall back to the id's
first word. A trained artifact keeps the names it was trained with, so a change here takes
effect at the next ``provenance train``.
"""

from __future__ import annotations

import re

# (pattern on the lower-case model id, family name) for ids the name table gives no family;
# first match wins
FALLBACK_RULES: tuple[tuple[str, str], ...] = (
    (r"^muse", "Muse"),
)
_RULES = [(re.compile(p), f) for p, f in FALLBACK_RULES]


def family_of(model: str) -> str:
    from ..claim import claim_from_model_name
    claim = claim_from_model_name(model)
    if claim is not None and claim.family:
        return claim.family
    m = model.lower()
    for rx, fam in _RULES:
        if rx.search(m):
            return fam
    return m.rsplit("/", 1)[-1].split("-")[0]
