"""Creator-balanced multinomial naive Bayes over hashed features, with cheap leave-out.

Each model contributes one distribution per channel (the mean of its answers'
normalised feature counts), each creator is the mean of its models'
distributions, and each creator weighs the same. Leaving a model or a creator
out of training is a recomputation of means, not a retrain. Training-only
(numpy + scipy); inference uses the exported log-probabilities in ``model.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..channels.featurize import sparse_rows, vocab_lut  # noqa: F401 - the shared feature code's
from ..channels.text import HASH_DIM

SMOOTH = 0.35       # Jelinek-Mercer weight of the background distribution
FLOOR = 1e-7
MODEL_SMOOTH = 0.5  # background weight for single-model distributions (noisier than creator means)


def answer_vector(indices: Sequence[int]) -> np.ndarray:
    """Dense normalised count vector over the full hash space (training only)."""
    v = np.bincount(np.asarray(indices, dtype=np.int64), minlength=HASH_DIM).astype(np.float32)
    s = v.sum()
    return v / s if s > 0 else v


def select_vocab(model_vecs: dict[str, np.ndarray], k: int, min_models: int = 2) -> np.ndarray:
    """Hash ids kept for a channel: the ``k`` present in most models (unsupervised, no labels)."""
    df = np.zeros(HASH_DIM, dtype=np.int32)
    mass = np.zeros(HASH_DIM, dtype=np.float64)
    for v in model_vecs.values():
        df += v > 0
        mass += v
    score = df.astype(np.float64) + mass / (mass.max() + 1e-12)
    score[df < min_models] = -1
    order = np.argsort(-score, kind="stable")[:k]
    order = order[score[order] > 0]
    return np.sort(order).astype(np.int64)


@dataclass
class NBChannel:
    name: str
    models: list[str]             # model ids, rows of ``P``
    creators: list[str]           # creator of each row
    vocab: np.ndarray             # hash ids (sorted) -> columns
    P: np.ndarray                 # (n_models, K) per-model distributions over the vocab
    n_answers: list[int] | None = None   # answers behind each row

    @classmethod
    def build(cls, name: str, model_vecs: dict[str, np.ndarray], model_creator: dict[str, str],
              k: int, counts: dict[str, int] | None = None) -> "NBChannel":
        vocab = select_vocab(model_vecs, k)
        models = sorted(model_vecs)
        P = np.stack([model_vecs[m][vocab] for m in models]).astype(np.float64)
        s = P.sum(axis=1, keepdims=True)
        P = np.where(s > 0, P / np.maximum(s, 1e-12), 0.0)
        n = [int((counts or {}).get(m, 1)) for m in models]
        return cls(name, models, [model_creator[m] for m in models], vocab, P, n)

    def log_theta(self, labels: Sequence[str], exclude: Iterable[str] = (),
                  with_background: bool = False) -> np.ndarray:
        """(len(labels), K) smoothed log-probabilities, models in ``exclude`` left out.

        A label with no remaining model in this channel gets the background
        distribution: the channel then says nothing about it. ``with_background``
        appends the log background distribution as a last row.
        """
        ex = set(exclude)
        keep = np.array([m not in ex for m in self.models], dtype=bool)
        rows = []
        present = []
        for lab in labels:
            sel = keep & np.array([c == lab for c in self.creators], dtype=bool)
            if sel.any():
                rows.append(self.P[sel].mean(axis=0))
                present.append(True)
            else:
                rows.append(None)
                present.append(False)
        have = [r for r in rows if r is not None]
        bg = np.mean(have, axis=0) if have else np.full(self.P.shape[1], 1.0 / max(1, self.P.shape[1]))
        bg = np.maximum(bg, FLOOR)
        bg = bg / bg.sum()
        out = np.empty((len(labels), self.P.shape[1]), dtype=np.float64)
        for i, r in enumerate(rows):
            th = bg if r is None else (1 - SMOOTH) * r + SMOOTH * bg
            out[i] = np.log(np.maximum(th, FLOOR))
        if with_background:
            out = np.vstack([out, np.log(bg)[None, :]])
        return out

    def model_log_theta(self, exclude: Iterable[str] = ()) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Per-model smoothed log-probabilities of the models not in ``exclude``.

        Returns (rows (M', K), their creators, log background (K,)). Used for
        nearest-model scoring: a creator's score is its best-fitting model's.
        """
        ex = set(exclude)
        keep = [i for i, m in enumerate(self.models) if m not in ex]
        creators = [self.creators[i] for i in keep]
        by_c: dict[str, list[int]] = {}
        for i in keep:
            by_c.setdefault(self.creators[i], []).append(i)
        if by_c:
            bg = np.mean([self.P[ix].mean(axis=0) for ix in by_c.values()], axis=0)
        else:
            bg = np.full(self.P.shape[1], 1.0 / max(1, self.P.shape[1]))
        bg = np.maximum(bg, FLOOR)
        bg = bg / bg.sum()
        th = (1 - MODEL_SMOOTH) * self.P[keep] + MODEL_SMOOTH * bg
        return np.log(np.maximum(th, FLOOR)), creators, np.log(bg)

    def present(self, labels: Sequence[str], exclude: Iterable[str] = ()) -> np.ndarray:
        """Per label, 1.0 when it still has a model in this channel once ``exclude`` is left
        out, else 0.0 (the channel then says nothing about it). Shrinking by the number of
        answers behind a label (n/(n+5)) was measured and did not help."""
        ex = set(exclude)
        n_of: dict[str, int] = {}
        for m, c, n in zip(self.models, self.creators, self.n_answers or [1] * len(self.models)):
            if m not in ex:
                n_of[c] = n_of.get(c, 0) + n
        return np.array([1.0 if n_of.get(lab, 0) > 0 else 0.0 for lab in labels])

    def columns(self) -> np.ndarray:
        """Lookup table hash id -> column (or -1), for mapping answer indices."""
        return vocab_lut(self.vocab)
