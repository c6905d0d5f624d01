"""The lexical channel: a discriminative creator classifier over an answer's hashed n-grams.

One multinomial logistic regression per style source (prompt sets differ in
content), over the same hashed word uni/bigrams and formatting markers as the
naive-Bayes channels (``featurize.answer_indices``), restricted to the channel's
vocabulary, with sublinear tf-idf and L2 normalisation. Training rows are each
training model's answers to the probe prompts plus other answers of the same
source, up to ``PER_MODEL``; sample weights make every creator weigh the same and
every model the same within its creator (OpenAI dominates the corpus, and many
models were trained on GPT-4's outputs).

Measured against the nearest-model naive Bayes on unseen models
(``scripts/experiments/style_lr.py``): see docs/classifier.md. Fitting needs
scikit-learn (training only); scoring an answer (``LexicalModel.logp``) is numpy.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .featurize import vocab_columns

C = 3.0            # inverse L2 strength
PER_MODEL = 150    # training answers per model (its probe answers first, then a fixed random sample)
MAX_ITER = 300
VOCAB = 30_000     # hashed features kept per channel (those present in most models; no labels)


@dataclass
class LexicalModel:
    classes: list[str]
    vocab: np.ndarray       # sorted hash ids (columns)
    idf: np.ndarray         # (V,)
    coef: np.ndarray        # (K, V)
    intercept: np.ndarray   # (K,)

    def logp(self, idx: np.ndarray) -> np.ndarray | None:
        """log P(creator | answer) over ``classes`` for one answer's hashed indices (numpy only)."""
        uc = vocab_columns(self.vocab, np.asarray(idx, dtype=np.int64))
        if uc is None:
            return None
        u, n = uc
        x = (1.0 + np.log(n)) * self.idf[u]
        x = x / max(float(np.sqrt(x @ x)), 1e-12)
        z = self.coef[:, u].astype(np.float64) @ x + self.intercept
        z = z - z.max()
        return z - np.log(np.exp(z).sum())


def count_matrix(index_lists: Sequence[np.ndarray], vocab: np.ndarray):
    """CSR (answers x V) of raw in-vocabulary counts (training)."""
    from .featurize import sparse_rows, vocab_lut
    return sparse_rows(index_lists, vocab_lut(vocab), normalise=False)


def tfidf(X, idf: np.ndarray):
    """Sublinear tf times idf, each row L2-normalised (the transform ``LexicalModel.logp`` applies)."""
    from scipy import sparse
    X = X.tocsr(copy=True)
    X.data = 1.0 + np.log(X.data)
    X = X @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ X


def balanced_weights(models: Sequence[str], creators: Sequence[str]) -> np.ndarray:
    """Each creator the same total weight, each model the same within its creator."""
    n_rows = Counter(models)
    models_of: dict[str, set[str]] = defaultdict(set)
    for m, c in zip(models, creators):
        models_of[c].add(m)
    k = len(models_of)
    w = np.array([1.0 / (k * len(models_of[c]) * n_rows[m]) for m, c in zip(models, creators)])
    return w * (len(w) / w.sum())


def fit(X, models: Sequence[str], creators: Sequence[str], vocab: np.ndarray, c: float = C) -> LexicalModel | None:
    """Fit on raw count rows ``X`` (answers x V) labelled by creator; None with fewer than 2 creators."""
    from sklearn.linear_model import LogisticRegression
    if len(set(creators)) < 2:
        return None
    df = np.asarray((X > 0).sum(axis=0)).ravel()
    idf = np.log((1.0 + X.shape[0]) / (1.0 + df)) + 1.0
    Xt = tfidf(X, idf)
    clf = LogisticRegression(C=c, max_iter=MAX_ITER, tol=1e-3)
    clf.fit(Xt, list(creators), sample_weight=balanced_weights(models, creators))
    coef = clf.coef_
    intercept = clf.intercept_
    classes = [str(x) for x in clf.classes_]
    if len(classes) == 2:   # binary LR stores one row; expand to a softmax over both classes
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return LexicalModel(classes, np.asarray(vocab, dtype=np.int64), idf.astype(np.float64),
                        coef.astype(np.float64), intercept.astype(np.float64))


def logp_rows(model: LexicalModel, X) -> np.ndarray:
    """log P(class | answer) for raw count rows (training-time batch scoring, same maths as ``logp``)."""
    Xt = tfidf(X, model.idf)
    Z = np.asarray(Xt @ model.coef.T) + model.intercept
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def label_summary(logp_mean: np.ndarray, classes: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Mean log-probabilities over ``classes`` -> centred scores over ``labels``; a label the
    model has no class for gets the mean of the others (the channel says nothing about it)."""
    idx = {c: i for i, c in enumerate(classes)}
    have = [idx.get(lab) for lab in labels]
    vals = [logp_mean[i] for i in have if i is not None]
    if not vals:
        return np.zeros(len(labels))
    m = float(np.mean(vals))
    out = np.array([logp_mean[i] if i is not None else m for i in have], dtype=np.float64)
    return out - out.mean()


def pooled_summary(groups: Sequence[tuple[Sequence[str], Sequence[np.ndarray]]],
                   labels: Sequence[str]) -> tuple[np.ndarray, int]:
    """One channel summary from several lexical models: per model (its classes, its answers'
    log-probability rows), the centred mean over ``labels``, weighted by its answers.
    The same code for training rows and live transcripts."""
    n = sum(len(rows) for _, rows in groups)
    return sum(label_summary(np.mean(rows, axis=0), classes, labels) * len(rows) for classes, rows in groups) / n, n
