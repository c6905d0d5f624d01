"""`eval --plots`: the reliability diagram and the confusion matrix, drawn by matplotlib (the train
extra), the same figures giving the same files."""

from __future__ import annotations

import sys

import pytest

from provenance.training.plots import confusion_svg, reliability_svg


def test_plots_are_standalone_reproducible_svg() -> None:
    pytest.importorskip("matplotlib")
    curves = {"all": [(i / 50, i % 3 != 0) for i in range(50)], "identity <only>": [(0.9, True), (0.8, False)]}
    a, b = reliability_svg(curves), reliability_svg(curves)
    assert a == b and a.startswith("<svg") and a.rstrip().endswith("</svg>")
    assert "identity &lt;only&gt; (2)" in a                    # names escaped, with their counts
    c = confusion_svg({"OpenAI": {"OpenAI": 7, "unknown": 1}, "Meta": {"Meta": 3, "OpenAI": 1}})
    assert c.startswith("<svg") and ">7<" in c and "unknown" in c


def test_plots_without_matplotlib_is_one_line_before_the_evaluation(tmp_path, monkeypatch, capsys) -> None:
    from provenance.cli import main
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # import matplotlib -> ImportError
    with pytest.raises(SystemExit) as e:
        main(["eval", "--corpus", str(tmp_path / "no-corpus"), "--plots", str(tmp_path / "img")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "eval --plots` needs the train extra (matplotlib missing)" in err and len(err.strip().splitlines()) == 1
