"""The learned upstream-provider channel (classifier/provider.py)."""

from __future__ import annotations

import numpy as np

from provenance.classifier.provider import OTHER, fit_table, loglik

MODELS = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}
PROVIDERS = {"a1": ["AHost"], "a2": ["AHost"], "a3": ["Shared"], "b1": ["Shared", "Shared"], "b2": ["Shared"],
             "c1": ["CHost"]}


def test_first_party_provider_favours_its_creator() -> None:
    vocab, logp = fit_table(PROVIDERS, MODELS, ["A", "B", "C"])
    ll = loglik(["AHost"], vocab, logp)
    assert ll is not None and int(np.argmax(ll)) == 0 and ll[0] - ll[1] > 1.0
    assert abs(float(ll.sum())) < 1e-9                         # mean-centred


def test_shared_provider_is_weaker_than_first_party() -> None:
    vocab, logp = fit_table(PROVIDERS, MODELS, ["A", "B", "C"])
    shared = loglik(["shared"], vocab, logp)                   # names are normalised
    first = loglik(["AHost"], vocab, logp)
    assert int(np.argmax(shared)) == 1
    assert shared.max() - shared.min() < first.max() - first.min()


def test_unseen_provider_and_exclusion() -> None:
    vocab, logp = fit_table(PROVIDERS, MODELS, ["A", "B", "C"], exclude={"c1"})
    assert "chost" not in vocab and logp.shape == (3, len(vocab) + 1)
    ll = loglik(["CHost"], vocab, logp)                        # falls in the (other) bucket
    # an unseen host says little between creators always seen behind known hosts, and
    # leans toward the creator with no provider history (C) rather than away from it
    assert ll is not None and abs(ll[0] - ll[1]) < 1.0 and int(np.argmax(ll)) == 2
    assert loglik([], vocab, logp) is None
    assert OTHER == "(other)"
