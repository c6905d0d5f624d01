"""Training and honest evaluation of the creator classifier (numpy + scipy; scikit-learn not needed).

Protocol (documented in docs/classifier.md):

* every model is featurised once; text channels are creator-balanced naive Bayes
  (``nb.py``), so leaving a model group (the model with its aliases and dated
  snapshots, ``corpus.group_key``) or a whole creator out is a recomputation of
  means, not a retrain;
* each model is scored from its answers to the probe set's prompts only (all
  probes it has answers for: row "all"; and per corpus source: rows "src:...");
* LOMO: scored with its group left out; LOCO: scored with its creator left out
  (the creator is then not a label);
* the channel weights (calibrator) and the unknown model are fitted on these
  out-of-fold rows, cross-fitted by creator folds, so every reported figure
  comes from a calibrator and rejector that never saw that creator's rows.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..channels.identity import CLAIM_LABELS
from ..probes import ProbeSet, load_probeset
from ..classifier.combine import (N_DESIGN, neutral_summary, PROFILE_FEATURES, REJECT_FEATURES, SCORE_CHANNELS, UNKNOWN_PRIOR, design,
                      named_confidence, p_unknown, posterior, profile_features, recalibrate_top, reject_features,
                      temper, top_features)
from .corpus import group_key, load_events, load_records
from ..classifier.corpus_sources import profile_of_source
from .dataset import Dataset, featurise
from ..channels import aligned as aligned_mod
from ..classifier import family_model
from ..channels import lexical
from ..channels import provider as provider_mod
from ..channels.registry import ALIGNED_CHANNELS, ANSWER_CHANNELS, is_nearest_model, vocab_of, vocab_table
from .families import family_of
from .nb import NBChannel, select_vocab, sparse_rows

CLAIM_ALPHA = 0.3        # smoothing mass per claim label
CLAIM_SELF = 2.0         # prior mass for "a model claims its own creator"
REJECT_THRESHOLD = 0.5   # p(unknown) at or above -> "unknown"
MATCH_THRESHOLD = 0.6    # calibrated top probability at or above -> "match", else "ambiguous"
N_FOLDS = 5
CAL_FOLDS = 5            # alias-group folds of the calibrator's cross-fitting (it is cheap to refit)
DEALS = 10               # random re-deals of those folds whose spread train and eval report
MIN_NN_ANSWERS = 20      # answers a model needs in a nearest-model channel to be one of its references
PRIOR_ANSWERS = 10       # pseudo-answers at chance accuracy when ranking probes (probe_order)
L2 = 1e-4
FAMILY_L2 = 1e-4


@dataclass
class Row:
    model: str
    creator: str
    subset: str                                # "all" or a corpus source
    keys: list[str]
    summ: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    fit: dict[str, float] = field(default_factory=dict)   # best label's log-lik over the background
    mode: str = "lomo"                          # lomo | loco
    provider: np.ndarray | None = None          # upstream-provider log-likelihood over labels (see provider.py)
    # model family (LOMO rows over all answers only): per channel, scores over Trainer.families
    fsumm: dict[str, np.ndarray] = field(default_factory=dict)
    fcounts: dict[str, int] = field(default_factory=dict)
    fsize: np.ndarray | None = None             # per family, its models left in training


HALF_MIN = 4             # answers a model needs for its "half" row (a random half of its probes failed)


def half_of(model: str, keys: set[str]) -> set[str]:
    """A fixed random half of a model's answered keys (seeded by its name): the evidence
    of a run in which the other half of the probes failed (a flaky or filtering relay)."""
    ks = sorted(keys)
    rng = np.random.default_rng(zlib.crc32(model.encode("utf-8")))
    return {ks[i] for i in rng.permutation(len(ks))[:len(ks) // 2]}


def _log(msg: str, log: Callable[[str], None] | None) -> None:
    if log:
        log(msg)


def probe_keys(ps: ProbeSet) -> dict[str, Any]:
    """corpus key -> probe, for behavioural probes with a concrete corpus prompt."""
    return {p.corpus: p for p in ps.probes if p.behavioural and p.corpus and not p.corpus.endswith(":*")}


class Trainer:
    def __init__(self, ds: Dataset, ps: ProbeSet, log: Callable[[str], None] | None = None,
                 use_aligned: bool = True):
        self.ds = ds
        self.ps = ps
        self.log = log
        self.keys = probe_keys(ps)
        self.creators = sorted(set(ds.model_creator.values()))
        self.groups: dict[str, set[str]] = defaultdict(set)
        for m in ds.model_creator:
            self.groups[group_key(m)].add(m)
        self.by_creator: dict[str, set[str]] = defaultdict(set)
        for m, c in ds.model_creator.items():
            self.by_creator[c].add(m)
        self.channels = {}
        for ch, vecs in ds.model_vecs.items():
            if is_nearest_model(ch):
                # a model with few answers in a nearest-model channel is close to the background
                # and would attract every answer; it says nothing there instead
                n = ds.model_counts.get(ch, {})
                vecs = {m: v for m, v in vecs.items() if n.get(m, 0) >= MIN_NN_ANSWERS}
            if vecs:
                self.channels[ch] = NBChannel.build(ch, vecs, ds.model_creator, vocab_of(ch),
                                                    ds.model_counts.get(ch, {}))
        self._claim_fracs()
        self._eval_answers()
        self._cache: dict[tuple, Any] = {}
        self.model_providers: dict[str, list[str]] = {}   # set by run_training from the records
        self.cfold = creator_folds(self.creators)
        self.lex_logp: dict[tuple[str, int], tuple[list[str], np.ndarray]] = {}   # (mode, id(answer)) ->
        self.lex_full: dict[str, lexical.LexicalModel] = {}
        self.use_aligned = use_aligned     # False: --without-aligned, the ablation of the aligned channels

    # -- lexical channel: logistic regression per style source, cross-fitted ------------------
    def lexical_channels(self) -> list[str]:
        return sorted(ch for ch in self.channels if ch.startswith("style-") or ch in lexical.EXTRA_CHANNELS)

    def _lexical_train_set(self, ch: str) -> list[Any]:
        """Each model's answers of this channel: its probe answers first, then a fixed random
        sample of its other answers, up to ``lexical.PER_MODEL``."""
        rng = np.random.default_rng(0)
        by_model: dict[str, list[Any]] = defaultdict(list)
        for a in self.ds.answers:
            if a.channel == ch and a.variant == "" and len(a.idx):
                by_model[a.model].append(a)
        out: list[Any] = []
        for m in sorted(by_model):
            lst = by_model[m]
            probe = [a for a in lst if a.key in self.keys]
            rest = [a for a in lst if a.key not in self.keys]
            k = max(0, lexical.PER_MODEL - len(probe))
            if k and rest:
                pick = rng.choice(len(rest), size=min(k, len(rest)), replace=False)
                probe = probe + [rest[i] for i in sorted(pick)]
            out.extend(probe)
        return out

    def _lexical_data(self, ch: str):
        train = self._lexical_train_set(ch)
        vocab = select_vocab(self.ds.model_vecs[ch], lexical.VOCAB)
        X = lexical.count_matrix([a.idx for a in train], vocab)
        models = [a.model for a in train]
        return X, models, [self.ds.model_creator[m] for m in models], vocab

    def fit_lexical(self) -> None:
        """Out-of-fold lexical scores of every eval answer: for LOMO rows from a model fitted
        without the answer's alias group (folds over this channel's groups), for LOCO rows
        without its creator (the creator folds ``cross_fit`` uses)."""
        t0 = time.time()
        for ch in self.lexical_channels():
            ev = [a for m in sorted(self.eval_by_model) for a in self.eval_by_model[m] if a.channel == ch]
            if not ev:
                continue
            Xtr, tr_models, tr_creators, vocab = self._lexical_data(ch)
            Xev = lexical.count_matrix([a.idx for a in ev], vocab)
            # folds dealt within this channel, so a held-out model's creator keeps its other
            # models of this channel in training (any partition keeps the held-out group out)
            gfold = stratified_group_folds({group_key(m): self.ds.model_creator[m] for m in set(tr_models)})
            for mode in ("lomo", "loco"):
                fold_of = ((lambda m: gfold.get(group_key(m), 0)) if mode == "lomo"
                           else (lambda m: self.cfold[self.ds.model_creator[m]]))
                tr_fold = np.array([fold_of(m) for m in tr_models])
                ev_fold = np.array([fold_of(a.model) for a in ev])
                for k in range(N_FOLDS):
                    te = np.flatnonzero(ev_fold == k)
                    if not len(te):
                        continue
                    sel = np.flatnonzero(tr_fold != k)
                    lm = lexical.fit(Xtr[sel], [tr_models[i] for i in sel], [tr_creators[i] for i in sel], vocab)
                    if lm is None:
                        continue
                    lp = lexical.logp_rows(lm, Xev[te])
                    for i, row in zip(te, lp):
                        self.lex_logp[(mode, id(ev[i]))] = (lm.classes, row)
            _log(f"lexical {ch}: {len(tr_models)} training answers, {time.time() - t0:.1f}s", self.log)

    def fit_lexical_full(self) -> dict[str, lexical.LexicalModel]:
        """The lexical models on every training model (for export)."""
        if not self.lex_full:
            for ch in self.lexical_channels():
                lm = lexical.fit(*self._lexical_data(ch))
                if lm is not None:
                    self.lex_full[ch] = lm
        return self.lex_full

    def _lexical_summary(self, answers: list[Any], labels: list[str], mode: str) -> tuple[np.ndarray, int] | None:
        groups = []
        for ch in self.lexical_channels():
            got = [self.lex_logp[(mode, id(a))] for a in answers if a.channel == ch and (mode, id(a)) in self.lex_logp]
            if got:
                groups.append((got[0][0], [lp for _, lp in got]))
        return lexical.pooled_summary(groups, labels) if groups else None

    def provider_table(self, labels: tuple[str, ...], exclude: frozenset[str]) -> tuple[list[str], np.ndarray]:
        key = ("provider", labels, exclude)
        if key not in self._cache:
            self._cache[key] = provider_mod.fit_table(self.model_providers, self.ds.model_creator,
                                                      list(labels), exclude)
        return self._cache[key]

    # -- aligned channel: per-prompt similarity to other models' answers ----------------------
    def _aligned_entries(self) -> list[tuple[str, str, Any]]:
        return [(m, self.keys[a.key].id, a.idx) for m in sorted(self.eval_by_model)
                for a in self.eval_by_model[m]]

    @cached_property
    def aligned(self) -> aligned_mod.AlignedIndex:
        """The reference index over every model's probe answers (the one exported); built on
        first use, so an evaluation without the aligned channels never builds it."""
        ids = sorted({p.id for p in self.keys.values()})
        return aligned_mod.build(self._aligned_entries(), self.ds.model_creator, ids)

    @cached_property
    def aligned_sims(self) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Each model's similarities to the index, per probe id, computed once; evaluation
        masks out the left-out models."""
        out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
        for m, pid, idx in self._aligned_entries():
            s = self.aligned.similarities(pid, idx)
            if s is not None:
                out[m][pid] = s
        return out

    def _aligned_model_scores(self, model: str, answers: list[Any], exclude: frozenset[str]
                              ) -> tuple[np.ndarray, int] | None:
        """``aligned.model_scores`` of these answers of ``model``, the models in ``exclude`` masked out."""
        ix = self.aligned
        sims = [self.aligned_sims[model][self.keys[a.key].id] for a in answers
                if self.keys[a.key].id in self.aligned_sims.get(model, {})]
        if not sims:
            return None
        mask = np.array([m in exclude for m in ix.models], dtype=bool)
        return aligned_mod.model_scores(sims, len(ix.models), mask, min_shared=ix.min_shared)

    def _aligned_summary(self, model: str, answers: list[Any], labels: list[str],
                         exclude: frozenset[str]) -> tuple[np.ndarray, int, float] | None:
        """(centred label scores, prompts used, the nearest reference model's score)."""
        ms = self._aligned_model_scores(model, answers, exclude)
        ix = self.aligned
        got = None if ms is None else aligned_mod.label_scores(ms, ix.creators, labels, top=ix.top, clip=ix.clip)
        return None if got is None else (got[0], got[1], float(ms[0][got[2]]))

    # -- claims ---------------------------------------------------------------------------
    def _claim_fracs(self) -> None:
        idx = {c: i for i, c in enumerate(CLAIM_LABELS)}
        acc: dict[str, np.ndarray] = {}
        for a in self.ds.answers:
            if a.family == "identity" and a.claim is not None and (a.key.split(":")[1] != "greeting" or a.claim != "none"):
                v = acc.setdefault(a.model, np.zeros(len(CLAIM_LABELS)))
                v[idx.get(a.claim, idx["other"])] += 1
        self.claim_frac = {m: v / v.sum() for m, v in acc.items() if v.sum() > 0}

    def claim_loglik(self, labels: list[str], exclude: Iterable[str] = ()) -> np.ndarray:
        """(n_claim_labels, len(labels)) log P(claim | creator)."""
        ex = set(exclude)
        K = len(CLAIM_LABELS)
        idx = {c: i for i, c in enumerate(CLAIM_LABELS)}
        out = np.zeros((K, len(labels)))
        for j, lab in enumerate(labels):
            v = np.full(K, CLAIM_ALPHA)
            if lab in idx:
                v[idx[lab]] += CLAIM_SELF
            for m in self.by_creator.get(lab, ()):
                if m not in ex and m in self.claim_frac:
                    v = v + self.claim_frac[m]
            out[:, j] = np.log(v / v.sum())
        return out

    # -- eval answers: each model's answers to the probe set's prompts ------------------------
    def _eval_answers(self) -> None:
        best: dict[tuple[str, str], Any] = {}
        for a in self.ds.answers:
            if a.key not in self.keys or a.variant != "":
                continue
            k = (a.model, a.key)
            r = -1 if a.run is None else int(a.run)
            if k not in best or r < best[k][0]:
                best[k] = (r, a)
        self.eval_by_model: dict[str, list[Any]] = defaultdict(list)
        for (m, _), (_, a) in sorted(best.items()):
            self.eval_by_model[m].append(a)
        self.X: dict[str, Any] = {}
        self.row_of: dict[int, int] = {}
        for fam, ch in self.channels.items():
            lst = [a for m in sorted(self.eval_by_model) for a in self.eval_by_model[m] if a.channel == fam]
            self.X[fam] = sparse_rows([a.idx for a in lst], ch.columns())
            for i, a in enumerate(lst):
                self.row_of[id(a)] = i

    # -- one row's summaries ----------------------------------------------------------------
    def _theta(self, fam: str, labels: tuple[str, ...], exclude: frozenset[str],
               by_family: bool = False) -> np.ndarray:
        key = (fam, labels, exclude, by_family)
        if key not in self._cache:
            if fam == "claim":
                self._cache[key] = self.claim_loglik(list(labels), exclude)
            else:
                chans = self.family_channels if by_family else self.channels
                self._cache[key] = chans[fam].log_theta(list(labels), exclude, with_background=True)
        return self._cache[key]

    def _nn_summary(self, fam: str, rows: list[int], labels: list[str], exclude: frozenset[str],
                    by_family: bool = False) -> np.ndarray:
        key = (fam, "nn", exclude)
        if key not in self._cache:
            self._cache[key] = self.channels[fam].model_log_theta(exclude)
        lt, creators, lbg = self._cache[key]
        # a label scores as its best-fitting model; labels are creators, or model families
        groups = [family_of(m) for m in self.channels[fam].models if m not in exclude] if by_family else creators
        X = self.X[fam][rows]
        Sm = np.asarray(X @ lt.T).mean(axis=0)
        base = float(np.asarray(X @ lbg).mean())
        out = np.full(len(labels), base)
        for j, lab in enumerate(labels):
            vals = [Sm[i] for i, c in enumerate(groups) if c == lab]
            if vals:
                out[j] = max(vals)
        chans = self.family_channels if by_family else self.channels
        return neutral_summary(out, chans[fam].present(labels, exclude), base)

    def _channel_summaries(self, answers: list[Any], labels: list[str], exclude: frozenset[str],
                           by_family: bool = False
                           ) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, float]]:
        """Per probe family (identity, refusal, cutoff, style), the answers' centred scores over
        ``labels`` (creators, or model families with ``by_family``), the answers behind them and
        the best label's fit over the background."""
        lab_t = tuple(labels)
        chans = self.family_channels if by_family else self.channels
        parts: dict[str, list[tuple[np.ndarray, int, float]]] = defaultdict(list)
        for ch in self.channels:
            rows = [self.row_of[id(a)] for a in answers if a.channel == ch]
            if not rows:
                continue
            if is_nearest_model(ch):
                summ, fit = self._nn_summary(ch, rows, labels, exclude, by_family)
            else:
                S = np.asarray((self.X[ch][rows] @ self._theta(ch, lab_t, exclude, by_family).T))
                raw = S[:, :-1].mean(axis=0)
                summ, fit = neutral_summary(raw, chans[ch].present(labels, exclude), float(S[:, -1].mean()))
            parts[ch.split("-")[0]].append((summ, len(rows), fit))
        summs, counts, fits = {}, {}, {}
        for fam, lst in parts.items():
            n = sum(k for _, k, _ in lst)
            summs[fam] = sum(v * k for v, k, _ in lst) / n
            counts[fam] = n
            fits[fam] = sum(f * k for _, k, f in lst) / n
        return summs, counts, fits

    def summarise(self, model: str, keys: set[str], labels: list[str], exclude: frozenset[str],
                  mode: str = "lomo") -> Row:
        row = Row(model, self.ds.model_creator[model], "", sorted(keys), labels=labels)
        lab_t = tuple(labels)
        cidx = {c: i for i, c in enumerate(CLAIM_LABELS)}
        answers = [a for a in self.eval_by_model.get(model, []) if a.key in keys]
        row.summ, row.counts, row.fit = self._channel_summaries(answers, labels, exclude)
        claims = [a.claim for a in answers if a.family == "identity" and a.claim is not None
                  and (a.key.split(":")[1] != "greeting" or a.claim != "none")]
        if claims:
            Q = self._theta("claim", lab_t, exclude)
            L = np.array([Q[cidx.get(c, cidx["other"])] for c in claims])
            L = L - L.mean(axis=1, keepdims=True)
            row.summ["claim"] = L.mean(axis=0)
            row.counts["claim"] = len(claims)
        row.claims = claims
        lex = self._lexical_summary(answers, labels, mode)
        if lex is not None:
            row.summ["lexical"], row.counts["lexical"] = lex
        for ch in ALIGNED_CHANNELS if self.use_aligned else ():
            al = self._aligned_summary(model, [a for a in answers if aligned_mod.channel_of(a.family) == ch],
                                       labels, exclude)
            if al is not None:
                row.summ[ch], row.counts[ch], row.fit[ch] = al
        provs = self.model_providers.get(model, [])
        if provs and any(k.endswith(":greeting:hi") for k in keys):
            vocab, logp = self.provider_table(lab_t, exclude)
            row.provider = provider_mod.loglik(provs, vocab, logp)
        return row

    # -- model family: the same channels, scored over families ------------------------------
    @cached_property
    def families(self) -> list[str]:
        return sorted({family_of(m) for m in self.ds.model_creator})

    @cached_property
    def family_channels(self) -> dict[str, NBChannel]:
        """The naive-Bayes channels with each model labelled by its family instead of its creator."""
        return {name: replace(ch, creators=[family_of(m) for m in ch.models]) for name, ch in self.channels.items()}

    @cached_property
    def family_creator(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for m in sorted(self.ds.model_creator):
            out.setdefault(family_of(m), self.ds.model_creator[m])
        return out

    def family_size(self, exclude: frozenset[str]) -> np.ndarray:
        """Per family, its number of training models once ``exclude`` is left out."""
        n = defaultdict(int)
        for m in self.ds.model_creator:
            if m not in exclude:
                n[family_of(m)] += 1
        return np.array([float(n.get(f, 0)) for f in self.families])

    def family_summary(self, model: str, answers: list[Any], exclude: frozenset[str]
                       ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Per channel, centred scores over ``self.families`` (as ``model.py`` computes them at
        inference: naive-Bayes family log-likelihoods, the best model of each family in the
        nearest-model and aligned channels), and the answers behind each."""
        fams = self.families
        fsumm, fcounts, _ = self._channel_summaries(answers, fams, exclude, by_family=True)
        if self.use_aligned:
            mfam = [family_of(m) for m in self.aligned.models]
            for ach in ALIGNED_CHANNELS:
                got = self._aligned_model_scores(model, [a for a in answers if aligned_mod.channel_of(a.family) == ach],
                                                 exclude)
                if got is not None:
                    fsumm[ach] = family_model.best_per_family(got[0], mfam, fams)
                    fcounts[ach] = got[1]
        return fsumm, fcounts

    def rows(self, budget: int | None = None, order: list[str] | dict[str, list[str]] | None = None) -> list[Row]:
        """LOMO and LOCO rows for every model, for its full answer set and per source.

        With ``budget``, each model uses at most that many of its answered probes,
        taken in ``order``: probe ids in information-per-token order, one list for every
        model (the artifact's) or one per model (``nested_orders``).
        """
        out: list[Row] = []
        t0 = time.time()
        id_to_key = {p.id: p.corpus for p in self.ps.probes if p.corpus}

        def ranks(ids: list[str]) -> dict[str, int]:
            return {id_to_key[i]: n for n, i in enumerate(ids) if i in id_to_key}
        shared = ranks(order) if isinstance(order, list) else {}
        for m in sorted(self.eval_by_model):
            answers = self.eval_by_model[m]
            if budget is not None:
                rank = ranks(order.get(m, [])) if isinstance(order, dict) else shared
                answers = sorted(answers, key=lambda a: (rank.get(a.key, 10**6), a.key))[:budget]
            c = self.ds.model_creator[m]
            subsets = {"all": {a.key for a in answers}}
            by_src = defaultdict(set)
            for a in answers:
                by_src[a.source].add(a.key)
            if len(by_src) > 1:
                for s, ks in by_src.items():
                    subsets["src:" + s] = ks
            else:
                subsets["src:" + next(iter(by_src))] = subsets["all"]
            if len(subsets["all"]) >= HALF_MIN:
                subsets["half"] = half_of(m, subsets["all"])
            lomo_ex = frozenset(self.groups[group_key(m)])
            loco_ex = frozenset(self.by_creator[c])
            loco_labels = [x for x in self.creators if x != c]
            for name, ks in subsets.items():
                r = self.summarise(m, ks, self.creators, lomo_ex)
                r.subset, r.mode = name, "lomo"
                if name == "all":
                    r.fsumm, r.fcounts = self.family_summary(m, [a for a in answers if a.key in ks], lomo_ex)
                    r.fsize = self.family_size(lomo_ex)
                out.append(r)
                r = self.summarise(m, ks, loco_labels, loco_ex, mode="loco")
                r.subset, r.mode = name, "loco"
                out.append(r)
        _log(f"scored {len(out)} out-of-fold rows in {time.time() - t0:.1f}s", self.log)
        return out

    def known(self, model: str) -> bool:
        """The model's creator still has another model (outside its alias group) in training."""
        c = self.ds.model_creator[model]
        return bool(self.by_creator[c] - self.groups[group_key(model)])

    def unreferenced(self) -> set[str]:
        """Models of known creators that no other model of their creator (outside their alias
        group) answered in any corpus source they answered: the channels that learn from other
        models' answers (style, refusal, cutoff, lexical, aligned) have no reference of the
        maker to match them to, so only what generalises across models (a self-identification
        claim, the upstream provider) can name them."""
        groups: dict[tuple[str, str], set[str]] = defaultdict(set)   # (source, creator) -> alias groups
        for a in self.ds.answers:
            groups[(a.source, self.ds.model_creator[a.model])].add(group_key(a.model))
        out = set()
        for m, answers in self.eval_by_model.items():
            c, g = self.ds.model_creator[m], group_key(m)
            if self.known(m) and not any(groups[(s, c)] - {g} for s in {a.source for a in answers}):
                out.add(m)
        return out


# -- calibrator: conditional logit over the design matrix ------------------------------------------
def fit_conditional_logit(data: list[tuple[np.ndarray, int]], x0: np.ndarray, bounds: list[tuple[float | None, float | None]],
                          l2: float) -> np.ndarray:
    """Weights ``w`` maximising the mean log softmax(F @ w)[y] over ``data`` (rows of
    (options x features) matrices ``F`` with the index ``y`` of the right option), minus
    ``l2 * |w|^2``, within ``bounds``."""
    from scipy.optimize import minimize

    def f(w):
        nll, g = 0.0, np.zeros_like(w)
        for F, y in data:
            z = F @ w
            zm = z.max()
            e = np.exp(z - zm)
            s = e.sum()
            p = e / s
            nll += -(z[y] - zm - math.log(s))
            g += -(F[y] - p @ F)
        nll = nll / len(data) + l2 * float(w @ w)
        g = g / len(data) + 2 * l2 * w
        return nll, g

    return minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds).x


def fit_calibrator(rows: list[Row]) -> np.ndarray:
    data = []
    for r in rows:
        if r.creator not in r.labels:
            continue
        F = design(r.summ, r.counts, len(r.labels))
        E = np.zeros((len(r.labels), 1)) if r.provider is None else r.provider.reshape(-1, 1)
        data.append((np.hstack([F, E]), r.labels.index(r.creator)))
    if not data:
        return np.zeros(N_DESIGN + 1)
    # weights are kept >= 0: a channel's evidence may be discounted, never reversed
    return fit_conditional_logit(data, np.full(N_DESIGN + 1, 1.0), [(0.0, None)] * (N_DESIGN + 1), L2)


def row_posterior(r: Row, w: np.ndarray) -> np.ndarray:
    """The calibrated posterior of a row: channel design plus the weighted provider channel."""
    extra = None if r.provider is None else w[N_DESIGN] * r.provider
    return posterior(design(r.summ, r.counts, len(r.labels)), w[:N_DESIGN], extra)


def fit_logistic(X: np.ndarray, y: np.ndarray, sw: np.ndarray, x0: np.ndarray, l2: float = 0.01) -> np.ndarray:
    """Weighted logistic regression of y on X (first column the bias, not penalised);
    ``x0`` when y holds a single class."""
    from scipy.optimize import minimize
    if len(set(y.tolist())) < 2:
        return x0

    def f(v):
        z = np.clip(X @ v, -50, 50)
        p = 1 / (1 + np.exp(-z))
        nll = -(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum() + l2 * float(v[1:] @ v[1:])
        g = X.T @ (sw * (p - y))
        g[1:] += 2 * l2 * v[1:]
        return nll, g

    return minimize(f, x0, jac=True, method="L-BFGS-B").x


def fit_rejector(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The unknown decision: class-balanced logistic regression (LOCO rows against LOMO rows)."""
    wpos = 0.5 / max(1, y.sum())
    wneg = 0.5 / max(1, (1 - y).sum())
    return fit_logistic(X, y, np.where(y == 1, wpos, wneg), np.zeros(X.shape[1]))


def family_candidates(r: Row, creator: str, families: list[str], family_creator: dict[str, str]) -> list[int]:
    """Indices of ``creator``'s families that still have a training model for row ``r``."""
    assert r.fsize is not None
    return family_model.candidates(families, family_creator, creator, r.fsize)


def family_design(r: Row, cand: list[int]) -> np.ndarray:
    assert r.fsize is not None
    return family_model.design(r.fsumm, r.fcounts, cand, np.log(np.maximum(r.fsize, 1.0)))


def fit_family_calibrator(rows: list[Row], families: list[str], family_creator: dict[str, str]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(w, v): a conditional logit over the true creator's families plus "a family not in
    training", on LOMO rows (the held-out model's family may or may not remain in training),
    then a Platt step (``v``) on its top probability for the same rows."""
    data = []
    for r in rows:
        if r.mode != "lomo" or r.fsize is None:
            continue
        cand = family_candidates(r, r.creator, families, family_creator)
        true = families.index(family_of(r.model)) if family_of(r.model) in families else -1
        data.append((family_design(r, cand), cand.index(true) if true in cand else len(cand)))
    nf = family_model.N_FAMILY_DESIGN
    if not data:
        return np.zeros(nf), np.zeros(3)
    # channel weights >= 0 (evidence may be discounted, never reversed); size and bias free
    w = fit_conditional_logit(data, np.r_[np.full(nf - 2, 1.0), 0.0, 0.0],
                              [(0.0, None)] * (nf - 2) + [(None, None)] * 2, FAMILY_L2)
    X, y = [], []
    for F, t in data:
        if len(F) < 2:
            continue          # no family of the creator left in training: nothing to name
        best, q_best = family_model.top(F, w)
        X.append(family_model.platt_features(q_best, len(F) - 1))
        y.append(float(best == t))
    Xa, ya = np.array(X).reshape(len(X), 3), np.array(y)
    return w, fit_logistic(Xa, ya, np.full(len(ya), 1.0 / max(1, len(ya))), np.array([0.0, 1.0, 0.0]))


def family_guess(r: Row, creator: str, p_creator: float, wv: tuple[np.ndarray, np.ndarray], families: list[str],
                 family_creator: dict[str, str]) -> tuple[str | None, float]:
    """(family named, joint probability that creator and family are both right) for an
    out-of-fold row; (None, 0) when no family of ``creator`` remains in training."""
    cand = family_candidates(r, creator, families, family_creator)
    if not cand:
        return None, 0.0
    w, v = wv
    best, q_best = family_model.top(family_design(r, cand), w)
    return families[cand[best]], p_creator * family_model.platt(family_model.platt_features(q_best, len(cand)), v)


def creator_folds(creators: list[str], k: int = N_FOLDS) -> dict[str, int]:
    return {c: i % k for i, c in enumerate(sorted(creators))}


def fit_combiner(rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    """Calibrator on the LOMO rows, then the rejector on the calibrated outputs of all rows
    (LOMO rows labelled known, LOCO rows unknown). The rejector's inputs come from a
    calibrator fitted on the same rows; acceptable, as the rejector is only a few numbers."""
    w = fit_calibrator([r for r in rows if r.mode == "lomo"])
    X = [reject_features(row_posterior(r, w), r.labels, r.claims, r.counts, r.fit) for r in rows]
    y = [1.0 if r.mode == "loco" else 0.0 for r in rows]
    return w, fit_rejector(np.array(X), np.array(y))


def stratified_group_folds(group_creator: dict[str, str], k: int = N_FOLDS,
                           seed: int | None = None) -> dict[str, int]:
    """Folds over alias groups (a model with its variants), the unit LOMO leaves out, dealt
    creator by creator so that a creator's groups fall in different folds: a held-out model's
    creator then keeps its other models in training, as in exact leave-one-model-out.

    ``seed`` None deals the groups in name order (the reported figures); a seed deals them
    in a random order within each creator from a random first fold (``deal_spread``)."""
    if seed is None:
        order = sorted(group_creator, key=lambda g: (group_creator[g], g))
        return {g: i % k for i, g in enumerate(order)}
    rng = np.random.default_rng(seed)
    names = sorted(group_creator)
    rank = dict(zip(names, rng.permutation(len(names))))
    order = sorted(names, key=lambda g: (group_creator[g], rank[g]))
    first = int(rng.integers(k))
    return {g: (first + i) % k for i, g in enumerate(order)}


def group_folds(rows: list[Row], k: int = N_FOLDS, seed: int | None = None) -> dict[str, int]:
    return stratified_group_folds({group_key(r.model): r.creator for r in rows}, k, seed)


def calibrators(rows: list[Row], deal: int | None = None) -> tuple[dict[str, int], list[np.ndarray]]:
    """(alias-group fold of each group, the calibrator fitted without each fold's LOMO rows);
    ``deal``: the seed of the fold deal (None: name order)."""
    gfolds = group_folds(rows, CAL_FOLDS, deal)
    return gfolds, [fit_calibrator([r for r in rows if r.mode == "lomo" and gfolds[group_key(r.model)] != k])
                    for k in range(CAL_FOLDS)]


TEMPERATURE_L2 = 1e-4


def fit_temperature(data: list[tuple[np.ndarray, np.ndarray, int]]) -> np.ndarray:
    """theta minimising the mean -log softmax(exp(theta . x) * log p)[y] over ``data`` (rows of
    (out-of-fold posterior p, evidence profile x, index y of the true label)), ridge-penalised
    toward theta = 0 (no change)."""
    from scipy.optimize import minimize
    if not data:
        return np.zeros(len(PROFILE_FEATURES))
    Z = [np.log(np.maximum(p, 1e-300)) for p, _, _ in data]
    X = np.array([x for _, x, _ in data])
    Y = [y for _, _, y in data]

    def f(theta):
        nll, g = 0.0, np.zeros_like(theta)
        sc = np.exp(np.clip(X @ theta, -5.0, 5.0))
        for z, x, y, s in zip(Z, X, Y, sc):
            t = s * z
            t = t - t.max()
            e = np.exp(t)
            q = e / e.sum()
            nll += -(t[y] - math.log(e.sum()))
            # d nll / d s = -(z_y - q . z); d s / d theta = s x
            g += -(z[y] - q @ z) * s * x
        n = len(Z)
        return nll / n + TEMPERATURE_L2 * float(theta @ theta), g / n + 2 * TEMPERATURE_L2 * theta

    return minimize(f, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x


def _temperature_data(rows: list[Row], post: dict[int, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    return [(post[i], row_profile(r), r.labels.index(r.creator))
            for i, r in enumerate(rows) if i in post and r.mode == "lomo" and r.creator in r.labels]


def row_profile(r: Row) -> np.ndarray:
    """``combine.profile_features`` of an out-of-fold row (its answers per corpus source from its keys)."""
    sources: dict[str, int] = defaultdict(int)
    for k in r.keys:
        sources[k.split(":", 1)[0]] += 1
    return profile_features(r.counts, sources)


def raw_posteriors(rows: list[Row], deal: int | None = None) -> tuple[dict[int, np.ndarray], dict[str, int]]:
    """(row index -> out-of-fold calibrated posterior before the temperature; alias-group folds)."""
    gfolds, w_group = calibrators(rows, deal)
    return {i: row_posterior(r, w_group[gfolds[group_key(r.model)]]) for i, r in enumerate(rows)}, gfolds


def oof_posteriors(rows: list[Row], deal: int | None = None
                   ) -> tuple[dict[int, np.ndarray], list[np.ndarray], dict[str, int]]:
    """(row index -> calibrated, tempered out-of-fold posterior; the temperatures fitted per fold;
    the alias-group folds).

    Each row's channel weights come from the calibrator fitted without its alias-group fold
    (``calibrators``); the evidence-dependent temperature applied to it is fitted on the other
    folds' out-of-fold posteriors, so neither stage saw the row's own model."""
    raw, gfolds = raw_posteriors(rows, deal)
    fold = [gfolds[group_key(r.model)] for r in rows]
    thetas = [fit_temperature(_temperature_data(rows, {i: p for i, p in raw.items() if fold[i] != k}))
              for k in range(CAL_FOLDS)]
    tempered = {i: temper(p, row_profile(rows[i]), thetas[fold[i]]) for i, p in raw.items()}
    tops = [fit_top(rows, {i: p for i, p in tempered.items() if fold[i] != k}) for k in range(CAL_FOLDS)]
    return ({i: recalibrate_top(p, row_profile(rows[i]), tops[fold[i]]) for i, p in tempered.items()},
            thetas, gfolds)


TOP_L2 = 0.01


def fit_top(rows: list[Row], post: dict[int, np.ndarray]) -> np.ndarray:
    """The top-label recalibration (``combine.recalibrate_top``): a logistic model of "the top is
    right" on the top's logit and the evidence profile, over LOMO rows' out-of-fold posteriors."""
    X, y = [], []
    for i, p in post.items():
        r = rows[i]
        if r.mode != "lomo" or r.creator not in r.labels:
            continue
        j = int(np.argmax(p))
        X.append(top_features(p[j], row_profile(r)))
        y.append(float(r.labels[j] == r.creator))
    if not X:
        return np.zeros(0)
    Xa, ya = np.array(X), np.array(y)
    x0 = np.zeros(Xa.shape[1])
    x0[1] = 1.0                                  # start from "the top as it is"
    return fit_logistic(Xa, ya, np.full(len(ya), 1.0), x0, l2=TOP_L2)


def prediction(r: Row, p: np.ndarray) -> dict[str, Any]:
    """A row's out-of-fold creator prediction from its calibrated posterior ``p``."""
    order = np.argsort(-p)
    return {"model": r.model, "creator": r.creator, "subset": r.subset, "mode": r.mode,
            "top": [r.labels[i] for i in order[:3]], "p_top": float(p[order[0]]),
            "p_true": float(p[r.labels.index(r.creator)]) if r.creator in r.labels else None,
            # the whole posterior, for the claim-check thresholds (claims.py)
            "p": dict(zip(r.labels, (float(x) for x in p)))}


def cross_fit(rows: list[Row], creators: list[str], families: list[str] | None = None,
              family_creator: dict[str, str] | None = None, deal: int | None = None) -> list[dict[str, Any]]:
    """Out-of-fold predictions.

    The calibrator (channel weights) is fitted on LOMO rows of other alias-group
    folds, the same situation LOMO scores: an unseen model of a creator that may
    be known. The rejector (the unknown decision) is fitted on creator folds, so
    a row's creator is never among its training creators, as LOCO requires.
    ``deal``: the seed of the calibrator's fold deal (None: name order).
    """
    cfolds = creator_folds(creators)
    post, _, gfolds = oof_posteriors(rows, deal)
    index = {id(r): i for i, r in enumerate(rows)}
    w_family = ([fit_family_calibrator([r for r in rows if gfolds[group_key(r.model)] != k], families, family_creator)
                 for k in range(CAL_FOLDS)] if families and family_creator else None)
    preds: list[dict[str, Any]] = []
    for k in range(N_FOLDS):
        train = [r for r in rows if cfolds[r.creator] != k]
        test = [r for r in rows if cfolds[r.creator] == k]
        w, v = fit_combiner(train)
        for r in test:
            pu = p_unknown(reject_features(row_posterior(r, w), r.labels, r.claims, r.counts, r.fit), v)
            preds.append(prediction(r, post[index[id(r)]]))
            preds[-1].update({"p_unknown": pu, "n": sum(r.counts.get(c, 0) for c in ANSWER_CHANNELS)})
            if w_family is not None and r.mode == "lomo" and r.fsize is not None:
                fam, pf = family_guess(r, preds[-1]["top"][0], preds[-1]["p_top"], w_family[gfolds[group_key(r.model)]],
                                       families, family_creator)
                true = family_of(r.model)
                preds[-1].update({"family": fam, "p_family": pf, "true_family": true,
                                  "family_known": bool(true in families and r.fsize[families.index(true)] > 0)})
    return preds


def ece(conf: list[float], correct: list[bool], bins: int = 10) -> float:
    if not conf:
        return float("nan")
    c = np.asarray(conf)
    y = np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    tot = 0.0
    for i in range(bins):
        sel = (c > edges[i]) & (c <= edges[i + 1]) if i else (c >= 0) & (c <= edges[1])
        if sel.any():
            tot += sel.sum() / len(c) * abs(c[sel].mean() - y[sel].mean())
    return float(tot)


def bootstrap_interval(conf: list[float], correct: list[bool], n_boot: int = 1000,
                       seed: int = 0) -> dict[str, list[float]]:
    """How far ~170 models pin the figures down.

    ``lomo_top1``: 95% percentile interval of top-1 accuracy over models resampled with
    replacement. ``lomo_ece_if_calibrated``: the ECE a perfectly calibrated classifier with
    these same confidences would show on this many models (outcomes drawn as
    Bernoulli(confidence)); median and 95th percentile. A measured ECE inside that range is
    what sampling alone produces. (A bootstrap of ECE itself is biased upward, so it is not
    reported.)"""
    if not conf:
        return {}
    rng = np.random.default_rng(seed)
    c = np.asarray(conf)
    y = np.asarray(correct, dtype=bool)
    acc, null = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(c), len(c))
        acc.append(float(y[i].mean()))
        null.append(ece(c.tolist(), (rng.random(len(c)) < c).tolist()))
    r = lambda v, q: round(float(np.percentile(v, q)), 4)  # noqa: E731
    return {"lomo_top1": [r(acc, 2.5), r(acc, 97.5)], "lomo_ece_if_calibrated": [r(null, 50), r(null, 95)]}


def lomo_scores(lomo: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1, ECE and log loss of LOMO predictions (rows of known creators, all probes)."""
    return {"lomo_top1": _mean([p["top"][0] == p["creator"] for p in lomo]),
            "lomo_ece": ece([p["p_top"] for p in lomo], [p["top"][0] == p["creator"] for p in lomo]),
            # log loss of the true creator: a proper score (accuracy and calibration at once) with
            # far less sampling noise than the binned ECE; lower is better
            "lomo_log_loss": _log_loss([p.get("p_true") for p in lomo])}


def figures(preds: list[dict[str, Any]], known: dict[str, bool],
            greeting_only: set[str] | None = None) -> dict[str, Any]:
    lomo = [p for p in preds if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])]
    loco = [p for p in preds if p["mode"] == "loco" and p["subset"] == "all"]
    rej = lambda p: p["p_unknown"] >= REJECT_THRESHOLD  # noqa: E731
    scores = lomo_scores(lomo)
    out: dict[str, Any] = {
        "lomo_models": len(lomo),
        "lomo_top1": scores["lomo_top1"],
        "lomo_top3": _mean([p["creator"] in p["top"] for p in lomo]),
        "lomo_reported_accuracy": _mean([(not rej(p)) and p["top"][0] == p["creator"] for p in lomo]),
        "lomo_unknown_rate": _mean([rej(p) for p in lomo]),
        "lomo_ece": scores["lomo_ece"],
        "lomo_ece_reported": ece([p["p_top"] for p in lomo if not rej(p)],
                                 [p["top"][0] == p["creator"] for p in lomo if not rej(p)]),
        "lomo_log_loss": scores["lomo_log_loss"],
        "loco_models": len(loco),
        "loco_unknown_rate": _mean([rej(p) for p in loco]),
        "interval95": bootstrap_interval([p["p_top"] for p in lomo], [p["top"][0] == p["creator"] for p in lomo]),
    }
    sweep = []
    for t in (0.4, 0.45, 0.5, 0.525, 0.55, 0.575, 0.6, 0.7):
        sweep.append({"threshold": t,
                      "lomo_reported_accuracy": _mean([p["p_unknown"] < t and p["top"][0] == p["creator"] for p in lomo]),
                      "lomo_unknown_rate": _mean([p["p_unknown"] >= t for p in lomo]),
                      "loco_unknown_rate": _mean([p["p_unknown"] >= t for p in loco])})
    out["unknown_threshold_sweep"] = sweep
    fam = [p for p in lomo if "p_family" in p]
    if fam:
        right = [p["family"] is not None and p["family"] == p["true_family"] and p["top"][0] == p["creator"] for p in fam]
        cr = [p for p in fam if p["top"][0] == p["creator"]]
        out["family"] = {
            "lomo_models": len(fam),
            "in_training": sum(p["family_known"] for p in fam),
            # both the creator and its family named right; a family absent from training counts as wrong
            "top1": _mean(right),
            "top1_creator_right": _mean([p["family"] == p["true_family"] for p in cr]),
            "top1_family_in_training": _mean([ok for p, ok in zip(fam, right) if p["family_known"]]),
            "ece": ece([p["p_family"] for p in fam], right),
            # what a perfectly calibrated guesser with these confidences would show (sampling error)
            "ece_if_calibrated": bootstrap_interval([p["p_family"] for p in fam], right)["lomo_ece_if_calibrated"],
        }
        # what a user sees: an unknown verdict names no family, so these count named verdicts only
        named = [(p["p_family"], ok) for p, ok in zip(fam, right) if not rej(p)]
        out["family"]["reported_models"] = len(named)
        if named:
            nc, ny = [c for c, _ in named], [ok for _, ok in named]
            out["family"].update({
                "top1_reported": _mean(ny), "ece_reported": ece(nc, ny),
                "ece_reported_if_calibrated": bootstrap_interval(nc, ny)["lomo_ece_if_calibrated"]})
    if greeting_only is not None:
        # diagnostics: models whose only answer is to the greeting "hi" carry almost no signal
        lm = [p for p in lomo if p["model"] not in greeting_only]
        lc = [p for p in loco if p["model"] not in greeting_only]
        out["beyond_greeting"] = {
            "lomo_models": len(lm),
            "lomo_top1": _mean([p["top"][0] == p["creator"] for p in lm]),
            "lomo_reported_accuracy": _mean([(not rej(p)) and p["top"][0] == p["creator"] for p in lm]),
            "loco_models": len(lc),
            "loco_unknown_rate": _mean([rej(p) for p in lc]),
            "greeting_only_lomo_models": len(lomo) - len(lm),
            "greeting_only_lomo_top1": _mean([p["top"][0] == p["creator"] for p in lomo
                                              if p["model"] in greeting_only]),
        }
    per_source = {}
    for s in sorted({p["subset"] for p in preds if p["subset"].startswith("src:")}):
        rows = [p for p in preds if p["mode"] == "lomo" and p["subset"] == s and known.get(p["model"])]
        lrows = [p for p in preds if p["mode"] == "loco" and p["subset"] == s]
        per_source[s[4:]] = {"models": len(rows), "top1": _mean([p["top"][0] == p["creator"] for p in rows]),
                             "top3": _mean([p["creator"] in p["top"] for p in rows]),
                             "loco_unknown_rate": _mean([rej(p) for p in lrows])}
    out["per_source"] = per_source
    per_creator: dict[str, dict[str, Any]] = {}
    for c in sorted({p["creator"] for p in preds}):
        rows = [p for p in lomo if p["creator"] == c]
        lrows = [p for p in loco if p["creator"] == c]
        per_creator[c] = {"lomo_models": len(rows), "recall": _mean([p["top"][0] == c for p in rows]),
                          "loco_models": len(lrows), "loco_unknown": _mean([rej(p) for p in lrows])}
    out["per_creator"] = per_creator
    conf: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in lomo:
        conf[p["creator"]]["unknown" if rej(p) else p["top"][0]] += 1
    out["confusion"] = {k: dict(v) for k, v in conf.items()}
    return out


PROFILE_MIN_MODELS = 20     # profiles with fewer LOMO models are printed but not the headline
RICH_ANSWERS = 50           # "models with 50 or more answers to the probes"


def profile_name(subset: str) -> str:
    """An out-of-fold row's evidence profile: every probe the model answered ("all"), a random
    half of them ("half"), or one corpus source's answers ("style:alpaca_eval", "identity",
    "cutoff", "refusal:xstest", ...), as a run whose other probes failed would have."""
    return profile_of_source(subset[4:]) if subset.startswith("src:") else subset


def profile_figures(preds: list[dict[str, Any]], known: dict[str, bool]) -> dict[str, Any]:
    """Per evidence profile, over LOMO predictions of models whose creator is known: models,
    top-1, mean confidence, ECE and the gap (mean confidence minus top-1; positive is
    over-confident); ``worst``: the profile (with PROFILE_MIN_MODELS or more models) whose gap is
    largest in size, the headline calibration figure."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in preds:
        if p["mode"] == "lomo" and known.get(p["model"]):
            by[profile_name(p["subset"])].append(p)
    out: dict[str, Any] = {}
    for name in sorted(by, key=lambda n: (n not in ("all", "half"), n)):
        ps = by[name]
        ok = [p["top"][0] == p["creator"] for p in ps]
        conf = [p["p_top"] for p in ps]
        top1, mc = float(np.mean(ok)), float(np.mean(conf))
        out[name] = {"models": len(ps), "top1": round(top1, 4), "mean_confidence": round(mc, 4),
                     "ece": round(ece(conf, ok), 4), "gap": round(mc - top1, 4),
                     "log_loss": _log_loss([p.get("p_true") for p in ps])}
    big = {k: v for k, v in out.items() if v["models"] >= PROFILE_MIN_MODELS}
    worst = max(big, key=lambda k: abs(big[k]["gap"])) if big else None
    return {"profiles": out, "worst": worst, "worst_gap": big[worst]["gap"] if worst else None}


def weighted_ece(conf: list[float], correct: list[bool], weight: list[float], bins: int = 10) -> float | None:
    if not conf:
        return None
    c, y, w = np.asarray(conf), np.asarray(correct, dtype=float), np.asarray(weight, dtype=float)
    k = np.minimum((c * bins).astype(int), bins - 1)
    tot = 0.0
    for b in range(bins):
        sel = k == b
        if w[sel].sum() > 0:
            tot += w[sel].sum() / w.sum() * abs(np.average(c[sel], weights=w[sel]) - np.average(y[sel], weights=w[sel]))
    return round(float(tot), 4)


def verdict_figures(preds: list[dict[str, Any]], known: dict[str, bool], prior: float = UNKNOWN_PRIOR
                    ) -> dict[str, Any]:
    """What the verdict line says, on a mix of endpoints of which ``prior`` are by makers the
    classifier does not know: LOMO rows (known makers, all probes) weigh 1 - prior in all, LOCO
    rows (the maker left out) prior. A named verdict (P(unknown) under the threshold) states
    ``named_confidence``; it is right when the model's maker is known and named. Figures over
    the named verdicts: their share, accuracy, mean stated confidence, gap and ECE; and the
    share of unknown makers' models named, and of verdicts stated at 0.9+ that are right."""
    lomo = [p for p in preds if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])]
    loco = [p for p in preds if p["mode"] == "loco" and p["subset"] == "all"]
    if not lomo or not loco:
        return {}
    rows = [(p, True, (1 - prior) / len(lomo)) for p in lomo] + [(p, False, prior / len(loco)) for p in loco]
    named = [(named_confidence(p["p_top"], p["p_unknown"], prior), kn and p["top"][0] == p["creator"], w)
             for p, kn, w in rows if p["p_unknown"] < REJECT_THRESHOLD]
    if not named:
        return {"prior": prior, "named_share": 0.0}
    conf, ok, w = [c for c, _, _ in named], [o for _, o, _ in named], [x for _, _, x in named]
    acc = float(np.average(ok, weights=w))
    mc = float(np.average(conf, weights=w))
    high = [(o, x) for c, o, x in named if c >= 0.9]
    return {"prior": prior, "named_share": round(sum(w) / sum(x for _, _, x in rows), 4),
            "accuracy": round(acc, 4), "mean_confidence": round(mc, 4), "gap": round(mc - acc, 4),
            "ece": weighted_ece(conf, ok, w),
            "confident_models": len(high),
            "confident_accuracy": (round(float(np.average([o for o, _ in high], weights=[x for _, x in high])), 4)
                                   if high else None),
            "unknown_makers_named": _mean([p["p_unknown"] < REJECT_THRESHOLD for p in loco])}


def anonymous(rows: list[Row]) -> list[Row]:
    """The rows as an anonymous endpoint would give them: without the upstream provider a
    router names (the corpus's greetings carry it; a stealth or relayed endpoint never does)."""
    return [replace(r, provider=None) if r.provider is not None else r for r in rows]


def _log_loss(ps: list[float | None]) -> float | None:
    xs = [p for p in ps if p is not None]
    return round(float(np.mean([-math.log(max(p, 1e-6)) for p in xs])), 4) if xs else None


def _mean(xs: list[bool]) -> float | None:
    return round(float(np.mean(xs)), 4) if xs else None


def evidence_reach(rows: list[Row], preds: list[dict[str, Any]], known: dict[str, bool],
                   unreferenced: set[str]) -> dict[str, Any]:
    """Where the LOMO misses sit, to read the top-1 against what the evidence can reach.

    ``unreferenced``: the models no other model of their maker answered alongside
    (``Trainer.unreferenced``); ``top1_if_referenced_right``: the top-1 if every other model
    were named right and these stayed as they are. ``channel_first``: the share of models for
    which at least one channel (the provider included) scores the true creator strictly above
    every other label; ``per_channel``: per channel, the models it scores and its share right."""
    lomo = [r for r in rows if r.mode == "lomo" and r.subset == "all" and known.get(r.model)]
    right = {p["model"]: p["top"][0] == p["creator"] for p in preds
             if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])}
    if not lomo:
        return {}
    firsts: dict[str, list[bool]] = defaultdict(list)
    any_first = []
    for r in lomo:
        i = r.labels.index(r.creator)
        scores = dict(r.summ)
        if r.provider is not None:
            scores["provider"] = r.provider
        hit = False
        for ch, v in scores.items():
            v = np.asarray(v, dtype=float)
            ok = bool(v[i] > np.delete(v, i).max()) if len(v) > 1 else True
            firsts[ch].append(ok)
            hit = hit or ok
        any_first.append(hit)
    u = [r.model for r in lomo if r.model in unreferenced]
    n = len(lomo)
    return {
        "lomo_models": n,
        "unreferenced_models": len(u),
        "unreferenced_top1": _mean([right[m] for m in u]),
        "referenced_top1": _mean([right[r.model] for r in lomo if r.model not in unreferenced]),
        "top1_if_referenced_right": round((n - len(u) + sum(right[m] for m in u)) / n, 4),
        "channel_first": _mean(any_first),
        "per_channel": {ch: {"models": len(v), "first": _mean(v)} for ch, v in sorted(firsts.items())},
    }


def deal_spread(rows: list[Row], known: dict[str, bool], deals: int) -> dict[str, Any]:
    """How much the LOMO figures move when only the calibrator's alias-group folds are dealt
    differently (``deals`` random deals; the channels' scores stay as they are, and the
    rejector, which does not depend on the deal, is not refitted). On ~170 models a fold deal
    alone moves ECE by a few hundredths, so one deal's ECE is not a figure to tune against.
    Each entry is [min, mean, max] over the deals."""
    lomo = [r for r in rows if r.mode == "lomo" and r.subset == "all" and known.get(r.model)]
    lomo_set = {id(r) for r in lomo}
    got: dict[str, list[float]] = {"lomo_top1": [], "lomo_ece": [], "lomo_log_loss": []}
    for seed in range(1, deals + 1):
        post, _, _ = oof_posteriors(rows, seed)
        f = lomo_scores([prediction(r, post[i]) for i, r in enumerate(rows) if id(r) in lomo_set])
        for key, vals in got.items():
            if f.get(key) is not None:
                vals.append(float(f[key]))
    out: dict[str, Any] = {"deals": deals}
    for key, vals in got.items():
        out[key] = [round(min(vals), 4), round(float(np.mean(vals)), 4), round(max(vals), 4)] if vals else None
    return out


def single_answer_hits(tr: Trainer) -> dict[str, dict[str, bool]]:
    """Per model of a known creator, per corpus key it answered: does that one answer, scored
    with the model's alias group left out, rank its creator first (channels summed, no
    calibrator)?"""
    creators = tr.creators
    out: dict[str, dict[str, bool]] = {}
    for m, answers in tr.eval_by_model.items():
        if not tr.known(m):
            continue
        ex = frozenset(tr.groups[group_key(m)])
        out[m] = {}
        for a in answers:
            r = tr.summarise(m, {a.key}, creators, ex)
            out[m][a.key] = creators[int(np.argmax(sum(r.summ.values())))] == r.creator
    return out


def rank_probes(ps: ProbeSet, hits: dict[str, dict[str, bool]], n_creators: int) -> list[dict[str, Any]]:
    """Probes ordered by information per token: single-answer accuracy gain over chance
    (over the models in ``hits``) per max_tokens."""
    chance = 1.0 / n_creators
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for per_key in hits.values():
        for key, ok in per_key.items():
            st = stats[key]
            st[0] += 1
            st[1] += int(ok)
    out = []
    for p in ps.probes:
        if not p.behavioural:
            continue
        n, c = stats.get(p.corpus or "", [0, 0])
        acc = c / n if n else (0.6 if p.family == "identity" else 0.0)
        # shrink toward chance: a probe answered by 3 models should not outrank one answered by 80
        shrunk = (c + PRIOR_ANSWERS * chance) / (n + PRIOR_ANSWERS) if n else acc
        gain = max(0.0, shrunk - chance)
        out.append({"id": p.id, "accuracy": round(acc, 4), "answers": n, "max_tokens": p.max_tokens,
                    "info_per_token": round(gain / max(1, p.max_tokens) * 1000, 4)})
    out.sort(key=lambda d: -d["info_per_token"])
    return out


def probe_order(tr: Trainer) -> list[dict[str, Any]]:
    """The shipped order (``probe --budget``, ``--until-confident``): ranked on every model."""
    return rank_probes(tr.ps, single_answer_hits(tr), len(tr.creators))


def fold_orders(ps: ProbeSet, hits: dict[str, dict[str, bool]], model_creator: dict[str, str],
                n_creators: int) -> dict[str, list[str]]:
    """Per model of ``model_creator``, the probe order ranked on the single-answer ``hits`` of
    the other alias-group folds only (the calibrator's reported deal), so that ``eval
    --budget`` does not choose a model's probes with its own answers: an order ranked on
    every model and then evaluated on them is optimistic."""
    folds = stratified_group_folds({group_key(m): c for m, c in model_creator.items()}, CAL_FOLDS)
    orders = [[d["id"] for d in rank_probes(ps, {m: h for m, h in hits.items() if folds[group_key(m)] != k},
                                            n_creators)]
              for k in range(CAL_FOLDS)]
    return {m: orders[folds[group_key(m)]] for m in model_creator}


def nested_orders(tr: Trainer) -> dict[str, list[str]]:
    """``fold_orders`` for every model the trainer evaluates (what ``eval --budget`` uses)."""
    return fold_orders(tr.ps, single_answer_hits(tr), {m: tr.ds.model_creator[m] for m in tr.eval_by_model},
                       len(tr.creators))


def run_training(corpus: Path | str, extra: Iterable[Path | str] = (), probes: Path | str | None = None,
                 log: Callable[[str], None] | None = None, budget: int | None = None,
                 order: list[str] | None = None, use_provider: bool = True,
                 use_aligned: bool = True, deals: int = 0) -> tuple[Trainer, list[Row], list[dict[str, Any]], dict[str, Any]]:
    """Featurise, fit and cross-fit on the corpus: (trainer, out-of-fold rows, predictions, figures).

    ``budget``: each model uses at most that many probes, in ``order`` (probe ids) when
    given, else in an order ranked without the model's alias-group fold (``nested_orders``)."""
    t0 = time.time()
    ps = load_probeset(probes)
    records = load_records(corpus, extra)
    events = load_events(corpus)
    keys = probe_keys(ps)
    budgets = {k: p.max_tokens for k, p in keys.items()}
    _log(f"read {len(records)} records in {time.time() - t0:.1f}s", log)
    ds = featurise(records, events, budgets)
    _log(f"featurised in {time.time() - t0:.1f}s", log)
    tr = Trainer(ds, ps, log, use_aligned=use_aligned)
    providers: dict[str, list[str]] = defaultdict(list)
    for r in records:
        prov = (r.extra or {}).get("provider")
        if isinstance(prov, str) and prov.strip():
            providers[r.model].append(prov)
    # the corpus's only API-surface observation; --without-api measures the tool without it
    tr.model_providers = dict(providers) if use_provider else {}
    tr.fit_lexical()
    if callable(order):     # questionnaire_eval.questionnaire_orders: may narrow tr.eval_by_model
        order = order(tr)
    if budget is not None and order is None:
        _log("ranking the probes without each alias-group fold (--budget)", log)
        rows = tr.rows(budget, nested_orders(tr))
    else:
        rows = tr.rows(budget, order)
    # the headline: what an anonymous endpoint gives (no upstream provider named by a router)
    preds = cross_fit(anonymous(rows), tr.creators, tr.families, tr.family_creator)
    known = {m: tr.known(m) for m in tr.eval_by_model}
    greeting_only = {m for m, ans in tr.eval_by_model.items()
                     if all(a.key.endswith(":greeting:hi") for a in ans)}
    figs = figures(preds, known, greeting_only)
    figs.update(profile_figures(preds, known))
    figs["verdicts"] = verdict_figures(preds, known)
    rich = [p for p in preds if p["mode"] == "lomo" and p["subset"] == "all" and known.get(p["model"])
            and p["n"] >= RICH_ANSWERS]
    figs["rich"] = {"min_answers": RICH_ANSWERS, "lomo_models": len(rich),
                    "lomo_top1": _mean([p["top"][0] == p["creator"] for p in rich])}
    if any(r.provider is not None for r in rows):
        aided = figures(cross_fit(rows, tr.creators), known)
        figs["with_provider"] = {k: aided[k] for k in ("lomo_models", "lomo_top1", "lomo_ece", "lomo_log_loss",
                                                       "lomo_reported_accuracy", "loco_unknown_rate")}
    figs["reach"] = evidence_reach(rows, preds, known, tr.unreferenced())
    from ..classifier.claims import claim_figures          # claim-check thresholds and their figures (verify)
    figs["claims"] = claim_figures(preds, known)
    if deals:
        _log(f"re-dealing the calibrator's folds {deals} times", log)
        figs["deal_spread"] = deal_spread(anonymous(rows), known, deals)
    figs["train_seconds"] = round(time.time() - t0, 1)
    return tr, rows, preds, figs


def family_theta(ch: NBChannel, families: list[str]) -> np.ndarray:
    fam_of = [family_of(m) for m in ch.models]
    saved = ch.creators
    try:
        ch.creators = fam_of
        return ch.log_theta(families)
    finally:
        ch.creators = saved


def export(tr: Trainer, rows: list[Row], preds: list[dict[str, Any]], figs: dict[str, Any], out_dir: Path | str,
           log: Callable[[str], None] | None = None) -> Path:
    from ..classifier.artifact import write_artifact
    labels = tr.creators
    # channel weights, rejector and temperature as an anonymous endpoint meets them; the provider's
    # weight (used only when a router names one) from the calibrator fitted with it
    anon = anonymous(rows)
    w, v = fit_combiner(anon)
    if any(r.provider is not None for r in rows):
        w[N_DESIGN] = fit_calibrator([r for r in rows if r.mode == "lomo"])[N_DESIGN]
    raw = raw_posteriors(anon)[0]
    theta = fit_temperature(_temperature_data(anon, raw))
    top = fit_top(anon, {i: temper(p, row_profile(anon[i]), theta) for i, p in raw.items()})
    arrays: dict[str, np.ndarray] = {"calibrator": w.astype(np.float64), "rejector": v.astype(np.float64),
                                     "temperature": theta.astype(np.float64), "top_calibrator": top.astype(np.float64),
                                     "claim_loglik": tr.claim_loglik(labels).astype(np.float32)}
    provider_vocab, provider_logp = tr.provider_table(tuple(labels), frozenset())
    arrays["provider_logp"] = provider_logp.astype(np.float32)
    families = tr.families
    fam_creator = tr.family_creator
    fw, fv = fit_family_calibrator(rows, families, fam_creator)
    arrays["family_calibrator"] = fw.astype(np.float64)
    arrays["family_platt"] = fv.astype(np.float64)
    arrays["family_size"] = tr.family_size(frozenset()).astype(np.float32)
    channel_models: dict[str, list[list[str]]] = {}
    for name, ch in tr.channels.items():
        arrays[f"{name}.vocab"] = ch.vocab.astype(np.int32)
        arrays[f"{name}.weight"] = ch.present(labels).astype(np.float32)
        fams_here = {family_of(m) for m in ch.models}
        arrays[f"{name}.family_weight"] = np.array([1.0 if f in fams_here else 0.0 for f in families], dtype=np.float32)
        if is_nearest_model(name):
            lt, creators, lbg = ch.model_log_theta()
            arrays[f"{name}.model_logtheta"] = lt.astype(np.float16)
            arrays[f"{name}.logbg"] = lbg.astype(np.float32)
            channel_models[name] = [[c, family_of(m)] for c, m in zip(creators, ch.models)]
        else:
            lt = ch.log_theta(labels, with_background=True)
            arrays[f"{name}.logtheta"] = lt[:-1].astype(np.float16)
            arrays[f"{name}.logbg"] = lt[-1].astype(np.float32)
            arrays[f"{name}.family_logtheta"] = family_theta(ch, families).astype(np.float16)
    lexical_classes: dict[str, list[str]] = {}
    for name, lm in tr.fit_lexical_full().items():
        arrays[f"{name}.lex_vocab"] = lm.vocab.astype(np.int32)
        arrays[f"{name}.lex_idf"] = lm.idf.astype(np.float32)
        arrays[f"{name}.lex_coef"] = lm.coef.astype(np.float16)
        arrays[f"{name}.lex_intercept"] = lm.intercept.astype(np.float32)
        lexical_classes[name] = lm.classes
    aligned_meta, aligned_arrays = aligned_mod.to_arrays(tr.aligned)
    arrays.update(aligned_arrays)
    cutoff_kw = {}
    for p in tr.ps.probes:
        if p.family == "cutoff" and p.corpus:
            ev = p.corpus.split(":", 2)[-1]
            cutoff_kw[p.id] = {"keywords": tr.ds.keywords.get(ev, []), "month": tr.ds.event_month.get(ev, "")}
    n_models = {c: len(ms) for c, ms in tr.by_creator.items()}
    meta = {
        "labels": labels,
        "claim_labels": list(CLAIM_LABELS),
        "provider_vocab": provider_vocab,
        "channels": sorted(tr.channels),
        "nn_channels": {name: rows_ for name, rows_ in channel_models.items()},
        "lexical_channels": lexical_classes,
        "aligned": aligned_meta,
        "score_channels": list(SCORE_CHANNELS),
        "reject_features": list(REJECT_FEATURES),
        "profile_features": list(PROFILE_FEATURES),
        "families": families,
        "family_creator": fam_creator,
        "family_channels": list(family_model.FAMILY_CHANNELS),
        "aligned_model_family": {m: family_of(m) for m in tr.aligned.models},
        "creator_models": n_models,
        "cutoff_probes": cutoff_kw,
        "thresholds": {"unknown": REJECT_THRESHOLD, "match": MATCH_THRESHOLD, "unknown_prior": UNKNOWN_PRIOR},
        "claims": {"thresholds": (figs.get("claims") or {}).get("thresholds")},   # read by verify (claims.py)
        "probe_order": probe_order(tr),
        "figures": figs,
        "features": {"hash": "crc32 of utf-8 token, low 18 bits", "tokens": "word uni+bigrams, formatting markers, "
                     "claim/refusal/cutoff pseudo-tokens", "vocab": vocab_table()},
    }
    meta["probes"] = {p.id: {"family": p.family, "max_tokens": p.max_tokens,
                             "source": (p.corpus or "").split(":", 1)[0]} for p in tr.ps.probes}
    path = write_artifact(out_dir, arrays, meta, tr.ps)
    _log(f"wrote {path}", log)
    return path
