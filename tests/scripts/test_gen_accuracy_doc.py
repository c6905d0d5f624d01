"""scripts/gen_accuracy_doc.py: docs/accuracy.md from `provenance eval --json`, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from factory import REPO

SCRIPT = REPO / "scripts" / "gen_accuracy_doc.py"

FULL = {
    "lomo_models": 174, "lomo_top1": 0.8123, "lomo_top3": 0.9, "lomo_ece": 0.041, "lomo_log_loss": 0.71,
    "lomo_reported_accuracy": 0.702, "lomo_unknown_rate": 0.2, "lomo_ece_reported": 0.039,
    "loco_models": 181, "loco_unknown_rate": 0.8215,
    "interval95": {"lomo_top1": [0.75, 0.86], "lomo_ece_if_calibrated": [0.05, 0.08]},
    "unknown_threshold_sweep": [{"threshold": 0.5, "lomo_reported_accuracy": 0.702, "lomo_unknown_rate": 0.2,
                                 "loco_unknown_rate": 0.8215}],
    "family": {"lomo_models": 174, "top1": 0.51, "ece": 0.06, "ece_if_calibrated": [0.07, 0.1]},
    "beyond_greeting": {"lomo_models": 117, "lomo_top1": 0.74, "greeting_only_lomo_models": 57},
    "per_source": {"benchpress": {"models": 32, "top1": 0.875, "top3": 0.97, "loco_unknown_rate": 0.8}},
    "per_creator": {"OpenAI": {"lomo_models": 30, "recall": 0.9, "loco_models": 30, "loco_unknown": 0.7},
                    "Pipe|Labs": {"lomo_models": 0, "recall": None, "loco_models": 1, "loco_unknown": 1.0}},
    "confusion": {"OpenAI": {"OpenAI": 27, "unknown": 3}},
    "reach": {"lomo_models": 174, "unreferenced_models": 15, "channel_first": 0.805,
              "per_channel": {"identity": {"models": 82, "first": 0.49}}},
    "deal_spread": {"deals": 10, "lomo_top1": [0.79, 0.80, 0.82], "lomo_ece": [0.03, 0.045, 0.06],
                    "lomo_log_loss": [0.70, 0.72, 0.75]},
    "train_seconds": 321.4,
    "profiles": {"all": {"models": 174, "top1": 0.8123, "mean_confidence": 0.83, "ece": 0.041, "gap": 0.0177,
                         "log_loss": 0.71},
                 "style:alpaca_eval": {"models": 53, "top1": 0.7, "mean_confidence": 0.7432, "ece": 0.06,
                                       "gap": 0.0432, "log_loss": 0.9}},
    "worst": "style:alpaca_eval", "worst_gap": 0.0432,
    "rich": {"min_answers": 50, "lomo_models": 40, "lomo_top1": 0.875},
    "with_provider": {"lomo_models": 174, "lomo_top1": 0.8567, "lomo_ece": 0.05, "lomo_log_loss": 0.6,
                      "lomo_reported_accuracy": 0.75, "loco_unknown_rate": 0.8},
    "derivatives": {"models": 66, "lineage_reported": 0.61, "false_alarms_on_genuine": 0.02, "names": ["a", "b"]},
    "verify": {"claims": {"checked": 12, "contradicted": 3}, "rate": 0.25},
    "questionnaire": {"questions": 20, "top1": {"pasted": 0.66}},
    "plots": ["plots/reliability.svg", "plots/confusion.png"],
    "some_future_figure": {"x": 1.5},
}


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_full_json_writes_every_group(tmp_path: Path) -> None:
    src = tmp_path / "eval.json"
    src.write_text(json.dumps(FULL))
    out = tmp_path / "docs" / "accuracy.md"
    r = run(str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert "generated" in page.lower() and "provenance eval --corpus" in page and "--json" in page
    # headline: provider-free top-1, with its interval, the worst profile and the provider-aided row
    assert "without the provider channel | 0.812 (174 models; 95% interval 0.750-0.860)" in page
    assert "0.043 (style:alpaca_eval)" in page
    assert "with the upstream provider (router metadata) | 0.857 (174 models)" in page
    assert "50+ answers | 0.875 (40 models)" in page
    for title in ("Evidence profiles", "With the upstream provider", "Models with many answers", "Sampling error",
                  "Unknown threshold sweep", "Beyond the greeting", "Model family", "Evidence reach",
                  "Per source", "Per creator", "Confusion", "Derivatives", "Verify", "Questionnaire", "Plots",
                  "Other figures"):
        assert f"## {title}" in page, title
    assert "| **style:alpaca_eval** (worst) | 53 | 0.700 | 0.743 | 0.060 | 0.043 | 0.900 |" in page
    assert "| benchpress | 32 | 0.875 | 0.970 | 0.800 |" in page
    assert "Pipe\\|Labs" in page                      # a pipe in a name cannot break the table
    assert "| OpenAI | OpenAI 27, unknown 3 |" in page
    assert "| claims.checked | 12 |" in page and "| top1.pasted | 0.660 |" in page   # nested dicts flattened
    assert "| false_alarms_on_genuine | 0.020 |" in page
    assert "![reliability](<plots/reliability.svg>)" in page and "![confusion](<plots/confusion.png>)" in page
    assert "| some_future_figure.x | 1.500 |" in page                    # an unknown key is not dropped
    assert "| identity | 82 | 0.490 |" in page
    assert "321.4" in page


def test_missing_keys_and_stdin(tmp_path: Path) -> None:
    old = {"lomo_models": 10, "lomo_top1": 0.5, "per_source": {"x": {"models": 3}}, "confusion": {"A": {"B": 1}}}
    r = run("--stdout", stdin=json.dumps(old))
    assert r.returncode == 0, r.stderr
    assert "(upstream provider included) | 0.500 (10 models) |" in r.stdout
    assert "| x | 3 | - | - | - |" in r.stdout
    for absent in ("Evidence profiles", "Plots", "Derivatives", "Sampling error", "Other figures"):
        assert f"## {absent}" not in r.stdout
    r = run("--stdout", stdin="{}")
    assert r.returncode == 0 and r.stdout.startswith("# Accuracy")
    # wrong types where dicts or lists are expected are skipped, not a crash
    r = run("--stdout", stdin=json.dumps({"profiles": [1], "plots": "x.png", "per_creator": {"A": 3},
                                          "interval95": {"lomo_top1": "?"}, "deal_spread": None}))
    assert r.returncode == 0, r.stderr


def test_readme_table() -> None:
    r = run("--readme-table", stdin=json.dumps(FULL))
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith("| ")]
    assert len(rows) == 8                               # header + 7 figures
    assert "| LOMO creator top-1, without the provider channel | 0.812 |" in r.stdout
    assert "style:alpaca_eval | 0.043 |" in r.stdout and "| top-1 with the upstream provider | 0.857 |" in r.stdout
    r = run("--readme-table", stdin=json.dumps({"lomo_top1": 0.7}))
    assert r.returncode == 0 and "worst" not in r.stdout and "0.700" in r.stdout


def test_confident_verdicts_row_counts_verdicts_and_says_the_share_is_weighted() -> None:
    """Issue 36: '(3 models) 0.818' read as a share of 3. The row counts verdicts, says how many are
    right where eval gives it, and says the share is weighted as the mix."""
    vd = {"accuracy": 0.67, "prior": 0.25, "mean_confidence": 0.68, "confident_models": 3, "confident_accuracy": 0.8179}
    r = run("--readme-table", stdin=json.dumps({"lomo_top1": 0.6, "verdicts": vd}))
    assert "| verdicts stated at 0.9+ that are right, weighted as the mix (3 verdicts) | 0.818 |" in r.stdout
    r = run("--readme-table", stdin=json.dumps({"lomo_top1": 0.6, "verdicts": {**vd, "confident_right": 2}}))
    assert "weighted as the mix (3 verdicts, 2 of them right) | 0.818 |" in r.stdout
    assert "models)" not in r.stdout


def test_manifest_accepted(tmp_path: Path) -> None:
    m = tmp_path / "manifest.json"
    m.write_text(json.dumps({"schema_version": 3, "figures": {"lomo_top1": 0.6, "lomo_models": 5}}))
    r = run(str(m), "--stdout")
    assert r.returncode == 0 and "0.600 (5 models)" in r.stdout


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    for stdin in ("not json", "[1, 2]"):
        r = run("--stdout", stdin=stdin)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    r = run(str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_plot_paths_are_made_relative_to_the_page(tmp_path: Path) -> None:
    (tmp_path / "docs" / "img").mkdir(parents=True)
    (tmp_path / "docs" / "img" / "reliability.png").write_bytes(b"\x89PNG")
    r = run("-o", "docs/accuracy.md", stdin=json.dumps({"plots": ["docs/img/reliability.png", "elsewhere/x.svg"]}),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "docs" / "accuracy.md").read_text()
    assert "![reliability](<img/reliability.png>)" in page     # exists from here: relative to docs/
    assert "![x](<elsewhere/x.svg>)" in page                     # does not: kept as given


def test_readme_block_is_replaced_in_place(tmp_path: Path) -> None:
    src = tmp_path / "eval.json"
    src.write_text(json.dumps(FULL))
    readme = tmp_path / "README.md"
    other = "<!-- BEGIN generated by scripts/docs_examples.py: x -->\nkeep me\n<!-- END generated -->\n"
    readme.write_text("# t\n\n" + other + "\n<!-- BEGIN generated by scripts/gen_accuracy_doc.py --readme -->\nold\n"
                      "<!-- END generated -->\n\ntail\n")
    r = subprocess.run([sys.executable, str(SCRIPT), str(src), "--readme", str(readme), "-o", str(tmp_path / "a.md")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = readme.read_text()
    assert other in text and "old" not in text and text.endswith("tail\n")
    assert "| 0.812 |" in text
    readme.write_text("no markers\n")
    r = subprocess.run([sys.executable, str(SCRIPT), str(src), "--readme", str(readme), "-o", str(tmp_path / "a.md")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no generated block" in r.stderr


def test_questionnaire_file_is_laid_out(tmp_path: Path) -> None:
    """``--questionnaire FILE``: the output of ``provenance eval --questionnaire 5,10 --json``
    (a list, one entry a form length) becomes the page's questionnaire table and README rows."""
    q = {"questionnaire": [
        {"n": 5, "lomo_models": 42, "mean_answered": 3.77, "lomo_top1": 0.6429, "lomo_top3": 0.7857,
         "lomo_ece": 0.3045, "deal_spread": {"lomo_ece": [0.0788, 0.1852, 0.3182]},
         "interval95": {"lomo_ece_if_calibrated": [0.1357, 0.2104]}, "loco_unknown_rate": 0.7907},
        {"n": 10, "lomo_models": 47, "mean_answered": 6.62, "lomo_top1": 0.6596}]}
    qf = tmp_path / "q.json"
    qf.write_text(json.dumps(q))
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"lomo_top1": 0.6, "lomo_models": 5}))
    r = run(str(ev), "--questionnaire", str(qf), "--stdout")
    assert r.returncode == 0, r.stderr
    assert "## Questionnaire" in r.stdout
    assert "| 5 questions | 42 | 3.770 | 0.643 | 0.786 | 0.304 | 0.079-0.318, mean 0.185 | 0.136-0.210 | 0.791 |" in r.stdout
    r = run(str(ev), "--questionnaire", str(qf), "--readme-table")
    assert "top-1 from a pasted questionnaire of 10 questions (47 models" in r.stdout
    qf.write_text(json.dumps({"questionnaire": {"5 questions": {}}}))
    r = run(str(ev), "--questionnaire", str(qf), "--stdout")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
