"""The verdict map: a named verdict's confidence on a mix with unknown makers' models and third
parties' fine-tunes (training/verdicts.py, combine.map_verdict), from rows made here and through
`provenance train` on the synthetic corpus with two fine-tunes (test_eval_profiles's fixture)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from provenance.classifier.combine import FINE_TUNE_PRIOR, UNKNOWN_PRIOR, map_verdict, named_confidence
from provenance.classifier.model import TrainedClassifier
from provenance.probes import load_probeset
from provenance.training.verdicts import (
    IDENTITY,
    Verdict,
    cross_fitted,
    fit_verdict_map,
    fold_of,
    mix,
    verdict_figures,
)

from test_eval_profiles import corpus  # noqa: F401  (the module's fixture)


def _preds(n_known: int = 40, n_loco: int = 40) -> tuple[list[dict], dict[str, bool]]:
    """LOMO rows right 3 times in 4 at p_top 0.9 for either top (Meta, OpenAI), LOCO rows named
    (Anthropic) a quarter of the time."""
    preds, known = [], {}
    for i in range(n_known):
        top = "Meta" if i % 2 else "OpenAI"
        truth = "Google" if (i // 2) % 4 == 0 else top
        preds.append({"model": f"k{i}", "creator": truth, "mode": "lomo", "subset": "all", "top": [top],
                      "p_top": 0.9, "p_unknown": 0.2})
        known[f"k{i}"] = True
    for i in range(n_loco):
        preds.append({"model": f"u{i}", "creator": "Cohere", "mode": "loco", "subset": "all", "top": ["Anthropic"],
                      "p_top": 0.6, "p_unknown": 0.3 if i % 4 == 0 else 0.8})
    return preds, known


def _fine_tunes(n: int = 30) -> list[dict]:
    """Fine-tunes named their base maker (Meta, whose weights others fine-tune) at 0.85."""
    return [{"model": f"ft{i}", "base": "Meta", "top": "Meta", "named": True, "conf": 0.85} for i in range(n)]


def test_map_is_the_identity_without_coefficients():
    assert map_verdict(0.73, True, None) == pytest.approx(0.73)
    assert map_verdict(0.73, False, IDENTITY) == pytest.approx(0.73, abs=1e-6)


def test_mix_weights_are_the_stated_priors():
    preds, known = _preds()
    rows = mix(preds, known, _fine_tunes())
    by = {k: sum(r.weight for r in rows if r.kind == k) for k in ("known", "unknown", "fine-tune")}
    assert by["unknown"] == pytest.approx(UNKNOWN_PRIOR)
    assert by["fine-tune"] == pytest.approx(FINE_TUNE_PRIOR)
    assert by["known"] == pytest.approx(1 - UNKNOWN_PRIOR - FINE_TUNE_PRIOR)
    # without fine-tunes their share goes to the known makers' models
    rows = mix(preds, known, None)
    assert sum(r.weight for r in rows if r.kind == "known") == pytest.approx(1 - UNKNOWN_PRIOR)
    assert not any(r.kind == "fine-tune" for r in rows)
    # the named confidence before the map is the one the classifier stated
    k0 = next(r for r in rows if r.model == "k0")
    assert k0.conf == pytest.approx(named_confidence(0.9, 0.2, UNKNOWN_PRIOR))


def test_fine_tunes_lower_the_confidence_of_open_weight_makers_most():
    preds, known = _preds()
    coef = fit_verdict_map(mix(preds, known, _fine_tunes()))
    conf = named_confidence(0.9, 0.2, UNKNOWN_PRIOR)
    meta, openai = map_verdict(conf, True, coef), map_verdict(conf, False, coef)
    assert meta < openai
    assert meta < conf          # every Meta-named fine-tune is wrong: Meta's verdicts say less
    # a higher stated confidence never maps lower
    assert map_verdict(0.95, True, coef) >= map_verdict(0.7, True, coef)


def test_nothing_to_fit_is_the_identity():
    rows = [Verdict("known", "a", "Meta", True, 0.8, True, 1.0)]
    assert np.allclose(fit_verdict_map(rows), IDENTITY)
    assert np.allclose(fit_verdict_map([]), IDENTITY)


def test_cross_fitted_leaves_each_models_fold_out():
    preds, known = _preds()
    rows = mix(preds, known, _fine_tunes())
    got = cross_fitted(rows)
    k = fold_of("ft0")
    coef = fit_verdict_map([r for r in rows if fold_of(r.model) != k])
    i = next(i for i, r in enumerate(rows) if r.model == "ft0")
    assert got[i] == pytest.approx(map_verdict(rows[i].conf, True, coef))


def test_verdict_figures_before_and_after_the_map():
    preds, known = _preds()
    fig = verdict_figures(preds, known, _fine_tunes())
    assert fig["prior"] == UNKNOWN_PRIOR and fig["fine_tune_prior"] == FINE_TUNE_PRIOR
    assert fig["fine_tunes"] == 30 and fig["fine_tunes_named"] == 1.0
    before = fig["before_map"]
    assert before["accuracy"] == fig["accuracy"]                    # the map changes what is stated only
    assert abs(fig["gap"]) < abs(before["gap"])                     # and states it closer to the truth
    assert fig["fine_tunes_named_08"] <= 1.0
    plain = verdict_figures(preds, known)
    assert "before_map" not in plain and plain["fine_tune_prior"] == 0.0


def test_train_ships_the_map_and_older_artifacts_state_as_before(corpus, tmp_path, capsys):  # noqa: F811
    from provenance.cli import main
    corpus_dir, probes = corpus
    out = tmp_path / "m"
    with pytest.raises(SystemExit) as e:
        main(["train", "--corpus", str(corpus_dir), "--probes", str(probes), "-o", str(out), "--quiet"])
    assert e.value.code == 0
    ps = load_probeset(probes)
    clf = TrainedClassifier.load(out, ps)
    assert clf.verdict_coef is not None and clf.verdict_coef.shape == (4,)
    man = json.loads((out / "manifest.json").read_text())
    vd = man["figures"]["verdicts"]
    assert vd["fine_tunes"] == 2 and "before_map" in vd
    # the shipped map re-states the named confidence; an artifact without it (an older one) states
    # the named confidence as it is
    from provenance.transcript import Transcript
    from factory import CREATORS
    texts = {f"style.p{i}": CREATORS["Google"][0].format(w="lamps", v=f"maps {i}") for i in range(12)}
    t = Transcript.from_texts(texts, {k: "style" for k in texts}, ps.info())
    mapped = clf.classify(t)
    coef, clf.verdict_coef = clf.verdict_coef, None
    plain = clf.classify(t)
    assert plain.status != "unknown" and plain.candidates[0].creator == "Google"
    pu = plain.channels["p_unknown"]
    assert plain.confidence == pytest.approx(named_confidence(plain.candidates[0].probability, pu, UNKNOWN_PRIOR),
                                             abs=2e-4)
    assert mapped.confidence == pytest.approx(map_verdict(plain.confidence, True, coef), abs=2e-4)
    # a named maker of open weights: the report says a fine-tune of them would answer alike
    if mapped.status != "unknown":
        assert any(r.startswith("Google publishes open weights") for r in mapped.reliability)
    assert not any("open weights" in r for r in plain.reliability)       # no map, no such allowance


def test_a_guess_too_unlikely_names_nobody():
    from provenance.classifier.combine import NAME_THRESHOLD, names_nobody
    from provenance.training.figures import unknown_verdict
    assert names_nobody(0.9, 0.6, 0.5, UNKNOWN_PRIOR, NAME_THRESHOLD)             # the rejector decides
    assert not names_nobody(0.9, 0.2, 0.5, UNKNOWN_PRIOR, NAME_THRESHOLD)
    assert names_nobody(0.3, 0.2, 0.5, UNKNOWN_PRIOR, NAME_THRESHOLD)             # named confidence ~0.28
    assert not names_nobody(0.3, 0.2, 0.5, UNKNOWN_PRIOR, 0.0)                    # no name threshold: as before
    p = {"p_top": 0.3, "p_unknown": 0.2}
    assert unknown_verdict(p) and not unknown_verdict(p, name=0.0)


def test_name_sweep_at_zero_is_the_rejector_alone():
    from provenance.training.figures import figures
    preds, known = _preds()
    preds.append({"model": "k-low", "creator": "Meta", "mode": "lomo", "subset": "all", "top": ["Meta", "OpenAI"],
                  "p_top": 0.3, "p_unknown": 0.2})
    known["k-low"] = True
    f = figures(preds, known)
    zero = next(r for r in f["name_threshold_sweep"] if r["threshold"] == 0.0)
    shipped = next(r for r in f["name_threshold_sweep"] if r["threshold"] == 0.35)
    half = next(r for r in f["unknown_threshold_sweep"] if r["threshold"] == 0.5)
    assert shipped["lomo_reported_accuracy"] == half["lomo_reported_accuracy"] == f["lomo_reported_accuracy"]
    assert zero["lomo_reported_accuracy"] > shipped["lomo_reported_accuracy"]     # k-low counts named right at 0
    assert f["confusion"]["Meta"].get("unknown", 0) >= 1


def test_classify_names_nobody_under_the_name_threshold(corpus, tmp_path):  # noqa: F811
    from provenance.training.export import export
    from provenance.training.train import run_training
    from provenance.transcript import Transcript
    from factory import CREATORS
    corpus_dir, probes = corpus
    tr, rows, preds, figs = run_training(corpus_dir, (), probes)
    ps = load_probeset(probes)
    clf = TrainedClassifier.load(export(tr, rows, preds, figs, tmp_path / "m"), ps)
    assert clf.thresholds["name"] == pytest.approx(0.35)
    texts = {f"style.p{i}": CREATORS["Anthropic"][0].format(w="lamps", v=f"maps {i}") for i in range(12)}
    t = Transcript.from_texts(texts, {k: "style" for k in texts}, ps.info())
    named = clf.classify(t)
    assert named.status != "unknown" and named.creator == "Anthropic"
    clf.thresholds["name"] = 0.999          # as if the guess were too unlikely to name
    a = clf.classify(t)
    assert a.status == "unknown" and a.creator == "unknown"
    assert any(r.startswith("no maker is likely enough to name: the best guess, Anthropic") for r in a.reliability)
    assert a.candidates[0].creator == "Anthropic"          # the guess stays listed
    assert a.confidence >= 1 - named.confidence - 1e-3     # P(unknown): the chance that naming it would be wrong
