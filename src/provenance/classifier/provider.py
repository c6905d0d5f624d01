"""The upstream-provider channel: P(provider | creator), learned from the corpus.

Routers such as OpenRouter name, in every reply, the upstream provider that
served the request ("OpenAI", "Amazon Bedrock", "DeepInfra", ...). That is an
API-surface observation, and it is informative in a way no hand-written map
captures: "Google" (Vertex) served Claude more often than Gemini in the corpus,
Bedrock serves several makers, DeepInfra or Novita serve open weights of many.
So the table is learned, like the identity-claim model, from the training
models only (in cross-validation, without the held-out model or creator).

Each training model counts once, split over the distinct providers it was seen
behind; ``P(provider | creator)`` is smoothed toward the corpus-wide provider
distribution (``ALPHA`` pseudo-models), with an "(other)" bucket for providers
never seen in training. A transcript's log-likelihood averages over the
distinct providers it names (usually one, repeated on every probe).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping

import numpy as np

OTHER = "(other)"
ALPHA = 1.0          # pseudo-models of smoothing toward the corpus-wide distribution


def normalise(name: str) -> str:
    return " ".join(str(name).lower().split())[:60]


def fit_table(model_providers: Mapping[str, Iterable[str]], model_creator: Mapping[str, str],
              labels: list[str], exclude: Iterable[str] = ()) -> tuple[list[str], np.ndarray]:
    """(vocab, log P) with log P of shape (len(labels), len(vocab) + 1); the last column is OTHER."""
    ex = set(exclude)
    per_creator: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    n_creator: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)
    for m, provs in model_providers.items():
        if m in ex or m not in model_creator:
            continue
        ps = sorted({normalise(p) for p in provs if p})
        if not ps:
            continue
        c = model_creator[m]
        for p in ps:
            per_creator[c][p] += 1.0 / len(ps)
            total[p] += 1.0 / len(ps)
        n_creator[c] += 1.0
    vocab = sorted(total)
    n_all = sum(total.values())
    # corpus-wide distribution, with one pseudo-model's worth of mass for unseen providers
    bg = np.array([total[p] for p in vocab] + [1.0]) / (n_all + 1.0)
    logp = np.zeros((len(labels), len(vocab) + 1))
    for i, c in enumerate(labels):
        counts = np.array([per_creator[c].get(p, 0.0) for p in vocab] + [0.0])
        logp[i] = np.log((counts + ALPHA * bg) / (n_creator[c] + ALPHA))
    return vocab, logp


def loglik(observed: Iterable[str], vocab: list[str], logp: np.ndarray) -> np.ndarray | None:
    """Mean-centred log-likelihood over the labels of the distinct providers observed, or None."""
    names = sorted({normalise(p) for p in observed if p})
    if not names or logp.size == 0:
        return None
    index = {p: j for j, p in enumerate(vocab)}
    cols = [index.get(p, len(vocab)) for p in names]
    ll = logp[:, cols].mean(axis=1)
    return ll - ll.mean()
