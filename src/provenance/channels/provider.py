"""The upstream-provider channel: P(provider | creator) up to a constant, learned from the corpus.

Routers such as OpenRouter name, in every reply, the upstream provider that
served the request ("OpenAI", "Amazon Bedrock", "DeepInfra", ...). That is an
API-surface observation, and it is informative in a way no hand-written map
captures: "Google" (Vertex) served Claude more often than Gemini in the corpus,
Bedrock serves several makers, DeepInfra or Novita serve open weights of many.
So the table is learned, like the identity-claim model, from the training
models only (in cross-validation, without the held-out model or creator).

Each training model counts once, split over the distinct providers it was seen
behind. The table is estimated from the provider's side: ``P(creator | provider)``,
smoothed toward the creator prior (the creators' shares of the training models seen
behind any provider) with ``GAMMA`` pseudo-models, then turned into the likelihood
ratio ``log P(creator | provider) - log P(creator)`` (``P(provider | creator)`` up to a
term that is the same for every creator, which centring removes). So a provider seen
with one maker only ("OpenAI": 10 of 10 models) is strong evidence for it, a shared host
(DeepInfra, Novita) is weak evidence, and a provider never seen in training (the
"(other)" column) is no evidence at all. A transcript's log-likelihood averages over
the distinct providers it names (usually one, repeated on every probe).

The first version smoothed ``P(provider | creator)`` toward the corpus-wide provider
distribution instead; that capped a first-party provider's evidence and made an unseen
provider favour creators with few models. On the 75 corpus models with a provider,
held out with their alias group, the provider alone (with its best scalar weight) had
log loss 1.95 and top-1 0.60 that way, 1.27 and 0.64 this way (GAMMA 0.5 to 4 gave
1.27-1.28; scratch harness, see docs/classifier.md).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping

import numpy as np

OTHER = "(other)"
GAMMA = 1.0          # pseudo-models of smoothing of P(creator | provider) toward the creator prior


def normalise(name: str) -> str:
    return " ".join(str(name).lower().split())[:60]


def fit_table(model_providers: Mapping[str, Iterable[str]], model_creator: Mapping[str, str],
              labels: list[str], exclude: Iterable[str] = ()) -> tuple[list[str], np.ndarray]:
    """(vocab, log-likelihood ratios) of shape (len(labels), len(vocab) + 1); the last column,
    OTHER (a provider not seen in training), is all zeros."""
    ex = set(exclude)
    per_provider: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    n_creator: dict[str, float] = defaultdict(float)
    for m, provs in model_providers.items():
        if m in ex or m not in model_creator:
            continue
        ps = sorted({normalise(p) for p in provs if p})
        if not ps:
            continue
        c = model_creator[m]
        for p in ps:
            per_provider[p][c] += 1.0 / len(ps)
        n_creator[c] += 1.0
    vocab = sorted(per_provider)
    # creator prior: shares of the models seen behind a provider; half a model for a label
    # with none, so that every label keeps a non-zero prior
    prior = np.array([n_creator.get(c, 0.0) + 0.5 for c in labels])
    prior = prior / prior.sum()
    logp = np.zeros((len(labels), len(vocab) + 1))
    for j, p in enumerate(vocab):
        counts = np.array([per_provider[p].get(c, 0.0) for c in labels])
        post = (counts + GAMMA * prior) / (counts.sum() + GAMMA)
        logp[:, j] = np.log(post) - np.log(prior)
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
