"""``provenance train`` and ``provenance eval``: fit the creator classifier, measure it honestly."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer


def _check_corpus(corpus: Path) -> None:
    from ..errors import ConfigError
    if not corpus.is_dir() or not (corpus / "responses.jsonl.gz").is_file():
        raise ConfigError(f"{corpus}: reference corpus directory not found (needs responses.jsonl.gz)")


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# one example a paragraph: the help formatter rewraps a paragraph into one run of text
TRAIN_EPILOG = """Example:

  provenance train --corpus ../shared/reference -o models/default
"""

EVAL_EPILOG = """Examples:

  provenance eval --corpus ../shared/reference

  provenance eval --corpus ../shared/reference --json --plots docs/img > eval.json

  provenance eval --corpus ../shared/reference --budget 8

  provenance eval --corpus ../shared/reference --questionnaire 5,10,20 --json > q.json
"""


def register(app: typer.Typer) -> None:
    @app.command("train", epilog=TRAIN_EPILOG)
    def train(
        corpus: Path = typer.Option(..., "--corpus", help="Reference corpus directory (responses.jsonl.gz)."),
        extra: Optional[List[Path]] = typer.Option(None, "--extra", help="Extra JSONL(.gz) files in the corpus record format (repeatable)."),
        probes: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        out: Path = typer.Option(..., "-o", "--out", help="Output model directory, e.g. models/default."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress lines."),
    ) -> None:
        """Train the creator classifier on the corpus; writes manifest.json + arrays.npz."""
        from .extras import require_extra
        require_extra("train", "train", imports=("sklearn", "scipy"))
        _check_corpus(corpus)
        from ..training.folds import DEALS
        from ..training.export import build, write
        from ..training.train import run_training
        from ..training.verdicts import fit_verdicts
        log = None if quiet else _log
        tr, rows, preds, figs = run_training(corpus, extra or (), probes, log=log, deals=DEALS)
        arrays, meta = build(tr, rows, preds, figs)
        coef = fit_verdicts(tr, preds, figs, arrays, meta, corpus, log=log)
        write(tr, arrays, meta, out, log=log, verdict_coef=coef)
        typer.echo(f"trained on {len(tr.ds.model_creator)} models, {len(tr.creators)} creators -> {out}")
        typer.echo(_headline(figs))
        spread = _spread(figs)
        if spread:
            typer.echo(spread)
        if figs.get("claims"):
            typer.echo(_claims_headline(figs["claims"]))

    @app.command("eval", epilog=EVAL_EPILOG)
    def evaluate(
        corpus: Path = typer.Option(..., "--corpus", help="Reference corpus directory (responses.jsonl.gz)."),
        extra: Optional[List[Path]] = typer.Option(None, "--extra", help="Extra JSONL(.gz) corpus files (repeatable)."),
        model: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory whose stored probe order --stored-order uses (default: the shipped model)."),
        model_old: Optional[Path] = typer.Option(None, "--model", hidden=True, help="Deprecated spelling of --model-dir."),
        probes: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        budget: Optional[int] = typer.Option(None, "--budget", min=1, help="Use at most N probes per model, most informative per token first, in an order ranked without the model's fold (as an unseen model would meet it)."),
        stored_order: bool = typer.Option(False, "--stored-order", help="With --budget: use the model's stored probe order instead, which was ranked on these same models (optimistic; for comparison)."),
        as_json: bool = typer.Option(False, "--json", help="Emit one JSON document."),
        without_api: bool = typer.Option(False, "--without-api", help="Leave out the API-surface evidence the corpus holds (the upstream provider a router names), to compare with and without it."),
        without_aligned: bool = typer.Option(False, "--without-aligned", help="Leave out the aligned channels (similarity to other models' answers to the same prompt), to compare with and without them."),
        # 10 is training.folds.DEALS (a test ties the two), not imported here so that --help stays fast
        deals: int = typer.Option(10, "--deals", min=0, help="Also re-deal the calibrator's alias-group folds N times at random and report the spread of top-1, ECE and log loss (only the calibrators are refitted: about 2 s a deal on the full corpus); 0 skips it."),
        derivatives: bool = typer.Option(True, "--derivatives/--no-derivatives", help="Also score the corpus's third-party fine-tunes (derivatives.jsonl.gz) with the model this run would ship: how often they are called unknown, named as their base maker, and given it as lineage. They also fit the verdict map, which the figures that count unknown verdicts read; without it (or with --budget) those figures use the unmapped confidence."),
        plots: Optional[Path] = typer.Option(None, "--plots", help="Write reliability.svg (one curve per evidence profile) and confusion.svg into this directory."),
        questionnaire: Optional[str] = typer.Option(None, "--questionnaire", metavar="N[,N...]", help="Measure attribution from a pasted questionnaire: only its N most informative chat-page questions, no API evidence, for each N given (e.g. 5,10,20)."),
    ) -> None:
        """Leave-one-model-out / leave-one-creator-out evaluation: accuracy, calibration per evidence
        profile, unknown rate, derivatives.

        The headline figures use only what an anonymous endpoint gives (no upstream provider named
        by a router); the provider-aided figures are a separate row.
        """
        from ..errors import ArtifactError, ConfigError
        if model_old is not None:       # --model is a model *name* in probe: the old spelling still works
            if model is not None:
                raise ConfigError("give --model-dir once (--model is its deprecated spelling)")
            _log("provenance: warning: eval --model is deprecated: use --model-dir")
            model = model_old
        from .extras import require_extra
        # matplotlib only draws --plots: checked before the evaluation, not after it
        require_extra("train", "eval --plots" if plots is not None else "eval",
                      imports=("sklearn", "scipy") + (("matplotlib",) if plots is not None else ()))
        _check_corpus(corpus)
        from ..training.train import run_training
        if stored_order and budget is None:
            raise ConfigError("--stored-order needs --budget N")
        if questionnaire is not None:
            from .questionnaire_cmd import eval_questionnaire
            eval_questionnaire(corpus, questionnaire, extra or (), probes, as_json=as_json, deals=deals,
                               use_aligned=not without_aligned, other=(budget, stored_order, without_api))
            return
        order = None
        if stored_order:
            from ..classifier import default_model_dir
            from ..classifier.artifact import read_manifest
            mdir = model or default_model_dir()
            if mdir is None:
                raise ArtifactError("--stored-order needs a trained model (its stored probe_order); none found")
            order = [p["id"] for p in read_manifest(Path(mdir)).get("probe_order", [])]
        tr, rows, preds, figs = run_training(corpus, extra or (), probes, log=None if as_json else _log,
                                             budget=budget, order=order, use_provider=not without_api,
                                             use_aligned=not without_aligned, deals=deals)
        figs["budget"] = budget
        figs["budget_order"] = None if budget is None else ("stored" if stored_order else "nested")
        figs["api_channel"] = not without_api
        figs["aligned_channels"] = not without_aligned
        if derivatives and budget is None:
            from ..training.derivatives import evaluate_training
            from ..training.export import build
            from ..training.verdicts import fit_verdicts
            if not as_json:
                _log("scoring the third-party fine-tunes with the model this run would ship")
            arrays, meta = build(tr, rows, preds, figs)
            coef = fit_verdicts(tr, preds, figs, arrays, meta, corpus)
            got = evaluate_training(tr, arrays, meta, corpus, verdict_coef=coef)
            if got is not None:
                figs["derivatives"] = {k: v for k, v in got.items() if k != "rows"}
        if plots is not None:
            figs["plots"] = _write_plots(plots, preds, {m for m in tr.eval_by_model if tr.known(m)},
                                         figs.get("confusion") or {})
        if as_json:
            typer.echo(json.dumps(figs, indent=1, sort_keys=True))
            return
        _render(figs)


def _write_plots(out: Path, preds: list, known: set, confusion: dict) -> list[str]:
    """reliability.svg (LOMO, one curve per evidence profile with 20+ models; models of known
    creators) and confusion.svg into ``out``; the paths written."""
    from ..training.figures import profile_name
    from ..errors import ConfigError
    from ..training.plots import confusion_svg, reliability_svg
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--plots {out}: cannot create the directory ({e.strerror or e})") from None
    curves: dict[str, list] = {}
    for p in preds:
        if p["mode"] == "lomo" and p["model"] in known:
            curves.setdefault(profile_name(p["subset"]), []).append((p["p_top"], p["top"][0] == p["creator"]))
    keep = {k: v for k, v in curves.items() if len(v) >= 20}
    files = {"reliability.svg": reliability_svg(keep), "confusion.svg": confusion_svg(confusion)}
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [str(out / name) for name in files]


def _fmt(x: object) -> str:
    return "-" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def _headline(f: dict) -> str:
    worst = (f"; worst evidence profile ({f['worst']}) gap {_fmt(f.get('worst_gap'))}"
             if f.get("worst") else "")
    return (f"anonymous endpoint (no provider): LOMO top-1 {_fmt(f['lomo_top1'])} top-3 {_fmt(f['lomo_top3'])} "
            f"over {f['lomo_models']} models; ECE {_fmt(f['lomo_ece'])}; log loss {_fmt(f.get('lomo_log_loss'))}"
            f"{worst}; reported (unknown counts wrong) {_fmt(f['lomo_reported_accuracy'])}; "
            f"LOCO unknown {_fmt(f['loco_unknown_rate'])} over {f['loco_models']} models")


def _spread(f: dict) -> str:
    ds = f.get("deal_spread")
    if not ds or not ds.get("lomo_ece"):
        return ""
    r = lambda v: f"{_fmt(v[0])}-{_fmt(v[2])} (mean {_fmt(v[1])})"  # noqa: E731
    return (f"over {ds['deals']} random deals of the calibrator's folds: LOMO top-1 {r(ds['lomo_top1'])}, "
            f"ECE {r(ds['lomo_ece'])}, log loss {r(ds['lomo_log_loss'])}")


def _render(f: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.markup import escape
    con = Console()
    con.print(escape(_headline(f)))
    t = Table(title="summary")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k in ("lomo_models", "lomo_top1", "lomo_top3", "lomo_reported_accuracy", "lomo_unknown_rate", "lomo_ece",
              "lomo_ece_reported", "lomo_log_loss", "loco_models", "loco_unknown_rate", "train_seconds", "budget",
              "budget_order"):
        t.add_row(k, _fmt(f.get(k)))
    con.print(t)
    wp = f.get("with_provider")
    if wp:
        con.print(escape(f"with the upstream provider a router names (not available from an anonymous endpoint): "
                         f"LOMO top-1 {_fmt(wp['lomo_top1'])}, ECE {_fmt(wp['lomo_ece'])}, log loss "
                         f"{_fmt(wp['lomo_log_loss'])}, reported {_fmt(wp['lomo_reported_accuracy'])}, LOCO unknown "
                         f"{_fmt(wp['loco_unknown_rate'])}"))
    vd = f.get("verdicts")
    if vd and vd.get("accuracy") is not None:
        con.print(escape(
            f"verdicts as stated, on a mix with {_fmt(vd['prior'])} of endpoints by unknown makers"
            + (f" and {_fmt(vd['fine_tune_prior'])} third-party fine-tunes" if vd.get("fine_tune_prior") else "")
            + ": "
            f"{_fmt(vd['named_share'])} named, right {_fmt(vd['accuracy'])} at stated confidence "
            f"{_fmt(vd['mean_confidence'])} (gap {_fmt(vd['gap'])}, ECE {_fmt(vd['ece'])}); stated at 0.9+: "
            f"{vd['confident_models']} models, right {_fmt(vd['confident_accuracy'])}; unknown makers' models named "
            f"{_fmt(vd['unknown_makers_named'])}"))
    rich = f.get("rich")
    if rich:
        con.print(escape(f"models with {rich['min_answers']}+ answers to the probes: LOMO top-1 "
                         f"{_fmt(rich['lomo_top1'])} over {rich['lomo_models']}"))
    prof = f.get("profiles") or {}
    if prof:
        t = Table(title="per evidence profile (LOMO; gap = mean confidence - top-1, positive is over-confident)")
        for c in ("profile", "models", "top-1", "mean conf", "ECE", "gap", "log loss"):
            t.add_column(c, justify="left" if c == "profile" else "right")
        for name, v in prof.items():
            t.add_row(escape(name), _fmt(v["models"]), _fmt(v["top1"]), _fmt(v["mean_confidence"]), _fmt(v["ece"]),
                      _fmt(v["gap"]), _fmt(v["log_loss"]))
        con.print(t)
    der = f.get("derivatives")
    if der and der.get("models"):
        con.print(escape(
            f"third-party fine-tunes ({der['models']}, none in training): unknown {_fmt(der['unknown'])}, named as "
            f"their base maker {_fmt(der['named_base'])} (at 0.9+ {_fmt(der['named_base_confident'])}), named as "
            f"another maker {_fmt(der['named_other'])}; any named at 0.9+ {_fmt(der['named_confident'])}; "
            f"base maker given as lineage {_fmt(der['lineage_right'])}"))
    for path in f.get("plots") or []:
        con.print(escape(f"wrote {path}"))
    iv = f.get("interval95") or {}
    if iv:
        a, b = iv["lomo_top1"]
        m, hi = iv["lomo_ece_if_calibrated"]
        con.print(escape(f"sampling error over {f['lomo_models']} models: LOMO top-1 95% interval {_fmt(a)}-{_fmt(b)}; "
                         f"a perfectly calibrated classifier with these confidences would show ECE {_fmt(m)} "
                         f"(median; 95th percentile {_fmt(hi)})"))
    spread = _spread(f)
    if spread:
        con.print(escape(spread))
    bg = f.get("beyond_greeting")
    if bg:
        con.print(escape(
            f"without the {bg['greeting_only_lomo_models']} models whose only answer is to 'hi' "
            f"(their LOMO top-1 {_fmt(bg['greeting_only_lomo_top1'])}): LOMO top-1 {_fmt(bg['lomo_top1'])} over "
            f"{bg['lomo_models']} models, reported {_fmt(bg['lomo_reported_accuracy'])}; LOCO unknown "
            f"{_fmt(bg['loco_unknown_rate'])} over {bg['loco_models']}"))
    reach = f.get("reach")
    if reach:
        con.print(escape(
            f"evidence reach: {reach['unreferenced_models']} of the {reach['lomo_models']} LOMO models have no other "
            f"model of their maker in any source they answered (their top-1 {_fmt(reach['unreferenced_top1'])}; the "
            f"others' {_fmt(reach['referenced_top1'])}); naming every other model right would give top-1 "
            f"{_fmt(reach['top1_if_referenced_right'])}; at least one channel scores the true creator first for "
            f"{_fmt(reach['channel_first'])} of the models"))
    fam = f.get("family")
    if fam:
        con.print(escape(
            f"model family (LOMO, {fam['lomo_models']} models, {fam['in_training']} of whose family has another "
            f"training model): creator and family both right {_fmt(fam['top1'])} "
            f"({_fmt(fam['top1_family_in_training'])} where the family is in training; "
            f"{_fmt(fam['top1_creator_right'])} when the creator is right); ECE of the family confidence {_fmt(fam['ece'])} "
            f"(a perfectly calibrated guesser would show {_fmt((fam.get('ece_if_calibrated') or [None])[0])})"))
        if fam.get("reported_models"):
            con.print(escape(
                f"  among the {fam['reported_models']} models given a named verdict (an unknown verdict names no "
                f"family): both right {_fmt(fam['top1_reported'])}, ECE {_fmt(fam['ece_reported'])} (perfectly "
                f"calibrated: {_fmt((fam.get('ece_reported_if_calibrated') or [None])[0])})"))
    t = Table(title="per source (LOMO, only that source's probes)")
    for c in ("source", "models", "top-1", "top-3", "LOCO unknown"):
        t.add_column(c)
    for s, v in f["per_source"].items():
        t.add_row(escape(s), _fmt(v["models"]), _fmt(v["top1"]), _fmt(v["top3"]), _fmt(v["loco_unknown_rate"]))
    con.print(t)
    t = Table(title="per creator")
    for c in ("creator", "LOMO models", "recall", "LOCO models", "LOCO unknown"):
        t.add_column(c)
    for c, v in f["per_creator"].items():
        t.add_row(escape(c), _fmt(v["lomo_models"]), _fmt(v["recall"]), _fmt(v["loco_models"]), _fmt(v["loco_unknown"]))
    con.print(t)
    from ..classifier.combine import NAME_THRESHOLD
    t = Table(title=f"unknown threshold sweep (p_unknown >= threshold, or a stated confidence under {NAME_THRESHOLD} "
                    "-> unknown)")
    for c in ("threshold", "LOMO reported acc", "LOMO unknown", "LOCO unknown"):
        t.add_column(c, justify="right")
    for row in f.get("unknown_threshold_sweep", []):
        t.add_row(_fmt(row["threshold"]), _fmt(row["lomo_reported_accuracy"]), _fmt(row["lomo_unknown_rate"]),
                  _fmt(row["loco_unknown_rate"]))
    con.print(t)
    if f.get("name_threshold_sweep"):
        t = Table(title="name threshold sweep (a stated confidence under the threshold -> unknown)")
        for c in ("threshold", "LOMO reported acc", "LOMO named wrong", "LOCO unknown"):
            t.add_column(c, justify="right")
        for row in f["name_threshold_sweep"]:
            t.add_row(_fmt(row["threshold"]), _fmt(row["lomo_reported_accuracy"]), _fmt(row["lomo_named_wrong"]),
                      _fmt(row["loco_unknown_rate"]))
        con.print(t)
    _render_claims(con, f.get("claims"))
    conf = f["confusion"]
    t = Table(title="confusion (LOMO): true creator -> reported (counts)")
    t.add_column("true")
    t.add_column("reported as")
    for c in sorted(conf):
        cells = sorted(conf[c].items(), key=lambda kv: (-kv[1], kv[0]))
        t.add_row(escape(c), escape(", ".join(f"{k} {n}" for k, n in cells)))
    con.print(t)


def _claims_headline(c: dict) -> str:
    th = c["thresholds"]
    return (f"claim checks (verify): inconsistent below P(claimed) {th['inconsistent_below']:.4f}, consistent at "
            f"{th['consistent_at']:.3f}; false alarms {_fmt(c['false_alarm'])} of {c['genuine_models']} genuine "
            f"unseen models ({_fmt(c['false_alarm_cv'])} with the threshold chosen without the model's creator fold); "
            f"detection {_fmt(c['detection'])} over {c['impostor_pairs']} impostor claims, "
            f"{_fmt(c['hardest_detection'])} when claiming the most similar other maker")


def _render_claims(con, c: dict | None) -> None:
    """The claim-check thresholds chosen on these LOMO predictions and their figures (classifier/claims.py)."""
    if not c:
        return
    from rich.markup import escape
    from rich.table import Table
    con.print(escape(_claims_headline(c)))
    con.print(escape(
        f"  inconclusive: {_fmt(c['genuine_inconclusive'])} of genuine models (consistent {_fmt(c['genuine_consistent'])}), "
        f"{_fmt(c['impostor_inconclusive'])} of impostor claims (consistent {_fmt(c['impostor_consistent'])}), "
        f"{_fmt(c['hardest_inconclusive'])} of the hardest (consistent {_fmt(c['hardest_consistent'])}); models of makers "
        f"outside the labels claimed as a known maker: detection {_fmt(c['unknown_maker_detection'])} over "
        f"{c['unknown_maker_pairs']} claims"))
    t = Table(title="claim checks per claimed maker (LOMO; impostor = another maker's model under this maker's name)")
    for col in ("claimed maker", "genuine", "false alarms", "genuine consistent", "impostors", "detection",
                "hardest", "hardest detection"):
        t.add_column(col, justify="left" if col == "claimed maker" else "right")
    for m, v in (c.get("per_claim") or {}).items():
        t.add_row(escape(m), _fmt(v["genuine_models"]), _fmt(v["false_alarms"]), _fmt(v["genuine_consistent"]),
                  _fmt(v["impostors"]), _fmt(v["detection"]), _fmt(v["hardest_impostors"]), _fmt(v["hardest_detection"]))
    con.print(t)
