"""Train on a tiny synthetic corpus generated here, then load the artifact and classify."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from provenance.classifier.model import TrainedClassifier
from provenance.training.folds import DEALS
from provenance.training.export import export
from provenance.training.train import run_training
from provenance.errors import ArtifactError
from provenance.probes import load_probeset
from provenance.transcript import Transcript

from factory import CREATORS, PROMPTS, WORDS, synthetic_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    corpus, probes = synthetic_corpus(d)
    tr, rows, preds, figs = run_training(corpus, (), probes)
    out = export(tr, rows, preds, figs, d / "model")
    return out, probes, figs


def test_figures_present(trained):
    _, _, figs = trained
    assert figs["lomo_models"] == 9
    assert 0.0 <= figs["lomo_top1"] <= 1.0
    assert figs["loco_models"] == 9


def test_classify_round_trip(trained):
    out, probes, _ = trained
    ps = load_probeset(probes)
    clf = TrainedClassifier.load(out, ps)
    texts = {f"style.{p}": CREATORS["Anthropic"][0].format(w="lamps", v="maps") for p in PROMPTS}
    texts["identity.who"] = "I'm Claude, made by Anthropic."
    fam = {k: k.split(".")[0] for k in texts}
    a = clf.classify(Transcript.from_texts(texts, fam))
    assert a.candidates[0].creator == "Anthropic"
    assert 0.0 <= a.confidence <= 1.0
    assert a.status in ("match", "ambiguous", "unknown")
    assert a.probes_used == len(PROMPTS) + 1
    assert any("identity" in e.text for e in a.evidence)
    # same transcript, same answer
    assert clf.classify(Transcript.from_texts(texts, fam)).to_dict() == a.to_dict()


def test_partial_and_empty_transcripts(trained):
    out, probes, _ = trained
    clf = TrainedClassifier.load(out, load_probeset(probes))
    a = clf.classify(Transcript.from_texts({"style.p0": "## lamps\n\nmaps is key. 🎉"}, {"style.p0": "style"}))
    assert any("only 1 behavioural" in r for r in a.reliability)
    e = clf.classify(Transcript.from_texts({}, {}))
    assert e.creator == "unknown" and e.probes_used == 0


def test_refuses_other_probeset(trained, tiny_probes):
    out, _, _ = trained
    with pytest.raises(ArtifactError):
        TrainedClassifier.load(out, load_probeset(tiny_probes))


def test_cli_missing_corpus_exits_2(tmp_path, capsys):
    from provenance.cli import main
    for cmd in (["eval", "--corpus", str(tmp_path / "nope")],
                ["train", "--corpus", str(tmp_path / "nope"), "-o", str(tmp_path / "m")]):
        with pytest.raises(SystemExit) as e:
            main(cmd)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("provenance: error:") and "\n" not in err


def test_cli_train_and_eval_json(trained, tmp_path, capsys):
    from provenance.cli import main
    _, probes, _ = trained
    corpus = probes.parent / "corpus"
    with pytest.raises(SystemExit) as e:
        main(["train", "--corpus", str(corpus), "--probes", str(probes), "-o", str(tmp_path / "m"), "--quiet"])
    assert e.value.code == 0
    assert (tmp_path / "m" / "manifest.json").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(corpus), "--probes", str(probes), "--json",
              "--model", str(tmp_path / "m"), "--budget", "3", "--stored-order"])
    assert e.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["budget"] == 3 and doc["budget_order"] == "stored" and "lomo_top1" in doc and "confusion" in doc
    spread = doc["deal_spread"]        # eval's --deals default must be train's DEALS
    assert spread["deals"] == DEALS
    for key in ("lomo_top1", "lomo_ece", "lomo_log_loss"):
        lo, mean, hi = spread[key]
        assert lo <= mean <= hi


def test_eval_deals_zero_skips_the_spread(trained, capsys):
    from provenance.cli import main
    _, probes, _ = trained
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(probes.parent / "corpus"), "--probes", str(probes), "--json", "--deals", "0"])
    assert e.value.code == 0
    assert "deal_spread" not in json.loads(capsys.readouterr().out)


def test_eval_prints_the_deal_spread(trained, capsys):
    from provenance.cli import main
    _, probes, _ = trained
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(probes.parent / "corpus"), "--probes", str(probes), "--deals", "2"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "over 2 random deals of the calibrator's folds: LOMO top-1" in out


def test_seeded_fold_deals_keep_groups_whole_and_creators_spread():
    from collections import Counter

    from provenance.training.folds import stratified_group_folds
    groups = {f"{c}-{i}": c for c in ("A", "B", "C") for i in range(7)}
    assert stratified_group_folds(groups, 5) == stratified_group_folds(groups, 5, None)
    deals = [stratified_group_folds(groups, 5, seed) for seed in range(1, 6)]
    for d in [stratified_group_folds(groups, 5)] + deals:
        assert set(d) == set(groups) and set(d.values()) <= set(range(5))
        for c in "ABC":    # a creator's 7 groups over 5 folds: 1 or 2 in each
            per_fold = Counter(f for g, f in d.items() if groups[g] == c)
            assert sorted(per_fold.values()) == [1, 1, 1, 2, 2]
    assert deals[0] == stratified_group_folds(groups, 5, 1)      # a seed is reproducible
    assert len({tuple(sorted(d.items())) for d in deals}) > 1    # and seeds differ


def test_content_independent_channels_are_added(trained, monkeypatch):
    from provenance.classifier.base import Evidence
    from provenance.channels import independent as chmod
    from provenance.channels.base import ChannelResult
    out, probes, _ = trained
    clf = TrainedClassifier.load(out, load_probeset(probes))
    texts = {"style.p0": CREATORS["OpenAI"][0].format(w="maps", v="lamps")}
    t = Transcript.from_texts(texts, {"style.p0": "style"})
    before = clf.classify(t)

    def fake(transcript):
        return [ChannelResult(name="tokenizer", available=True, loglik={"Google": 8.0}, default=0.0,
                              evidence=[Evidence("tokenizer: gemma-like counts", [], "tokenizer", 8.0)],
                              summary={"family": "gemma"})]
    monkeypatch.setattr(chmod, "content_independent_channels", fake)
    after = clf.classify(t)
    p_before = {c.creator: c.probability for c in before.candidates}
    p_after = {c.creator: c.probability for c in after.candidates}
    assert p_after["Google"] > p_before.get("Google", 0.0)
    assert after.tokenizer and after.tokenizer["summary"]["family"] == "gemma"
    assert any(e.channel == "tokenizer" for e in after.evidence)


def test_extra_records_add_a_creator(trained, tmp_path):
    _, probes, _ = trained
    corpus = probes.parent / "corpus"
    extra = tmp_path / "local-models.jsonl"
    with extra.open("w", encoding="utf-8") as f:
        for k in range(2):
            for pid in PROMPTS:
                f.write(json.dumps({"source": "alpaca_eval", "model": f"smollm-{k}", "creator": "Hugging Face",
                                    "variant": "", "prompt_id": pid, "kind": "style", "prompt": f"prompt {pid}",
                                    "response": f"Okay. {pid} answer number {k}: small and plain.", "extra": {}}) + "\n")
    tr, rows, preds, figs = run_training(corpus, [extra], probes)
    assert "Hugging Face" in tr.creators
    assert figs["loco_models"] == 11


def test_extra_file_missing_is_a_config_error(trained, tmp_path):
    from provenance.errors import ConfigError
    _, probes, _ = trained
    with pytest.raises(ConfigError):
        run_training(probes.parent / "corpus", [tmp_path / "absent.jsonl"], probes)


def test_lexical_channel_is_exported_and_used(trained):
    """The lexical (logistic regression) channel travels in the artifact and scores answers."""
    out, probes, _ = trained
    clf = TrainedClassifier.load(out, load_probeset(probes))
    assert "style-alpaca_eval" in clf.lexical
    assert set(clf.lexical["style-alpaca_eval"].classes) == set(CREATORS)
    texts = {f"style.{p}": CREATORS["Google"][0].format(w="maps", v="lamps") for p in PROMPTS[:5]}
    a = clf.classify(Transcript.from_texts(texts, {k: "style" for k in texts}))
    assert a.channels["lexical"]["answers"] == 5
    assert a.channels["lexical"]["favours"] == "Google"


def test_lexical_numpy_scoring_matches_training_batch():
    """``LexicalModel.logp`` (inference, numpy) equals ``logp_rows`` (training, sparse)."""
    import numpy as np

    from provenance.channels import lexical
    from provenance.channels.featurize import answer_indices

    rng = random.Random(1)
    answers, models, creators = [], [], []
    for creator, (style, _) in CREATORS.items():
        for k in range(2):
            for _ in range(10):
                text = style.format(w=rng.choice(WORDS), v=rng.choice(WORDS))
                answers.append(np.asarray(answer_indices("style", text, 100), dtype=np.int64))
                models.append(f"{creator}-{k}")
                creators.append(creator)
    vocab = np.unique(np.concatenate(answers))
    X = lexical.count_matrix(answers, vocab)
    lm = lexical.fit(X, models, creators, vocab)
    batch = lexical.logp_rows(lm, X)
    for i in (0, 25, 59):
        assert np.allclose(lm.logp(answers[i]), batch[i], atol=1e-9)
    assert np.allclose(np.exp(batch).sum(axis=1), 1.0)
    # an answer with no known feature says nothing
    assert lm.logp(np.array([int(vocab.max()) + 7])) is None
    # labels the model has no class for get the mean: centred, no information
    s = lexical.label_summary(batch[0], lm.classes, ["Google", "Nobody"])
    assert abs(s.sum()) < 1e-9


def test_bootstrap_interval():
    from provenance.training.figures import bootstrap_interval
    assert bootstrap_interval([], []) == {}
    iv = bootstrap_interval([1.0] * 20, [True] * 20)
    assert iv == {"lomo_top1": [1.0, 1.0], "lomo_ece_if_calibrated": [0.0, 0.0]}
    iv = bootstrap_interval([0.5] * 40, [True, False] * 20)
    lo, hi = iv["lomo_top1"]
    assert lo < 0.5 < hi
    med, p95 = iv["lomo_ece_if_calibrated"]
    assert 0.0 < med <= p95 < 0.5      # 40 coin flips at 0.5 are rarely exactly 20/20


def test_figures_carry_intervals(trained):
    _, _, figs = trained
    assert set(figs["interval95"]) == {"lomo_top1", "lomo_ece_if_calibrated"}


def test_aligned_channel_is_exported_and_used(trained):
    """The aligned channel's reference answers travel in the artifact and score a transcript."""
    out, probes, _ = trained
    clf = TrainedClassifier.load(out, load_probeset(probes))
    assert clf.aligned is not None and len(clf.aligned.models) == 9
    texts = {f"style.{p}": CREATORS["Google"][0].format(w="maps", v="lamps") for p in PROMPTS[:5]}
    a = clf.classify(Transcript.from_texts(texts, {k: "style" for k in texts}))
    assert a.channels["aligned_style"]["answers"] == 5
    assert a.channels["aligned_style"]["favours"] == "Google"
    assert any(e.channel == "aligned_style" and "google-model-" in e.text for e in a.evidence)
    # identity, refusal and cutoff answers feed the other aligned channel
    texts["identity.who"] = CREATORS["Google"][1]
    b = clf.classify(Transcript.from_texts(texts, {k: k.split(".")[0] for k in texts}))
    assert b.channels["aligned_other"]["answers"] == 1
    assert b.channels["aligned_style"]["answers"] == 5


def test_log_loss_of_the_true_creator():
    from provenance.training.figures import figures
    preds = [{"model": m, "creator": "A", "subset": "all", "mode": "lomo", "top": [t, "B"], "p_top": pt,
              "p_true": pr, "p_unknown": 0.0, "n": 3}
             for m, t, pt, pr in (("m1", "A", 0.5, 0.5), ("m2", "B", 0.75, 0.25))]
    f = figures(preds, {"m1": True, "m2": True})
    assert abs(f["lomo_log_loss"] - (np.log(2) + np.log(4)) / 2) < 1e-4
    assert figures(preds[:0], {})["lomo_log_loss"] is None


def test_trained_figures_have_a_log_loss(trained):
    _, _, figs = trained
    assert figs["lomo_log_loss"] is not None and figs["lomo_log_loss"] >= 0.0


def test_without_aligned_is_an_ablation(trained, capsys):
    from provenance.cli import main
    _, probes, _ = trained
    corpus = probes.parent / "corpus"
    _, rows, _, _ = run_training(corpus, (), probes)
    assert any("aligned_style" in r.summ for r in rows)
    tr, rows, _, _ = run_training(corpus, (), probes, use_aligned=False)
    assert not any(ch in r.summ for r in rows for ch in ("aligned_style", "aligned_other"))
    assert "aligned_sims" not in vars(tr)          # nor is any similarity computed for it
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(corpus), "--probes", str(probes), "--json", "--without-aligned"])
    assert e.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["aligned_channels"] is False


def test_nested_budget_order_ignores_the_models_own_answers(trained):
    """eval --budget ranks each model's probes without its alias-group fold: what a model
    itself got right must not move its own order (it does move the shipped order)."""
    from provenance.training.ordering import fold_orders, rank_probes
    _, probes, _ = trained
    ps = load_probeset(probes)
    creator = {f"{c.lower()}-model-{k}": c for c in CREATORS for k in range(3)}
    keys = [p.corpus for p in ps.probes if p.behavioural]
    hits = {m: {k: k.endswith("p3") for k in keys} for m in creator}
    flipped = {m: dict(h) for m, h in hits.items()}
    flipped["openai-model-0"] = {k: k.endswith("p7") for k in keys}
    # 30 labels (chance 1/30), so that one model's single hit lifts a probe above chance
    before, after = fold_orders(ps, hits, creator, 30), fold_orders(ps, flipped, creator, 30)
    assert before["openai-model-0"] == after["openai-model-0"]
    assert before["openai-model-0"][0] == "style.p3"
    assert [d["id"] for d in rank_probes(ps, flipped, 30)][:2] == ["style.p3", "style.p7"]
    # a model in another fold sees the flipped answers
    assert any(after[m][:2] == ["style.p3", "style.p7"] for m in creator if m != "openai-model-0")


def test_cli_eval_budget_orders(trained, capsys):
    from provenance.cli import main
    _, probes, _ = trained
    corpus = str(probes.parent / "corpus")
    with pytest.raises(SystemExit) as e:   # the nested order needs no trained model
        main(["eval", "--corpus", corpus, "--probes", str(probes), "--json", "--deals", "0", "--budget", "2"])
    assert e.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["budget"] == 2 and doc["budget_order"] == "nested"
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", corpus, "--probes", str(probes), "--stored-order"])
    assert e.value.code == 2
    assert "--stored-order needs --budget" in capsys.readouterr().err


def test_older_artifact_rejector_layout(trained):
    """An artifact trained before the aligned fit features (15 rejector weights) still loads
    and decides as it did: the features it lacks get weight 0."""
    from provenance.classifier.combine import REJECT_FEATURES
    out, probes, _ = trained
    new = TrainedClassifier.load(out, load_probeset(probes))
    with np.load(out / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    old_names = [f for f in REJECT_FEATURES if not f.startswith("fit_aligned")]
    assert len(old_names) == 15
    arrays["rejector"] = np.array([new.v[REJECT_FEATURES.index(f)] for f in old_names])
    manifest = dict(new.manifest, reject_features=old_names)
    old = TrainedClassifier(manifest, arrays, out)
    assert [old.v[REJECT_FEATURES.index(f)] for f in old_names] == list(arrays["rejector"])
    assert all(old.v[REJECT_FEATURES.index(f)] == 0.0 for f in REJECT_FEATURES if f not in old_names)
    del manifest["reject_features"]            # no list at all: the stored weights are the leading features
    assert list(TrainedClassifier(manifest, arrays, out).v) == list(old.v)
    texts = {"style.p0": CREATORS["Google"][0].format(w="maps", v="lamps")}
    assert old.classify(Transcript.from_texts(texts, {"style.p0": "style"})).status in ("match", "ambiguous", "unknown")


def test_aligned_fit_reaches_the_rejector():
    """The nearest reference model's aligned score is one of the unknown decision's inputs."""
    from provenance.classifier.combine import REJECT_FEATURES, reject_features
    x = reject_features(np.array([0.7, 0.3]), ["A", "B"], [], {"style": 3}, {"aligned_style": 1.25})
    assert x[REJECT_FEATURES.index("fit_aligned_style")] == 1.25
    assert x[REJECT_FEATURES.index("fit_aligned_other")] == 0.0
    assert len(x) == len(REJECT_FEATURES)


def test_evidence_reach_counts_channels_and_unreferenced_models():
    """``evidence_reach``: a channel counts as first only when the true creator scores strictly
    above every other label; the provider is a channel; unreferenced models are split out."""
    from provenance.training.trainer import Row
    from provenance.training.figures import evidence_reach
    labels = ["A", "B", "C"]
    rows = [Row("a1", "A", "all", [], summ={"style": np.array([1.0, 0.0, 0.0])}, labels=labels),
            Row("a2", "A", "all", [], summ={"style": np.array([0.5, 0.5, 0.0])}, labels=labels),   # a tie is not first
            Row("b1", "B", "all", [], summ={"style": np.array([1.0, 0.0, 0.0])}, labels=labels,
                provider=np.array([0.0, 2.0, 0.0])),
            Row("c1", "C", "all", [], summ={"claim": np.array([1.0, 0.0, 0.0])}, labels=labels),
            Row("c1", "C", "all", [], summ={"style": np.array([0.0, 0.0, 1.0])}, labels=labels, mode="loco")]
    preds = [{"model": m, "creator": c, "subset": "all", "mode": "lomo", "top": [t]}
             for m, c, t in (("a1", "A", "A"), ("a2", "A", "B"), ("b1", "B", "B"), ("c1", "C", "A"))]
    known = {"a1": True, "a2": True, "b1": True, "c1": True}
    r = evidence_reach(rows, preds, known, {"c1"})
    assert r["lomo_models"] == 4
    assert r["channel_first"] == 0.5                      # a1 by style, b1 by its provider
    assert r["per_channel"]["style"] == {"models": 3, "first": round(1 / 3, 4)}
    assert r["per_channel"]["provider"] == {"models": 1, "first": 1.0}
    assert r["unreferenced_models"] == 1 and r["unreferenced_top1"] == 0.0
    assert r["referenced_top1"] == round(2 / 3, 4)
    assert r["top1_if_referenced_right"] == 0.75          # a1, a2, b1 right; c1 as it is
    assert evidence_reach(rows, preds, {}, set()) == {}


def test_unreferenced_models_have_no_sibling_in_their_sources():
    """A model is unreferenced when no other alias group of its creator answered any source it
    answered; a dated snapshot of the same model does not count as a reference."""
    from types import SimpleNamespace
    from provenance.training.dataset import Answer
    from provenance.training.trainer import Trainer
    creator = {"x-1": "X", "x-2": "X", "x-2-0613": "X", "x-3": "X", "y-1": "Y"}
    ans = lambda m, k: Answer(m, k, "style", "", None, np.zeros(0, dtype=np.int64))  # noqa: E731
    answers = [ans("x-1", "alpaca_eval:1"), ans("x-2", "mt_bench:1"), ans("x-2-0613", "mt_bench:2"),
               ans("x-3", "alpaca_eval:2"), ans("x-3", "arena_hard:1"), ans("y-1", "mt_bench:1")]
    fake = SimpleNamespace(ds=SimpleNamespace(answers=answers, model_creator=creator),
                           eval_by_model={m: [a for a in answers if a.model == m] for m in creator},
                           known=lambda m: creator[m] == "X")
    # x-1 and x-3 share alpaca_eval; x-2's only source is answered by its own snapshot and by Y
    assert Trainer.unreferenced(fake) == {"x-2", "x-2-0613"}


def test_trained_figures_have_the_evidence_reach(trained, capsys):
    from provenance.cli import main
    _, probes, figs = trained
    reach = figs["reach"]
    assert reach["lomo_models"] == 9 and reach["unreferenced_models"] == 0
    assert 0.0 <= reach["channel_first"] <= 1.0
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(probes.parent / "corpus"), "--probes", str(probes), "--deals", "0"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "evidence reach: 0 of the 9 LOMO models have no other model of their maker" in out
