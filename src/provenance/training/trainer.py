"""The Trainer: every channel's tables over the featurised corpus, and each model's out-of-fold rows.

Every model is featurised once; text channels are creator-balanced naive Bayes
(``nb.py``), so leaving a model group (the model with its aliases and dated
snapshots, ``corpus.group_key``) or a whole creator out is a recomputation of
means, not a retrain. ``Trainer.rows`` scores each model from its answers to the
probe set's prompts only (all of them: row "all"; per corpus source: "src:...";
a fixed random half: "half"), with its alias group left out (LOMO) and with its
creator left out (LOCO; the creator is then not a label).
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable, Iterable

import numpy as np

from ..channels import aligned as aligned_mod
from ..channels import lexical
from ..channels import provider as provider_mod
from ..channels.identity import CLAIM_LABELS
from ..channels.registry import ALIGNED_CHANNELS, BY_NAME, CLAIM_FAMILIES, aligned_channel_of, is_nearest_model, vocab_of
from ..classifier import family_model
from ..classifier.combine import neutral_summary
from ..probes import ProbeSet
from .corpus import group_key
from .dataset import Dataset
from .families import family_of
from .folds import N_FOLDS, creator_folds, stratified_group_folds
from .nb import NBChannel, select_vocab, sparse_rows

CLAIM_ALPHA = 0.3        # smoothing mass per claim label
CLAIM_SELF = 2.0         # prior mass for "a model claims its own creator"
MIN_NN_ANSWERS = 20      # answers a model needs in a nearest-model channel to be one of its references


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


def log_to(msg: str, log: Callable[[str], None] | None) -> None:
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
        # out-of-fold predictions with the upstream provider (run_training), for the provider-aided row
        self.aided_preds: list[dict[str, Any]] | None = None
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
        return sorted(ch for ch in self.channels if ch.split("-")[0] in BY_NAME["lexical"].families)

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
            log_to(f"lexical {ch}: {len(tr_models)} training answers, {time.time() - t0:.1f}s", self.log)

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
            if a.family in CLAIM_FAMILIES and a.claim is not None and (a.key.split(":")[1] != "greeting" or a.claim != "none"):
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
        claims = [a.claim for a in answers if a.family in CLAIM_FAMILIES and a.claim is not None
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
            al = self._aligned_summary(model, [a for a in answers if aligned_channel_of(a.family) == ch],
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
                got = self._aligned_model_scores(model, [a for a in answers if aligned_channel_of(a.family) == ach],
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
        log_to(f"scored {len(out)} out-of-fold rows in {time.time() - t0:.1f}s", self.log)
        return out

    def known(self, model: str) -> bool:
        """The model's creator still has another model (outside its alias group) in training."""
        c = self.ds.model_creator[model]
        return bool(self.by_creator[c] - self.groups[group_key(model)])

    def greeting_only(self) -> set[str]:
        """The models whose only answer is to the greeting "hi"."""
        return {m for m, ans in self.eval_by_model.items() if all(a.key.endswith(":greeting:hi") for a in ans)}

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
