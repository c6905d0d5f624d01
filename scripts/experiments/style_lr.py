"""Experiment: a discriminative (logistic regression) style classifier on unseen models.

Question: does multinomial LR over hashed tf-idf n-grams attribute the creator of a model it
never saw (its whole alias group held out) better than the shipped nearest-model naive-Bayes
style channels (LOMO top-1: alpaca_eval 0.491, arena_hard 0.469, mt_bench 0.545)?

Protocol (per source alpaca_eval / arena_hard / mt_bench, plain variant only):
* texts truncated to 1200 characters (the 300-token probe budget);
* GroupKFold(5) over alias groups (``corpus.group_key``): every model is scored by a classifier
  trained without its group (harsher than leave-one-group-out: a fold removes ~1/5 of groups);
* training rows: each training model's answers to the probe prompts plus random others, up to
  ``--per-model`` answers; sample weights make each creator weigh the same and each model the
  same within its creator; tf-idf idf fitted on the training rows of the fold;
* a held-out model's score per creator is the sum of per-answer log-probabilities over its
  answers to the probe-set style prompts of that source (probes/style.toml ``corpus``), and,
  as an upper bound, over all of its answers in that source;
* accuracy counts models whose creator is a label of the fold's classifier ("known").

Nothing from the corpus is written anywhere; the script only prints figures.

    python scripts/experiments/style_lr.py [--corpus ../shared/reference] [--variants word,char]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from provenance.training.corpus import group_key  # noqa: E402
from provenance.channels.lexical import balanced_weights  # noqa: E402

SOURCES = ("alpaca_eval", "arena_hard", "mt_bench")
MAX_CHARS = 1200
N_FEATURES = 2**18
NB_BASELINE = {"alpaca_eval": (0.491, 53), "arena_hard": (0.469, 49), "mt_bench": (0.545, 11)}


def load(corpus: Path) -> dict[str, list[dict]]:
    by_source: dict[str, list[dict]] = defaultdict(list)
    with gzip.open(corpus / "responses.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["source"] in SOURCES and r.get("variant", "") == "":
                by_source[r["source"]].append(
                    {
                        "model": r["model"],
                        "creator": r["creator"],
                        "prompt_id": r["prompt_id"],
                        "text": (r.get("response") or "")[:MAX_CHARS],
                    }
                )
    return by_source


def probe_keys(probe_dir: Path = ROOT / "probes") -> set[str]:
    data = tomllib.loads((probe_dir / "style.toml").read_text(encoding="utf-8"))
    return {p["corpus"] for p in data["probe"] if p.get("corpus")}


def vectorizers(variant: str):
    from sklearn.feature_extraction.text import HashingVectorizer

    word = HashingVectorizer(
        analyzer="word", ngram_range=(1, 2), n_features=N_FEATURES, alternate_sign=False,
        norm=None, lowercase=True, token_pattern=r"(?u)\b\w+\b|[^\w\s]",
    )
    char = HashingVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), n_features=N_FEATURES, alternate_sign=False,
        norm=None, lowercase=False,
    )
    return {"word": [word], "char": [char], "word+char": [word, char]}[variant]


def hash_texts(texts: list[str], variant: str):
    import scipy.sparse as sp

    mats = [v.transform(texts) for v in vectorizers(variant)]
    return mats[0] if len(mats) == 1 else sp.hstack(mats).tocsr()


def evaluate_source(source, rows, probes, variant, Cs, per_model, seed, folds):
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    rng = np.random.default_rng(seed)
    t0 = time.time()
    X_all = hash_texts([r["text"] for r in rows], variant)
    t_hash = time.time() - t0
    model_arr = np.array([r["model"] for r in rows])
    is_probe = np.array([f"{source}:{r['prompt_id']}" in probes for r in rows])
    creator_of = {r["model"]: r["creator"] for r in rows}
    models = sorted(creator_of)
    groups = [group_key(m) for m in models]
    rows_of = defaultdict(list)
    for i, m in enumerate(model_arr):
        rows_of[m].append(i)
    rows_of = {m: np.array(ix) for m, ix in rows_of.items()}

    # per-C results: model -> (creator, ranked labels by probe-sum, ranked by all-sum, n_probe)
    results = {C: {} for C in Cs}
    n_splits = min(folds, len(set(groups)))
    for tr_m, te_m in GroupKFold(n_splits=n_splits).split(models, groups=groups):
        train_models = [models[i] for i in tr_m]
        tr_idx = []
        for m in train_models:
            ix = rows_of[m]
            pr = ix[is_probe[ix]]
            rest = ix[~is_probe[ix]]
            k = max(0, per_model - len(pr))
            pick = rng.choice(rest, size=min(k, len(rest)), replace=False) if k else rest[:0]
            tr_idx.append(np.concatenate([pr, pick]))
        tr_idx = np.concatenate(tr_idx)
        y = [creator_of[m] for m in model_arr[tr_idx]]
        w = balanced_weights(list(model_arr[tr_idx]), y)
        tfidf = TfidfTransformer(sublinear_tf=True).fit(X_all[tr_idx])
        Xtr = tfidf.transform(X_all[tr_idx])
        te_models = [models[i] for i in te_m]
        te_idx = np.concatenate([rows_of[m] for m in te_models])
        Xte = tfidf.transform(X_all[te_idx])
        for C in Cs:
            clf = LogisticRegression(C=C, max_iter=300, tol=1e-3)
            clf.fit(Xtr, y, sample_weight=w)
            logp = clf.predict_log_proba(Xte)
            labels = np.array(clf.classes_)
            pos = 0
            for m in te_models:
                n = len(rows_of[m])
                lp = logp[pos : pos + n]
                probe_mask = is_probe[rows_of[m]]
                pos += n
                s_all = lp.sum(0)
                s_probe = lp[probe_mask].sum(0) if probe_mask.any() else None
                results[C][m] = (
                    creator_of[m],
                    creator_of[m] in set(labels),
                    labels[np.argsort(-s_probe)] if s_probe is not None else None,
                    labels[np.argsort(-s_all)],
                    int(probe_mask.sum()),
                )
    return results, t_hash


def summarise(res):
    """top1/top3 on probe prompts and on all answers, over known-creator models with probes."""
    known = [(m, v) for m, v in res.items() if v[1] and v[2] is not None]
    if not known:
        return None
    p1 = np.mean([v[2][0] == v[0] for _, v in known])
    p3 = np.mean([v[0] in v[2][:3] for _, v in known])
    a1 = np.mean([v[3][0] == v[0] for _, v in known])
    a3 = np.mean([v[0] in v[3][:3] for _, v in known])
    nprobe = np.mean([v[4] for _, v in known])
    return {"n": len(known), "p1": p1, "p3": p3, "a1": a1, "a3": a3, "nprobe": nprobe,
            "hits_p": sum(v[2][0] == v[0] for _, v in known),
            "hits_a": sum(v[3][0] == v[0] for _, v in known)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "reference")
    ap.add_argument("--variants", default="word,char")
    ap.add_argument("--C", default="3,30")
    ap.add_argument("--per-model", type=int, default=150)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sources", default=",".join(SOURCES))
    ap.add_argument("--probes", type=Path, default=ROOT / "probes", help="probe directory (its style.toml)")
    args = ap.parse_args()
    Cs = [float(c) for c in args.C.split(",")]
    sources = [s for s in args.sources.split(",") if s in SOURCES]
    t_start = time.time()
    data = load(args.corpus)
    probes = probe_keys(args.probes)
    print(f"loaded {sum(map(len, data.values()))} answers in {time.time() - t_start:.1f}s; "
          f"{len(probes)} style probe prompts; per-model cap {args.per_model}; "
          f"GroupKFold({args.folds}) over alias groups; n_features {N_FEATURES}")

    all_results = {}
    for variant in args.variants.split(","):
        for source in sources:
            t0 = time.time()
            res, t_hash = evaluate_source(source, data[source], probes, variant, Cs,
                                          args.per_model, args.seed, args.folds)
            all_results[(variant, source)] = res
            print(f"  [{variant:9s} {source:11s}] {len(res[Cs[0]])} models, "
                  f"hash {t_hash:.1f}s, total {time.time() - t0:.1f}s", flush=True)

    print()
    print("LOMO-style creator accuracy (GroupKFold over alias groups), known creators only")
    print(f"{'variant':9s} {'C':>5s} {'source':11s} {'n':>3s} {'probes/m':>8s} "
          f"{'top1@probe':>10s} {'top3@probe':>10s} {'top1@all':>8s} {'top3@all':>8s} {'NB(LOMO)':>12s}")
    best = {}
    for variant in args.variants.split(","):
        for C in Cs:
            tot = Counter()
            for source in sources:
                s = summarise(all_results[(variant, source)][C])
                if s is None:
                    continue
                nb = NB_BASELINE[source]
                print(f"{variant:9s} {C:5g} {source:11s} {s['n']:3d} {s['nprobe']:8.1f} "
                      f"{s['p1']:10.3f} {s['p3']:10.3f} {s['a1']:8.3f} {s['a3']:8.3f} "
                      f"{nb[0]:.3f} ({nb[1]:2d})")
                tot["n"] += s["n"]
                tot["hp"] += s["hits_p"]
                tot["ha"] += s["hits_a"]
                tot["p3"] += s["p3"] * s["n"]
                tot["a3"] += s["a3"] * s["n"]
            n = tot["n"]
            print(f"{variant:9s} {C:5g} {'OVERALL':11s} {n:3d} {'':8s} {tot['hp'] / n:10.3f} "
                  f"{tot['p3'] / n:10.3f} {tot['ha'] / n:8.3f} {tot['a3'] / n:8.3f} "
                  f"{(0.491 * 53 + 0.469 * 49 + 0.545 * 11) / 113:.3f} (113)")
            best[(variant, C)] = tot["hp"] / n

    (bv, bC) = max(best, key=best.get)
    print()
    print(f"per-creator recall (probe prompts | all answers), variant={bv} C={bC:g} "
          f"[best by overall top1@probe: picked on the test rows, optimistic]")
    rec = defaultdict(lambda: [0, 0, 0])
    for source in sources:
        for m, v in all_results[(bv, source)][bC].items():
            if v[1] and v[2] is not None:
                rec[v[0]][0] += 1
                rec[v[0]][1] += int(v[2][0] == v[0])
                rec[v[0]][2] += int(v[3][0] == v[0])
    for c, (n, hp, ha) in sorted(rec.items(), key=lambda kv: -kv[1][0]):
        print(f"  {c:24s} n={n:3d}  probe {hp / n:.2f}  all {ha / n:.2f}")
    confused = Counter()
    for source in sources:
        for m, v in all_results[(bv, source)][bC].items():
            if v[1] and v[2] is not None and v[2][0] != v[0]:
                confused[(v[0], v[2][0])] += 1
    print("  most frequent confusions (true -> predicted, probe prompts):",
          ", ".join(f"{a}->{b} x{k}" for (a, b), k in confused.most_common(8)))
    print(f"runtime {time.time() - t_start:.1f}s")


if __name__ == "__main__":
    main()
