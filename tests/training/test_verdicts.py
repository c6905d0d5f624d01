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
from provenance.training.figures import figures, unknown_verdict
from provenance.training.verdicts import (
    IDENTITY,
    Verdict,
    fit_verdict_map,
    fold_maps,
    fold_of,
    mix,
    stated,
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
    return [{"model": f"ft{i}", "base": "Meta", "fine_tuner": "Acme", "top": "Meta", "rejected": False, "conf": 0.85}
            for i in range(n)]


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


def test_a_fine_tuner_the_corpus_knows_is_named_right():
    ft = _fine_tunes(2)
    ft[1] = dict(ft[1], fine_tuner="Meta")      # e.g. Microsoft's post-trained DeepSeek R1 named Microsoft
    preds, known = _preds()
    rows = [r for r in mix(preds, known, ft) if r.kind == "fine-tune"]
    assert [r.right for r in rows] == [False, True]


def test_fine_tunes_lower_the_confidence_of_open_weight_makers_most():
    preds, known = _preds()
    coef = fit_verdict_map(mix(preds, known, _fine_tunes()))
    conf = named_confidence(0.9, 0.2, UNKNOWN_PRIOR)
    meta, openai = map_verdict(conf, True, coef), map_verdict(conf, False, coef)
    assert meta < openai
    assert meta < conf          # every Meta-named fine-tune is wrong: Meta's verdicts say less
    # a higher stated confidence never maps lower
    assert map_verdict(0.95, True, coef) >= map_verdict(0.7, True, coef)
    # without fine-tunes nothing sets Meta apart
    plain = fit_verdict_map(mix(preds, known, None))
    assert abs(map_verdict(conf, True, plain) - map_verdict(conf, False, plain)) < abs(meta - openai)


def test_nothing_to_fit_is_the_identity():
    rows = [Verdict("known", "a", "Meta", False, 0.8, True, 1.0)]
    assert np.allclose(fit_verdict_map(rows), IDENTITY)
    assert np.allclose(fit_verdict_map([]), IDENTITY)
    # rejected verdicts state no confidence: they do not shape the map
    rows.append(Verdict("unknown", "b", "Meta", True, 0.8, False, 1.0))
    assert np.allclose(fit_verdict_map(rows), IDENTITY)


def test_each_prediction_is_stated_by_the_map_fitted_without_its_fold():
    preds, known = _preds()
    rows = mix(preds, known, _fine_tunes())
    maps = fold_maps(rows)
    full = fit_verdict_map(rows)
    for k, coef in maps.items():
        again = fit_verdict_map([r for r in rows if fold_of(r.model) != k])
        assert np.allclose(coef, again)
    assert any(not np.allclose(coef, full) for coef in maps.values())     # leaving a fold out matters
    p = next(p for p in preds if p["model"] == "k1")
    c = named_confidence(p["p_top"], p["p_unknown"], UNKNOWN_PRIOR)
    assert stated(p, maps) == pytest.approx(map_verdict(c, True, maps[fold_of("k1")]))
    assert stated(p, None) == pytest.approx(c)


def test_verdict_figures_before_and_after_the_map():
    preds, known = _preds()
    fig = verdict_figures(preds, known, _fine_tunes())
    assert fig["prior"] == UNKNOWN_PRIOR and fig["fine_tune_prior"] == FINE_TUNE_PRIOR
    assert fig["fine_tunes"] == 30
    before = fig["before_map"]
    assert before["gap"] > 0.1                                      # Meta's fine-tunes: stated 0.85, all wrong
    assert abs(fig["gap"]) < before["gap"]                          # the map states it closer to the truth
    assert fig["fine_tunes_named_08"] < fig["fine_tunes_named"] == 1.0
    plain = verdict_figures(preds, known)
    assert "before_map" not in plain and plain["fine_tune_prior"] == 0.0


def test_a_guess_stated_too_low_names_nobody():
    p = {"p_top": 0.3, "p_unknown": 0.2}                      # named confidence ~0.28
    assert unknown_verdict(p) and not unknown_verdict(p, name=0.0)
    assert unknown_verdict({"p_top": 0.9, "p_unknown": 0.6})     # the rejector decides
    assert not unknown_verdict({"p_top": 0.9, "p_unknown": 0.2})
    # once the map is fitted, the stated confidence decides
    assert not unknown_verdict(dict(p, stated=0.4))
    assert unknown_verdict({"p_top": 0.9, "p_unknown": 0.2, "stated": 0.3})


def test_name_sweep_at_zero_is_the_rejector_alone():
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


def _google_run(ps):
    from provenance.transcript import Transcript
    from factory import CREATORS
    texts = {f"style.p{i}": CREATORS["Google"][0].format(w="lamps", v=f"maps {i}") for i in range(12)}
    return Transcript.from_texts(texts, {k: "style" for k in texts}, ps.info())


def test_train_ships_the_map(corpus, tmp_path, capsys):  # noqa: F811
    from provenance.cli import main
    corpus_dir, probes = corpus
    out = tmp_path / "m"
    with pytest.raises(SystemExit) as e:
        main(["train", "--corpus", str(corpus_dir), "--probes", str(probes), "-o", str(out), "--quiet"])
    assert e.value.code == 0
    clf = TrainedClassifier.load(out, load_probeset(probes))
    assert clf.verdict_coef is not None and clf.verdict_coef.shape == (4,)
    man = json.loads((out / "manifest.json").read_text())
    assert "Google" in man["open_weight_makers"] and man["thresholds"]["name"] == pytest.approx(0.35)
    vd = man["figures"]["verdicts"]
    assert vd["fine_tunes"] == 2 and "before_map" in vd


def test_decide_states_the_mapped_confidence_and_names_nobody_under_the_threshold(corpus, tmp_path):  # noqa: F811
    from provenance.training.export import export
    from provenance.training.train import run_training
    corpus_dir, probes = corpus
    tr, rows, preds, figs = run_training(corpus_dir, (), probes)
    ps = load_probeset(probes)
    clf = TrainedClassifier.load(export(tr, rows, preds, figs, tmp_path / "m"), ps)
    t = _google_run(ps)
    assert clf.verdict_coef is None            # no map: the named confidence as it is
    plain = clf.classify(t)
    assert plain.status != "unknown" and plain.creator == "Google"
    pu = plain.channels["p_unknown"]
    named = named_confidence(plain.candidates[0].probability, pu, UNKNOWN_PRIOR)
    assert plain.confidence == pytest.approx(named, abs=2e-4)
    assert not any("open weights" in r for r in plain.reliability)
    # a map that lowers makers of open weights: stated through it, and the report says why
    clf.verdict_coef = np.array([0.0, 1.0, -1.0, 0.0])
    lowered = clf.classify(t)
    assert lowered.confidence == pytest.approx(map_verdict(named, True, clf.verdict_coef), abs=2e-4)
    assert lowered.confidence < plain.confidence - 0.05
    assert any(r.startswith("Google publishes open weights") for r in lowered.reliability)
    # a map that raises them: no such note
    clf.verdict_coef = np.array([0.0, 1.0, 1.0, 0.0])
    assert not any("open weights" in r for r in clf.classify(t).reliability)
    # the name threshold reads the stated (mapped) confidence: between the two, nobody is named
    clf.verdict_coef = np.array([0.0, 1.0, -1.0, 0.0])
    clf.thresholds["name"] = (lowered.confidence + plain.confidence) / 2
    a = clf.classify(t)
    assert a.status == "unknown" and a.creator == "unknown"
    assert any(r.startswith("no maker is likely enough to name: the best guess, Google") for r in a.reliability)
    assert a.candidates[0].creator == "Google"                  # the guess stays listed
    assert a.confidence == pytest.approx(max(pu, 1 - lowered.confidence), abs=2e-3)
