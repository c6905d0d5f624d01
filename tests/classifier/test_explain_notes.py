"""The evidence-profile note (``explain.profile_note``): what it says matches the run (issue 36 item 4)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from provenance.classifier.explain import profile_note

HALF = {"models": 159, "top1": 0.6164, "mean_confidence": 0.6095}


def _clf(n_probes: int = 192):
    return SimpleNamespace(manifest={"figures": {"profiles": {"half": HALF}}},
                           probes={f"style.p{i}": {"family": "style"} for i in range(n_probes)})


def test_a_run_of_17_of_192_is_not_called_about_half():
    note = profile_note(_clf(), Counter({"alpaca_eval": 10, "arena_hard": 7}))
    assert "about half" not in note
    assert note.startswith("evidence: only 17 of 192 behavioural probes answered")
    assert "on 159 unseen models with half of them, the best guess was right 62%" in note
    assert note.endswith("with fewer answers, expect less")


def test_about_half_says_so_with_the_count():
    note = profile_note(_clf(), Counter({"alpaca_eval": 40, "arena_hard": 40}))
    assert note.startswith("evidence: about half of the probe set (80 of 192 behavioural probes answered)")
    assert "on 159 unseen models with evidence like this" in note


def test_half_or_more_gets_no_note():
    assert profile_note(_clf(), Counter({"alpaca_eval": 50, "arena_hard": 50})) is None
