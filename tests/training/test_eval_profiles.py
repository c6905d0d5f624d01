"""Evidence profiles, the evidence-dependent temperature, derivatives and the eval plots,
on a tiny synthetic corpus generated here (tests/factory.py's synthetic_corpus)."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest

from provenance.classifier.combine import PROFILE_FEATURES, profile_features, temper
from provenance.classifier.lineage import describe, lineage
from provenance.classifier.model import TrainedClassifier
from provenance.training.figures import anonymous, profile_figures, profile_name
from provenance.training.fitting import fit_temperature
from provenance.training.trainer import half_of
from provenance.training.train import run_training
from provenance.probes import load_probeset

from factory import CREATORS, synthetic_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("profiles")
    corpus, probes = synthetic_corpus(d)
    # two fine-tunes of "Google" weights by third parties, in the derivatives format
    rng = random.Random(1)
    with gzip.open(corpus / "derivatives.jsonl.gz", "wt", encoding="utf-8") as f:
        for k in range(2):
            for i in range(20):
                text = CREATORS["Google"][0].format(w=rng.choice(["rivers", "maps"]), v="lamps")
                f.write(json.dumps({"source": "alpaca_eval", "model": f"tuned-gemma-{k}", "base_creator": "Google",
                                    "base_family": "Gemma", "prompt_id": f"p{i}", "kind": "style",
                                    "prompt": f"prompt p{i}", "response": text}) + "\n")
    return corpus, probes


def test_half_is_a_fixed_half():
    keys = {f"k{i}" for i in range(10)}
    h = half_of("model-a", keys)
    assert len(h) == 5 and h <= keys
    assert half_of("model-a", keys) == h             # seeded by the model's name


def test_profile_names():
    assert profile_name("all") == "all" and profile_name("half") == "half"
    assert profile_name("src:model_name_identity") == "identity"
    assert profile_name("src:knowledge_cutoff") == "cutoff"
    assert profile_name("src:alpaca_eval") == "style:alpaca_eval"
    assert profile_name("src:xstest") == "refusal:xstest"


def test_profile_figures_gap_and_worst():
    preds = []
    for i in range(30):     # "all": right 2 times in 3 at confidence 0.9: gap +0.233
        preds.append({"model": f"m{i}", "creator": "A", "subset": "all", "mode": "lomo",
                      "top": ["A" if i % 3 else "B"], "p_top": 0.9, "p_true": 0.9 if i % 3 else 0.05})
    for i in range(5):      # too few models to be the headline
        preds.append({"model": f"m{i}", "creator": "A", "subset": "src:knowledge_cutoff", "mode": "lomo",
                      "top": ["B"], "p_top": 0.99, "p_true": 0.01})
    f = profile_figures(preds, {f"m{i}": True for i in range(30)})
    assert f["profiles"]["all"]["models"] == 30
    assert f["profiles"]["all"]["gap"] == pytest.approx(0.9 - 20 / 30, abs=1e-3)
    assert f["worst"] == "all"                        # the cutoff profile has < 20 models
    assert f["profiles"]["cutoff"]["gap"] == pytest.approx(0.99)


def test_temperature_softens_an_overconfident_posterior():
    rng = np.random.default_rng(0)
    data = []
    for _ in range(200):
        y = int(rng.integers(3))
        guess = y if rng.random() < 0.5 else int((y + 1) % 3)     # right half the time ...
        p = np.full(3, 0.005)
        p[guess] = 0.99                                             # ... at confidence 0.99
        data.append((p / p.sum(), profile_features({"style": 10}), y))
    theta = fit_temperature(data)
    q = temper(data[0][0], data[0][1], theta)
    assert q.max() < 0.8                                           # pulled toward what it earns
    assert temper(data[0][0], data[0][1], None) is data[0][0]        # older artifacts: unchanged
    assert len(theta) == len(PROFILE_FEATURES)


def test_lineage_rules():
    tok = {"family": "llama3", "confidence": 0.99}
    assert lineage(tok, "OpenAI", 0.9)["creator"] == "Meta"           # the tokenizer decides
    assert lineage({"family": "llama3", "confidence": 0.5}, None, 0.0) is None
    assert lineage(None, "Mistral", 0.7, "Mistral 7B") == {"creator": "Mistral", "family": "Mistral 7B",
                                                          "basis": "behaviour", "confidence": 0.7}
    assert lineage(None, "Anthropic", 0.9) is None                   # no open weights to build on
    assert lineage(None, "Meta", 0.3) is None                        # too weak a guess
    assert describe(lineage(tok, None, 0.0)) == "lineage: Llama 3 (Meta), by its tokenizer"
    # a confident closed maker's tokenizer leaves no room for a behavioural lineage it may rule out
    assert lineage({"family": "o200k", "confidence": 1.0}, "Meta", 0.9) is None


def test_eval_profiles_derivatives_and_plots(corpus, tmp_path, capsys):
    from provenance.cli import main
    corpus_dir, probes = corpus
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(corpus_dir), "--probes", str(probes), "--json", "--deals", "0",
              "--plots", str(tmp_path / "img")])
    assert e.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert "all" in doc["profiles"] and "style:alpaca_eval" in doc["profiles"]
    for v in doc["profiles"].values():
        assert v["gap"] == pytest.approx(v["mean_confidence"] - v["top1"], abs=1e-3)
    der = doc["derivatives"]
    assert der["models"] == 2
    assert der["unknown"] + der["named_base"] + der["named_other"] == pytest.approx(1.0)
    assert sorted(doc["plots"]) == sorted(str(tmp_path / "img" / n) for n in ("confusion.svg", "reliability.svg"))
    svg = (tmp_path / "img" / "reliability.svg").read_text()
    assert svg.startswith("<svg") and "</svg>" in svg


def test_eval_plots_into_an_unwritable_place_is_exit_2(corpus, tmp_path, capsys):
    from provenance.cli import main
    corpus_dir, probes = corpus
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(corpus_dir), "--probes", str(probes), "--deals", "0", "--no-derivatives",
              "--plots", str(blocker / "img")])
    assert e.value.code == 2
    assert "--plots" in capsys.readouterr().err


def test_anonymous_rows_drop_only_the_provider(corpus):
    corpus_dir, probes = corpus
    _, rows, _, figs = run_training(corpus_dir, (), probes)
    rows[0].provider = np.zeros(len(rows[0].labels))
    anon = anonymous(rows)
    assert anon[0].provider is None and rows[0].provider is not None
    assert anon[1] is rows[1]
    assert "profiles" in figs and "rich" in figs


def test_exported_model_carries_the_temperature(corpus, tmp_path):
    from provenance.training.export import export
    corpus_dir, probes = corpus
    tr, rows, preds, figs = run_training(corpus_dir, (), probes)
    out = export(tr, rows, preds, figs, tmp_path / "m")
    clf = TrainedClassifier.load(out, load_probeset(probes))
    assert clf.theta_profile is not None and len(clf.theta_profile) == len(PROFILE_FEATURES)
    assert clf.top_coef is not None and len(clf.top_coef) == len(PROFILE_FEATURES) + 1


def test_a_one_source_run_quotes_its_profile(corpus, tmp_path):
    from provenance.training.export import export
    from provenance.transcript import Transcript
    corpus_dir, probes = corpus
    tr, rows, preds, figs = run_training(corpus_dir, (), probes)
    clf = TrainedClassifier.load(export(tr, rows, preds, figs, tmp_path / "m"), load_probeset(probes))
    ps = load_probeset(probes)
    texts = {f"style.p{i}": CREATORS["Anthropic"][0].format(w="lamps", v=f"maps {i}") for i in range(12)}
    a = clf.classify(Transcript.from_texts(texts, {k: "style" for k in texts}, ps.info()))
    prof = figs["profiles"]["style:alpaca_eval"]
    note = [r for r in a.reliability if r.startswith("evidence: only style answers from alpaca_eval")]
    assert note and f"on {prof['models']} unseen models" in note[0]


def test_unknown_verdict_shows_the_lineage():
    from io import StringIO

    from rich.console import Console

    from provenance.cli.render import render_verdict
    report = {"target": {"base_url": "http://x/v1", "model": "m", "protocol": "openai"},
              "attribution": {"creator": "unknown", "status": "unknown", "confidence": 0.8,
                              "candidates": [{"creator": "Meta", "probability": 0.7}], "evidence": [],
                              "lineage": {"creator": "Meta", "family": "Llama 3", "basis": "tokenizer",
                                          "confidence": 0.99}}}
    buf = StringIO()
    render_verdict(report, Console(file=buf, width=200))
    assert "lineage: Llama 3 (Meta), by its tokenizer" in buf.getvalue()
def test_top_recalibration_restates_the_top_and_keeps_the_ranking():
    from provenance.classifier.combine import recalibrate_top, top_features
    p = np.array([0.9, 0.06, 0.04])
    x = profile_features({"style": 10})
    coef = np.zeros(len(top_features(0.9, x)))
    coef[1] = 1.0                                   # identity on the logit: unchanged
    assert np.allclose(recalibrate_top(p, x, coef), p)
    coef[0] = -3.0                                  # much less sure of the top
    q = recalibrate_top(p, x, coef)
    assert q.sum() == pytest.approx(1.0) and int(np.argmax(q)) == 0
    assert q[0] < 0.9 and q[1] / q[2] == pytest.approx(0.06 / 0.04)
    assert recalibrate_top(p, x, None) is p
    low = recalibrate_top(np.array([0.45, 0.35, 0.2]), x, np.r_[-2.0, np.zeros(len(coef) - 1)])
    assert int(np.argmax(low)) == 0 and low[0] > low[1]       # never tied with the next, never below it
    sure = np.array([1.0, 0.0, 0.0])                # nothing left to the others: they share what is given up
    q = recalibrate_top(sure, x, coef)
    assert q.sum() == pytest.approx(1.0) and q[1] == pytest.approx(q[2]) and q[0] > q[1]
