"""Train and cross-validate on a small subset of the reference corpus (skips without it).

The subset (identity and cutoff answers only) keeps this fast; the full figures
come from `provenance eval --corpus ../shared/reference`. Corpus records are
only copied into a temporary directory, never committed.
"""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from provenance.training.train import run_training

pytestmark = pytest.mark.corpus

KEEP_SOURCES = {"model_name_identity", "knowledge_cutoff"}


def test_subset_cross_validation(reference_dir, tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    with gzip.open(reference_dir / "responses.jsonl.gz", "rt", encoding="utf-8") as src, \
            gzip.open(d / "responses.jsonl.gz", "wt", encoding="utf-8") as dst:
        for line in src:
            if json.loads(line)["source"] in KEEP_SOURCES:
                dst.write(line)
    shutil.copy(reference_dir / "cutoff_events.jsonl", d / "cutoff_events.jsonl")
    tr, rows, preds, figs = run_training(d)
    assert figs["lomo_models"] > 50
    assert figs["lomo_top1"] > 0.3            # far above chance (1/20) even from identity answers alone
    assert figs["lomo_top3"] >= figs["lomo_top1"]
    assert 0.0 <= figs["lomo_ece"] <= 1.0
    assert figs["loco_unknown_rate"] is not None
    # leave-one-model-out never trains on the scored model: its group is excluded
    assert {p["mode"] for p in preds} == {"lomo", "loco"}
