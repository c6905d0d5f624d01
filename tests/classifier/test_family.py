"""The calibrated model-family guess: its numpy pieces, and training on a tiny synthetic
corpus (written here) where one creator has two families that write differently."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest

from provenance.classifier import family_model as fm
from provenance.classifier.model import TrainedClassifier
from provenance.training.export import export
from provenance.training.train import run_training
from provenance.probes import load_probeset
from provenance.transcript import Transcript

from factory import probe_dir


def test_design_has_an_unseen_family_row():
    fsumm = {"style": np.array([0.0, 2.0, -1.0, 5.0]), "aligned_style": np.array([1.0, 0.0, 0.0, 0.0])}
    counts = {"style": 4, "aligned_style": 2}
    F = fm.design(fsumm, counts, [1, 2], np.log(np.array([1.0, 3.0, 1.0, 2.0])))
    assert F.shape == (3, fm.N_FAMILY_DESIGN)
    j = fm.FAMILY_CHANNELS.index("style") * fm.PER_CHANNEL
    assert F[0, j] == pytest.approx(1.5) and F[1, j] == pytest.approx(-1.5)   # centred over the candidates
    assert F[0, j + 1] == pytest.approx(1.5 * np.log1p(4))
    assert F[0, j + 2] == 1.0 and F[1, j + 2] == 0.0                         # the channel's vote
    assert F[2, :-1].tolist() == [0.0] * (fm.N_FAMILY_DESIGN - 1) and F[2, -1] == 1.0
    assert F[0, -2] == pytest.approx(np.log(3.0) - np.log(3.0) / 2)          # log family size, centred


def test_best_per_family_and_missing_families():
    scores = np.array([0.5, -np.inf, 2.0, 1.0])
    out = fm.best_per_family(scores, ["A", "A", "B", "A"], ["A", "B", "C"])
    assert out[0] == 1.0 and out[1] == 2.0
    assert out[2] == pytest.approx(1.5)          # no scored model: the scored families' mean


def test_guess_is_bounded_by_the_creator_probability():
    fams = ["F1", "F2", "G1"]
    fc = {"F1": "X", "F2": "X", "G1": "Y"}
    w = np.zeros(fm.N_FAMILY_DESIGN)
    w[fm.FAMILY_CHANNELS.index("style") * fm.PER_CHANNEL] = 2.0
    v = np.array([0.0, 1.0, 0.0])
    g = fm.guess({"style": np.array([1.0, -1.0, 0.0])}, {"style": 3}, fams, fc, np.zeros(3), w, v, "X", 0.8)
    assert g["name"] == "F1" and g["calibrated"] is True and g["among"] == 2
    assert 0.0 < g["confidence"] <= 0.8 and g["confidence"] == pytest.approx(0.8 * g["given_creator"], abs=1e-4)
    assert "unseen_family" not in g       # measured uninformative, so not reported
    assert fm.guess({}, {}, fams, fc, np.zeros(3), w, v, "Z", 0.9) is None   # no family of that creator


STYLES = {
    ("OpenAI", "gpt-4o"): "Certainly! Here's a quick overview:\n\n- **{w}** matters\n- {v} helps\n\nI hope this helps!",
    ("OpenAI", "gpt-3.5-turbo"): "Sure. {w} and {v}. That is all there is to say about {w}.",
    ("Anthropic", "claude-3-5-sonnet"): "I'd be happy to help. {w} is interesting because {v} shapes it.",
    ("Google", "gemma-2"): "## {w}\n\n{v} is key. 🎉\n\n### Summary\n* {w}\n* {v}",
}
WORDS = ["rivers", "clouds", "engines", "gardens", "maps", "bridges", "lamps", "forests"]
PROMPTS = [f"p{i}" for i in range(20)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = random.Random(3)
    d = tmp_path_factory.mktemp("fam")
    corpus = d / "corpus"
    corpus.mkdir()
    with gzip.open(corpus / "responses.jsonl.gz", "wt", encoding="utf-8") as f:
        for (creator, stem), style in STYLES.items():
            for k in ("mini", "large", "xl"):
                for pid in PROMPTS:
                    f.write(json.dumps({"source": "alpaca_eval", "model": f"{stem}-{k}", "creator": creator,
                                        "variant": "", "prompt_id": pid, "kind": "style", "prompt": f"prompt {pid}",
                                        "response": style.format(w=rng.choice(WORDS), v=rng.choice(WORDS)),
                                        "extra": {}}) + "\n")
    probes = probe_dir(d, "\n".join(
        f'[[probe]]\nid = "style.{p}"\nfamily = "style"\ncorpus = "alpaca_eval:{p}"\nmax_tokens = 100\n'
        f'messages = [{{ role = "user", content = "prompt {p}" }}]\n' for p in PROMPTS), name="fam", version="0.0.1")
    tr, rows, preds, figs = run_training(corpus, (), probes)
    return export(tr, rows, preds, figs, d / "model"), probes, figs


def test_eval_reports_family_figures(trained):
    _, _, figs = trained
    fam = figs["family"]
    assert fam["lomo_models"] == 12 and fam["in_training"] == 12
    assert 0.0 <= fam["top1"] <= fam["top1_family_in_training"] <= 1.0
    assert 0.0 <= fam["ece"] <= 1.0
    assert 0 <= fam["reported_models"] <= fam["lomo_models"]
    if fam["reported_models"]:
        assert 0.0 <= fam["top1_reported"] <= 1.0 and 0.0 <= fam["ece_reported"] <= 1.0


def test_family_guess_names_the_family_that_writes_alike(trained):
    out, probes, _ = trained
    clf = TrainedClassifier.load(out, load_probeset(probes))
    assert clf.family_w is not None and clf.family_v is not None
    for stem, name in (("gpt-3.5-turbo", "GPT-3.5"), ("gpt-4o", "GPT-4o")):
        texts = {f"style.{p}": STYLES[("OpenAI", stem)].format(w=WORDS[i % len(WORDS)], v="lamps")
                 for i, p in enumerate(PROMPTS)}
        a = clf.classify(Transcript.from_texts(texts, {k: "style" for k in texts}))
        assert a.candidates[0].creator == "OpenAI"
        assert a.family["name"] == name and a.family["calibrated"] is True
        assert a.family["among"] == 2
        assert a.family["confidence"] <= a.candidates[0].probability + 1e-9
        assert a.family["confidence"] <= a.confidence      # P(creator and family) <= the stated P(creator)


def test_artifact_without_family_calibrator_falls_back(trained):
    """Artifacts written before the family calibrator still name a family, marked uncalibrated."""
    out, probes, _ = trained
    clf = TrainedClassifier.load(out, load_probeset(probes))
    clf.family_w = None
    texts = {f"style.{p}": STYLES[("Google", "gemma-2")].format(w="maps", v="lamps") for p in PROMPTS[:5]}
    a = clf.classify(Transcript.from_texts(texts, {k: "style" for k in texts}))
    assert a.family["name"] == "Gemma 2" and a.family["calibrated"] is False


def test_no_family_when_no_creator_is_named(trained):
    """An `unknown` verdict names no creator, so it names no family of one either."""
    out, probes, _ = trained
    clf = TrainedClassifier.load(out, load_probeset(probes))
    clf.thresholds["unknown"] = 0.0          # every transcript is then reported unknown
    texts = {f"style.{p}": STYLES[("OpenAI", "gpt-4o")].format(w=WORDS[i % len(WORDS)], v="lamps")
             for i, p in enumerate(PROMPTS)}
    a = clf.classify(Transcript.from_texts(texts, {k: "style" for k in texts}))
    assert a.status == "unknown" and a.candidates[0].creator == "OpenAI"
    assert a.family is None


@pytest.mark.parametrize("model,family", [
    ("chatgpt-4o-latest", "GPT-4o"), ("gpt-4o-2024-05-13", "GPT-4o"), ("text-davinci-003", "GPT-3"),
    ("qwen2.5-coder-0.5b", "Qwen2.5"), ("qwen2.5-7b-instruct", "Qwen2.5"), ("Qwen/Qwen2.5-72B-Instruct", "Qwen2.5"),
    ("qwq-32b", "Qwen2.5"), ("qwen3-8b", "Qwen3"), ("claude-bedrock", "Claude 1/2"), ("muse-glimmer-30b", "Muse"),
    ("some-new-model", "some"),
])
def test_training_families_are_named_by_the_claim_table(model, family):
    """One table names families (issue 36 item 4): training's family labels are the claim table's,
    so a GPT-4o model is never trained as a family of its own ('chatgpt') and a claim's family
    and the family guess use the same names."""
    from provenance.claim import claim_from_model_name
    from provenance.training.families import family_of
    assert family_of(model) == family
    c = claim_from_model_name(model)
    if c is not None and c.family:
        assert family_of(model) == c.family
