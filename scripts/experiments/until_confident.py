"""Stop rules for --until-confident, simulated offline on held-out models (docs/experiments.md).

    python scripts/experiments/until_confident.py MODEL_DIR ROWS_JSON

MODEL_DIR: a model trained without the held-out models and ROWS_JSON their rows (both
written by ``benchmarks/bench_unseen.py``); each model's corpus answers are replayed in the
adaptive order, in batches of ADAPTIVE_BATCH; a probe without an answer costs nothing.
"""

import json, sys
from collections import defaultdict
from provenance.probes import load_probeset
from provenance.classifier.model import TrainedClassifier
from provenance.probing.order import ADAPTIVE_BATCH
from provenance.run.steps import choose_probes
from provenance.training.corpus import load_records
from provenance.transcript import Transcript

model_dir, rows_json = sys.argv[1:3]
ps = load_probeset(None)
clf = TrainedClassifier.load(model_dir, ps)
held = json.load(open(rows_json))
want = {r['model'] for r in held}
ans = defaultdict(dict)
for r in load_records('../shared/reference'):
    if not r.variant and r.model in want:
        ans[r.model].setdefault(r.key, r.response)
order = choose_probes(ps, clf)
res = []
for h in held:
    m = h['model']; a = ans[m]
    texts, fams, cost = {}, {}, 0
    traj = []
    for b in range(0, len(order), ADAPTIVE_BATCH):
        for p in order[b:b + ADAPTIVE_BATCH]:
            if p.behavioural and p.corpus in a:
                t = a[p.corpus]
                texts[p.id] = t; fams[p.id] = p.family
                prompt = sum(len(str(x.get('content', ''))) for x in p.messages)
                cost += int(prompt / 4) + 1 + int(len(t) / 4)
        if not texts:
            traj.append(None); continue
        att = clf.classify(Transcript.from_texts(dict(texts), dict(fams)))
        cands = [c.creator for c in att.candidates]
        traj.append({"n": len(texts), "tokens": cost, "status": att.status, "creator": att.creator,
                     "conf": att.confidence, "top": cands[0] if cands else None,
                     "ptop": att.candidates[0].probability if att.candidates else None})
    res.append({"model": m, "truth": h['truth'], "known": h['known_creator'], "traj": traj})
R = res

# -- the stop rules
import statistics as st
def final(r):
    t = [x for x in r['traj'] if x]; return t[-1] if t else None
def stop_at(r, rule):
    t = r['traj']
    for i, x in enumerate(t):
        if x and rule(t, i): return x
    return final(r)
def score(rule, name):
    toks, named, top, full_named, full_top = [], [], [], [], []
    for r in R:
        f = final(r)
        if f is None: continue
        s = stop_at(r, rule)
        toks.append(s['tokens'])
        named.append(s['creator'] == r['truth']); full_named.append(f['creator'] == r['truth'])
        if r['known']:
            top.append(s['top'] == r['truth']); full_top.append(f['top'] == r['truth'])
    print(f"{name:40s} median tokens {st.median(toks):7.0f} (full {st.median([final(r)['tokens'] for r in R if final(r)]):.0f})  "
          f"named right {sum(named)}/{len(named)} (full {sum(full_named)})  top-1 known {sum(top)}/{len(top)} (full {sum(full_top)})")
score(lambda t, i: False, 'full')
score(lambda t, i: t[i]['status'] == 'match' and t[i]['conf'] >= 0.9, 'match & conf>=0.9')
def settle(k, n_min):
    def rule(t, i):
        if i < k or t[i]['n'] < n_min: return False
        w = t[i - k:i + 1]
        return all(x and (x['status'], x['creator'], x['top']) == (t[i]['status'], t[i]['creator'], t[i]['top']) for x in w)
    return rule
for k in (2, 3, 4):
    for n in (16, 24, 32):
        score(settle(k, n), f'settled k={k} n>={n}')
