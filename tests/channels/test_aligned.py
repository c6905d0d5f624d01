"""The aligned channel: per-prompt similarity to reference models' answers (fixtures written here)."""

from __future__ import annotations

import numpy as np

from provenance.channels import aligned
from provenance.channels.featurize import answer_indices

CREATOR = {"a1": "Acme", "a2": "Acme", "b1": "Beta", "b2": "Beta"}
ANSWERS = {
    # Acme's models open with a recap and number their points; Beta's answer in one breezy line
    "a": "Great question! Here is a structured overview.\n\n1. **{w}** first\n2. then the rest\n\nIn summary, {w}.",
    "b": "honestly {w} is fine, just go for it and see what happens lol",
}
PROMPTS = ["p1", "p2", "p3", "p4"]
WORDS = {"p1": "rivers", "p2": "lamps", "p3": "maps", "p4": "bridges"}


def _idx(text: str) -> np.ndarray:
    return np.asarray(answer_indices("style", text, 200), dtype=np.int64)


def _entries():
    for m, c in CREATOR.items():
        for p in PROMPTS:
            yield m, p, _idx(ANSWERS[m[0]].format(w=WORDS[p]) + (" indeed" if m.endswith("2") else ""))


def _index():
    return aligned.build(_entries(), CREATOR, PROMPTS)


def test_identical_answer_is_nearest_and_values_are_float16():
    ix = _index()
    assert ix.vals.dtype == np.float16 and ix.cols.dtype == np.int32
    models, s = ix.similarities("p1", _idx(ANSWERS["a"].format(w="rivers")))
    best = ix.models[int(models[np.argmax(s)])]
    assert best == "a1"
    # near 1, not 1: features no other reference answer has are not stored (they cannot match)
    assert 0.9 < float(s.max()) <= 1.0 + 1e-3
    assert ix.similarities("unknown-prompt", _idx("anything")) is None
    assert ix.similarities("p1", np.zeros(0, dtype=np.int64)) is None


def test_creator_scores_favour_the_creator_that_answers_alike():
    ix = _index()
    sims = [ix.similarities(p, _idx(ANSWERS["b"].format(w=WORDS[p]) + " yes")) for p in PROMPTS]
    labels = ["Acme", "Beta", "Gamma"]
    s, used, best = aligned.creator_scores(sims, ix.creators, len(ix.models), labels)
    assert used == 4
    assert labels[int(np.argmax(s))] == "Beta"
    assert ix.creators[best] == "Beta"
    assert abs(float(s.sum())) < 1e-9                         # centred
    assert s[2] == np.mean(s)                                  # no reference model: no information
    assert np.abs(s).max() <= aligned.CLIP


def test_exclusion_leaves_models_out():
    ix = _index()
    sims = [ix.similarities(p, _idx(ANSWERS["b"].format(w=WORDS[p]))) for p in PROMPTS]
    mask = np.array([CREATOR[m] == "Beta" for m in ix.models])
    s, _, best = aligned.creator_scores(sims, ix.creators, len(ix.models), ["Acme", "Beta"], mask)
    assert ix.creators[best] == "Acme"          # Beta's models are out
    assert s[0] == s[1] == 0.0                  # Beta has no reference left: no information
    # fewer than two references left for every prompt: nothing to standardise
    only_one = np.array([m != "a1" for m in ix.models])
    assert aligned.creator_scores(sims, ix.creators, len(ix.models), ["Acme"], only_one) is None


def test_round_trip_through_arrays_gives_the_same_similarities():
    ix = _index()
    meta, arrays = aligned.to_arrays(ix)
    back = aligned.from_arrays(meta, {k: np.asarray(v) for k, v in arrays.items()})
    q = _idx("Here is a structured overview of maps, in summary maps.")
    m1, s1 = ix.similarities("p3", q)
    m2, s2 = back.similarities("p3", q)
    assert np.array_equal(m1, m2) and np.allclose(s1, s2)
    assert back.models == ix.models and back.creators == ix.creators


def test_an_artifact_is_scored_with_its_own_parameters():
    ix = _index()
    meta, arrays = aligned.to_arrays(ix)
    assert (meta["top"], meta["clip"], meta["min_shared"]) == (aligned.TOP, aligned.CLIP, aligned.MIN_SHARED)
    meta = dict(meta, top=1, clip=0.25)
    back = aligned.from_arrays(meta, {k: np.asarray(v) for k, v in arrays.items()})
    assert back.params()["top"] == 1 and back.params()["clip"] == 0.25
    sims = [back.similarities(p, _idx(ANSWERS["b"].format(w=WORDS[p]))) for p in PROMPTS]
    s, _, _ = aligned.creator_scores(sims, back.creators, len(back.models), ["Acme", "Beta"], **back.params())
    assert np.abs(s).max() <= 0.25 + 1e-12


def test_one_answer_per_key_reads_the_sparse_rows_with_the_same_values():
    # a probe run asks each key once: no dense matrix is built, and the similarities equal the
    # dense path's (what training uses) to within float rounding
    ix = _index()
    for p in PROMPTS:
        for text in (ANSWERS["a"].format(w=WORDS[p]), ANSWERS["b"].format(w="kites"), "unrelated words only"):
            sparse = ix.similarities(p, _idx(text), dense=False)
            assert not ix._dense
            dense = ix.similarities(p, _idx(text))
            ix._dense.clear()
            if dense is None:
                assert sparse is None
                continue
            assert (sparse[0] == dense[0]).all()
            assert np.allclose(sparse[1], dense[1], rtol=0, atol=1e-12)
