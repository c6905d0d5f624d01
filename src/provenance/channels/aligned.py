"""The aligned channel: how closely an answer matches known models' answers to the same prompt.

Models that share instruction data (sizes and versions of one family, a lab's
successive releases) tend to answer the same prompt alike: the same opening, the
same structure, the same stock phrases. The naive-Bayes and lexical channels pool
all of a source's answers and so cannot see this; here every probe prompt is
compared only with other models' answers to that prompt.

Each reference answer (one per training model and probe prompt) is kept as a
sublinear tf-idf vector over the hashed features of ``featurize.answer_indices``,
restricted to features seen in at least two reference answers, normalised with
its full norm and stored as float16. A transcript's answer is compared (cosine)
with every reference answer to its prompt; the similarities are standardised over
the reference models for that prompt (some prompts make every answer alike);
each reference model's score is its mean standardised similarity over the
prompts both answered; a creator's score is the mean of its best ``TOP`` models,
centred over the labels and clipped. The scoring parameters travel with the index
(and the artifact), so an artifact is always scored the way it was trained.

Style answers and the other behavioural answers (identity, refusal, cutoff) form two
score channels (``aligned_style``, ``aligned_other`` in ``registry.py``), so the calibrator weighs them
separately.

Numpy only; training and inference score with the same stored vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from .featurize import vocab_lookup
from .base import Evidence
from .registry import BY_NAME


MIN_DF = 2         # a feature must occur in this many reference answers to be kept
MIN_SHARED = 3     # prompts a reference model must share with the transcript (fewer if it answered fewer)
TOP = 2            # a creator's score: mean of its best TOP reference models
CLIP = 2.0         # centred creator scores are clipped to +-CLIP: one near-identical short answer
                   # (a greeting) must not outweigh every other channel


@dataclass
class AlignedIndex:
    keys: list[str]            # prompt keys (probe ids at inference)
    models: list[str]          # reference models
    creators: list[str]        # creator of each reference model
    vocab: np.ndarray          # sorted hashed feature ids
    idf: np.ndarray            # (V,) float32
    idf_unseen: float          # idf of a feature outside the vocabulary
    row_key: np.ndarray        # (R,) key index of each reference answer
    row_model: np.ndarray      # (R,) model index of each reference answer
    indptr: np.ndarray         # (R+1,) CSR over vocabulary columns
    cols: np.ndarray           # (nnz,) int32
    vals: np.ndarray           # (nnz,) float16
    min_shared: int = MIN_SHARED   # scoring parameters: an artifact is scored with its own
    top: int = TOP
    clip: float = CLIP

    def params(self) -> dict[str, float]:
        """The scoring parameters ``creator_scores`` takes for this index."""
        return {"min_shared": self.min_shared, "top": self.top, "clip": self.clip}

    def __post_init__(self) -> None:
        self._key_index = {k: i for i, k in enumerate(self.keys)}
        self._rows = {}
        for k in range(len(self.keys)):
            self._rows[k] = np.flatnonzero(self.row_key == k)
        self._dense: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _matrix(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(vocabulary columns used by key k's references, dense references x those columns)."""
        if k not in self._dense:
            rows = self._rows[k]
            cols = [self.cols[self.indptr[r]:self.indptr[r + 1]] for r in rows]
            vals = [self.vals[self.indptr[r]:self.indptr[r + 1]].astype(np.float64) for r in rows]
            used = np.unique(np.concatenate(cols)) if cols else np.zeros(0, dtype=np.int64)
            M = np.zeros((len(rows), len(used)))
            for i, (c, v) in enumerate(zip(cols, vals)):
                M[i, np.searchsorted(used, c)] = v
            self._dense[k] = (used, M)
        return self._dense[k]

    def query_vector(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(vocabulary columns, values) of one answer, normalised with its full norm."""
        idx = np.asarray(idx, dtype=np.int64)
        if not len(idx) or not len(self.vocab):
            return None
        u, n = np.unique(idx, return_counts=True)
        pos, hit = vocab_lookup(self.vocab, u)
        w = np.where(hit, self.idf[pos], self.idf_unseen) * (1.0 + np.log(n))
        norm = float(np.sqrt(w @ w))
        if norm <= 0 or not hit.any():
            return None
        return pos[hit], w[hit] / norm

    def similarities(self, key: str, idx: np.ndarray, *, dense: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
        """(model indices, cosine similarities) of one answer against the references for its key.

        ``dense`` (training: many answers per key) builds and keeps a dense matrix per key;
        ``dense=False`` (one answer per key, as a probe run has) reads the stored sparse rows
        directly, which is what a one-off run's fixed cost wants (the same values, summed in
        another order: equal to within float rounding)."""
        k = self._key_index.get(key)
        q = self.query_vector(idx) if k is not None else None
        if q is None:
            return None
        qc, qv = q
        if not dense and k not in self._dense:
            return self.row_model[self._rows[k]], self._sparse_dot(self._rows[k], qc, qv)
        used, M = self._matrix(k)
        pos, hit = vocab_lookup(used, qc)
        s = M[:, pos[hit]] @ qv[hit] if hit.any() else np.zeros(len(M))
        return self.row_model[self._rows[k]], s

    def _sparse_dot(self, rows: np.ndarray, qc: np.ndarray, qv: np.ndarray) -> np.ndarray:
        """Each reference row's dot product with the query (sorted columns ``qc``, values ``qv``)."""
        starts = self.indptr[rows].astype(np.int64)
        lens = self.indptr[rows + 1].astype(np.int64) - starts
        total = int(lens.sum())
        if not total or not len(qc):
            return np.zeros(len(rows))
        row_of = np.repeat(np.arange(len(rows)), lens)
        first = np.cumsum(lens) - lens
        ent = np.arange(total, dtype=np.int64) + np.repeat(starts - first, lens)
        # the query as a dense vector over the vocabulary: each stored entry's weight is one lookup
        if getattr(self, "_qbuf", None) is None or len(self._qbuf) != len(self.vocab):
            self._qbuf = np.zeros(len(self.vocab))
        q = self._qbuf
        q[qc] = qv
        try:
            w = self.vals[ent].astype(np.float64) * q[self.cols[ent]]
        finally:
            q[qc] = 0.0
        return np.bincount(row_of, weights=w, minlength=len(rows))


def model_scores(sims: Sequence[tuple[np.ndarray, np.ndarray]], n_models: int,
                 exclude: np.ndarray | None = None, *, min_shared: int = MIN_SHARED
                 ) -> tuple[np.ndarray, int] | None:
    """Per reference model, its mean standardised similarity over the prompts it shares with
    the transcript (``-inf``: fewer than ``min_shared`` shared prompts, or left out), and the
    number of prompts used; None when nothing compares.

    ``sims``: per prompt, (reference model indices, cosines); ``exclude``: boolean mask over
    reference models left out (evaluation)."""
    zsum = np.zeros(n_models)
    cnt = np.zeros(n_models, dtype=np.int64)
    used = 0
    for models, s in sims:
        keep = np.ones(len(models), dtype=bool) if exclude is None else ~exclude[models]
        if keep.sum() < 2:
            continue
        m, v = models[keep], s[keep]
        sd = float(v.std())
        z = (v - v.mean()) / (sd if sd > 1e-9 else 1.0)
        np.add.at(zsum, m, z)
        np.add.at(cnt, m, 1)
        used += 1
    if not used:
        return None
    ok = cnt >= min(min_shared, used)
    if not ok.any():
        return None
    return np.where(ok, zsum / np.maximum(cnt, 1), -np.inf), used


def creator_scores(sims: Sequence[tuple[np.ndarray, np.ndarray]], creators: Sequence[str], n_models: int,
                   labels: Sequence[str], exclude: np.ndarray | None = None, *,
                   min_shared: int = MIN_SHARED, top: int = TOP, clip: float = CLIP
                   ) -> tuple[np.ndarray, int, int] | None:
    """Centred per-label scores from one transcript's per-prompt similarities (see
    ``model_scores``). Returns (scores over ``labels``, prompts used, index of the best
    reference model), or None when nothing compares. Labels without a reference model get
    the present labels' mean (no information)."""
    got = model_scores(sims, n_models, exclude, min_shared=min_shared)
    return None if got is None else label_scores(got, creators, labels, top=top, clip=clip)


def label_scores(got: tuple[np.ndarray, int], creators: Sequence[str], labels: Sequence[str], *,
                 top: int = TOP, clip: float = CLIP) -> tuple[np.ndarray, int, int] | None:
    """``creator_scores`` from ``model_scores``'s result, for a caller that needs both."""
    score, used = got
    by_label: dict[str, list[float]] = {}
    for i in np.flatnonzero(np.isfinite(score)):
        by_label.setdefault(creators[i], []).append(float(score[i]))
    out = np.zeros(len(labels))
    have = np.zeros(len(labels), dtype=bool)
    for j, lab in enumerate(labels):
        v = by_label.get(lab)
        if v:
            out[j] = float(np.mean(sorted(v)[-top:]))
            have[j] = True
    if not have.any():
        return None
    out[~have] = out[have].mean()
    return np.clip(out - out.mean(), -clip, clip), used, int(np.argmax(score))


def build(entries: Iterable[tuple[str, str, np.ndarray]], model_creator: Mapping[str, str],
          keys: Sequence[str]) -> AlignedIndex:
    """Index of reference answers ``(model, key, hashed indices)``; ``keys`` fixes the key order."""
    kidx = {k: i for i, k in enumerate(keys)}
    rows = [(m, k, np.unique(np.asarray(idx, dtype=np.int64), return_counts=True))
            for m, k, idx in entries if k in kidx and len(idx)]
    models = sorted({m for m, _, _ in rows})
    midx = {m: i for i, m in enumerate(models)}
    N = len(rows)
    if rows:
        allu, df = np.unique(np.concatenate([u for _, _, (u, _) in rows]), return_counts=True)
    else:
        allu, df = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    idf_all = np.log((N + 1) / (df + 1)) + 1.0
    keep = df >= MIN_DF
    vocab, idf = allu[keep], idf_all[keep].astype(np.float32)
    idf_unseen = float(np.log(N + 1) + 1.0)
    indptr, cols, vals, rk, rm = [0], [], [], [], []
    for m, k, (u, n) in sorted(rows, key=lambda r: (kidx[r[1]], midx[r[0]])):
        w = idf_all[np.searchsorted(allu, u)] * (1.0 + np.log(n))
        w = w / float(np.sqrt(w @ w))
        pos, hit = vocab_lookup(vocab, u)
        cols.append(pos[hit].astype(np.int32))
        vals.append(w[hit].astype(np.float16))
        indptr.append(indptr[-1] + int(hit.sum()))
        rk.append(kidx[k])
        rm.append(midx[m])
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt))
    return AlignedIndex(list(keys), models, [model_creator[m] for m in models], vocab.astype(np.int64),
                        idf, idf_unseen, np.asarray(rk, dtype=np.int32), np.asarray(rm, dtype=np.int32),
                        np.asarray(indptr, dtype=np.int64), cat(cols, np.int32), cat(vals, np.float16))


ARRAYS = ("vocab", "idf", "row_key", "row_model", "indptr", "cols", "vals")


def to_arrays(ix: AlignedIndex) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    """(manifest part, arrays) for the artifact."""
    meta = {"keys": ix.keys, "models": ix.models, "creators": ix.creators, "idf_unseen": ix.idf_unseen,
            **ix.params()}
    return meta, {f"aligned.{n}": getattr(ix, n) for n in ARRAYS}


def from_arrays(meta: Mapping[str, object], arrays: Mapping[str, np.ndarray]) -> AlignedIndex:
    return AlignedIndex(list(meta["keys"]), list(meta["models"]), list(meta["creators"]),
                        arrays["aligned.vocab"].astype(np.int64), arrays["aligned.idf"].astype(np.float32),
                        float(meta["idf_unseen"]), arrays["aligned.row_key"].astype(np.int64),
                        arrays["aligned.row_model"].astype(np.int64), arrays["aligned.indptr"].astype(np.int64),
                        arrays["aligned.cols"].astype(np.int64), arrays["aligned.vals"],
                        int(meta.get("min_shared", MIN_SHARED)), int(meta.get("top", TOP)),
                        float(meta.get("clip", CLIP)))


def evidence_line(channel: str, *, count: int, favours: str, margin: float, probes: list[str],
                  nearest: str | None = None, **_: object) -> Evidence:
    """An aligned channel's evidence line: the reference model the answers stand closest to."""
    what = "/".join(BY_NAME[channel].families)
    return Evidence(text=f"aligned ({what}): over {count} prompts, answers most like {nearest}'s "
                         f"(favours {favours}, +{margin:.2f} log-odds over the next)",
                    probes=probes[:8], channel=channel, strength=round(margin, 3), favours=favours)

