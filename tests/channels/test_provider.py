"""The learned upstream-provider channel (channels/provider.py)."""

from __future__ import annotations

import numpy as np

from provenance.channels.provider import OTHER, fit_table, loglik

MODELS = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}
PROVIDERS = {"a1": ["AHost"], "a2": ["AHost"], "a3": ["Shared"], "b1": ["Shared", "Shared"], "b2": ["Shared"],
             "c1": ["CHost"]}


def test_first_party_provider_favours_its_creator() -> None:
    vocab, logp = fit_table(PROVIDERS, MODELS, ["A", "B", "C"])
    ll = loglik(["AHost"], vocab, logp)
    assert ll is not None and int(np.argmax(ll)) == 0 and ll[0] - ll[1] > 1.0
    assert abs(float(ll.sum())) < 1e-9                         # mean-centred


def _margin(ll: np.ndarray) -> float:
    top2 = np.sort(ll)[-2:]
    return float(top2[1] - top2[0])


def test_shared_provider_is_weaker_than_first_party() -> None:
    vocab, logp = fit_table(PROVIDERS, MODELS, ["A", "B", "C"])
    shared = loglik(["shared"], vocab, logp)                   # names are normalised
    first = loglik(["AHost"], vocab, logp)
    assert int(np.argmax(shared)) == 1
    # the favoured creator's lead over the runner-up: A and B both use Shared
    assert _margin(shared) < _margin(first)


def test_exclusive_provider_grows_stronger_with_more_models() -> None:
    """A host seen with one maker's ten models is stronger evidence than one seen once."""
    models = {f"a{i}": "A" for i in range(10)} | {f"b{i}": "B" for i in range(10)}
    once = {"a0": ["AHost"]} | {m: ["Shared"] for m in models if m != "a0"}
    many = {m: ["AHost"] for m in models if m.startswith("a")} | {m: ["Shared"] for m in models if m.startswith("b")}
    v1, l1 = fit_table(once, models, ["A", "B"])
    v2, l2 = fit_table(many, models, ["A", "B"])
    e1, e2 = loglik(["AHost"], v1, l1), loglik(["AHost"], v2, l2)
    assert e1[0] > e1[1] and e2[0] > e2[1]
    assert e2[0] - e2[1] > e1[0] - e1[1] + 1.0


def test_unseen_provider_is_no_evidence_and_exclusion() -> None:
    vocab, logp = fit_table(PROVIDERS, MODELS, ["A", "B", "C"], exclude={"c1"})
    assert "chost" not in vocab and logp.shape == (3, len(vocab) + 1)
    ll = loglik(["CHost"], vocab, logp)                        # falls in the (other) bucket
    # a host never seen in training says nothing about who made the model
    assert ll is not None and np.allclose(ll, 0.0)
    # a seen provider beside an unseen one: the seen one speaks, at half strength
    # (the distinct providers' log-ratios are averaged)
    both = loglik(["AHost", "CHost"], vocab, logp)
    alone = loglik(["AHost"], vocab, logp)
    assert np.allclose(both, alone / 2)
    assert loglik([], vocab, logp) is None
    assert OTHER == "(other)"
