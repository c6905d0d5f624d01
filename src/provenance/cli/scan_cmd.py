"""`provenance scan`, `provenance runs list|show` and `provenance classify`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import EXIT_UNUSABLE
from .common import TIMEOUT_HELP, TOTAL_TIMEOUT_HELP

SCAN_EPILOG = """Examples:

  provenance scan entrants.yaml --concurrency 16 --per-host 2 --out results.jsonl

  provenance scan entrants.csv --json > results.jsonl

  provenance scan --models-from http://127.0.0.1:8080/v1 --match 'qwen*'

Entrants file (YAML, JSON or CSV): name, base_url, model, and optionally
protocol (openai|anthropic), api_key_env (the NAME of a variable holding the
key), headers, claim (CREATOR[/FAMILY] the entrant claims to be; without it
the claim is read from the model name). Each entrant's claim is checked: a
claim column in the table, and "N of M entrants inconsistent with their
claimed maker" at the end. Every run is kept in the run store (--db); a scan that was
interrupted continues where it stopped unless --no-resume is given.

JSONL output: one report per line, an {"type": "error", ...} line for an
entrant whose run broke, and a final {"type": "summary", ...} line.

Exit codes: 0 scan completed (even with unknowns or some failed entrants);
2 configuration error; 3 every entrant was unusable.
"""

def _verdict_cell(r: dict) -> str:
    status = str(r.get("status") or "")
    verdict, creator, conf = r.get("verdict"), r.get("creator"), r.get("confidence")
    pct = f" {conf * 100:.0f}%" if isinstance(conf, (int, float)) else ""
    if status != "complete":
        return status or "-"
    if verdict == "match":
        return f"{creator}{pct}"
    if verdict == "ambiguous":
        return f"{creator}?{pct}"
    return str(verdict or creator or "-")


def runs_table(rows: list[dict], width: int):
    """Stored runs as a table that fits ``width`` columns: id, time, model and verdict always
    (the id never cut: `runs show` takes it); the endpoint and probe counts when there is room;
    only the model and endpoint columns shrink, with an ellipsis."""
    from rich import box
    from rich.table import Table
    from ..render import markup_escape as esc
    wide = width >= 110
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    id_w = max([len(str(r["id"])) for r in rows] + [2])
    verdict_w = min(24, max([len(_verdict_cell(r)) for r in rows] + [7]))
    table.add_column("id", no_wrap=True, min_width=min(id_w, 40))
    table.add_column("started", no_wrap=True, min_width=11)
    # what is left for the model (and endpoint) columns: each column costs 2 more (padding)
    ncols = 6 if wide else 4
    room = max(8, width - (id_w + 11 + verdict_w + (7 if wide else 0)) - 2 * ncols - 2)
    model_w = max([len(str(r.get("entrant") or (r.get("target") or {}).get("model") or "-")) for r in rows] + [5])
    model_w = min(model_w, room if not wide else max(8, room * 2 // 5))
    table.add_column("model", no_wrap=True, overflow="ellipsis", width=model_w)
    table.add_column("verdict", no_wrap=True, overflow="ellipsis", min_width=verdict_w)
    if wide:
        table.add_column("endpoint", no_wrap=True, overflow="ellipsis", max_width=max(8, room - model_w))
        table.add_column("probes", no_wrap=True, justify="right", min_width=7)
    for r in rows:
        t = r.get("target") or {}
        model = r.get("entrant") or t.get("model") or "-"
        cells = [esc(r["id"], 40), esc((r.get("started_at") or "")[5:16].replace("T", " "), 30), esc(model, 120),
                 esc(_verdict_cell(r), 80)]
        if wide:
            p = r.get("probes") or {}
            cells += [esc(t.get("base_url") or "-", 200), f"{p.get('ok', 0)}/{p.get('total', 0)}"]
        table.add_row(*cells)
    return table


DB_HELP = "Run store (SQLite) path; default $PROVENANCE_DB or your data directory."


def register(app: typer.Typer) -> None:
    @app.command("scan", epilog=SCAN_EPILOG)
    def scan(
        entrants_file: Optional[Path] = typer.Argument(None, metavar="[ENTRANTS]",
                                                       help="YAML, JSON or CSV file of entrants."),
        models_from: Optional[str] = typer.Option(None, "--models-from", metavar="URL",
                                                  help="Scan every model listed by GET URL/models (OpenAI-compatible) instead of a file."),
        match: Optional[str] = typer.Option(None, "--match", metavar="PATTERN",
                                            help="With --models-from: only model ids matching this glob."),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env",
                                                  help="With --models-from: environment variable holding the key."),
        concurrency: int = typer.Option(8, "--concurrency", "-c", min=1, max=1024, help="Entrants probed at once."),
        per_host: int = typer.Option(2, "--per-host", min=1, max=256, help="Entrants probed at once on one host:port."),
        probe_concurrency: int = typer.Option(16, "--probe-concurrency", min=1, max=128, help="Most probes in flight per entrant (16 measured best at scale: benchmarks/README.md); within it the number adapts to each endpoint."),
        timeout: float = typer.Option(60.0, "--timeout", min=0.1, help=TIMEOUT_HELP),
        total_timeout_s: Optional[float] = typer.Option(None, "--total-timeout", min=0.1, help=TOTAL_TIMEOUT_HELP),
        deadline: float = typer.Option(600.0, "--deadline", min=1.0, help="Deadline per entrant, seconds."),
        retries: int = typer.Option(3, "--retries", min=0, max=10, help="Retries on 408/429/5xx and transport errors."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write JSONL (one report per line, then a summary)."),
        json_out: bool = typer.Option(False, "--json", help="Print the JSONL on stdout and nothing else there."),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Reuse complete runs and continue interrupted ones."),
        db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory (default: the shipped model)."),
    ) -> None:
        """Probe many endpoints (leaderboard entrants) and tabulate who made each model."""
        import asyncio
        import time

        from .common import load_classifier_opt, load_probeset_opt, total_timeout
        from ..entrants import load_entrants
        from ..errors import ConfigError
        from ..settings import RunSettings
        from ..scan import (USABLE, JsonlSink, ScanProgress, entrants_from_models, open_out, render_table,
                            scan_entrants, summarize)
        from ..store import RunStore

        if (entrants_file is None) == (models_from is None):
            raise ConfigError("give an entrants file or --models-from URL (exactly one)")
        if models_from is None and (match or api_key_env):
            raise ConfigError("--match and --api-key-env go with --models-from")
        # entrants are mostly remote APIs: each starts at 16 in flight, as bench_scan measured
        # (a single `probe` starts at RunSettings.start_concurrency, a local server's 4 slots)
        settings = RunSettings(concurrency=probe_concurrency, start_concurrency=min(16, probe_concurrency),
                               read_timeout=timeout, deadline=deadline,
                               retries=retries, request_timeout=total_timeout(timeout, total_timeout_s))
        # Everything is validated before the first request.
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        store = RunStore.open(db)
        out_f = None
        try:
            if entrants_file is not None:
                entrants = load_entrants(entrants_file)
                source = str(entrants_file)
            else:
                entrants = entrants_from_models(models_from or "", match=match, api_key_env=api_key_env,
                                                settings=settings)
                source = entrants[0].where
            out_f = open_out(out) if out is not None else None
            streams = ([out_f] if out_f else []) + ([sys.stdout] if json_out else [])
            sink = JsonlSink(streams)
            scan_id = store.start_scan(source, {"concurrency": concurrency, "per_host": per_host,
                                                "resume": resume, "probeset": probeset.info(),
                                                "settings": {"probe_concurrency": probe_concurrency,
                                                             "timeout": timeout, "deadline": deadline,
                                                             "retries": retries}})
            progress = ScanProgress(len(entrants)) if sys.stderr.isatty() else None
            t0 = time.monotonic()
            try:
                if progress is not None:
                    progress.__enter__()
                outcomes = asyncio.run(scan_entrants(
                    entrants, store=store, probeset=probeset, classifier=classifier, settings=settings,
                    concurrency=concurrency, per_host=per_host, resume=resume, scan_id=scan_id,
                    events=progress, on_outcome=lambda o: sink.write(o.record())))
            finally:
                if progress is not None:
                    progress.__exit__(None, None, None)
            summary = summarize(outcomes, scan_id=scan_id, elapsed_s=time.monotonic() - t0,
                                probeset=probeset.info())
            sink.write(summary)
            store.finish_scan(scan_id, summary)
        finally:
            if out_f is not None:
                out_f.close()
            store.close()
        if not json_out or sys.stderr.isatty():
            from rich.console import Console
            render_table(outcomes, summary, Console(stderr=json_out, highlight=False))
        if not any(o.state in USABLE for o in outcomes):
            raise typer.Exit(EXIT_UNUSABLE)

    runs = typer.Typer(help="Stored probe runs (the local run store).", no_args_is_help=True)
    app.add_typer(runs, name="runs")

    @runs.command("list")
    def runs_list(
        json_out: bool = typer.Option(False, "--json", help="Print a JSON list."),
        limit: int = typer.Option(50, "--limit", "-n", min=1, help="Newest N runs."),
        scan_id: Optional[str] = typer.Option(None, "--scan", help="Only runs started by this scan."),
        db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """List stored runs, newest first."""
        from ..store import RunStore
        with RunStore.open(db) as store:
            rows = store.list_runs(scan_id=scan_id, limit=limit)
        if json_out:
            from .common import emit_json
            emit_json(rows)
            return
        from rich.console import Console
        from rich.table import Table
        from ..render import markup_escape as esc
        con = Console(highlight=False)
        if not rows:
            con.print("no runs stored yet")
            return
        con.print(runs_table(rows, con.width))

    @runs.command("show")
    def runs_show(
        run_id: str = typer.Argument(..., help="Run id or a unique prefix of one (see `provenance runs list`)."),
        json_out: bool = typer.Option(False, "--json", help="Print the JSON report."),
        db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Show a stored run as a readable verdict."""
        from ..errors import ConfigError
        from ..store import RunStore
        with RunStore.open(db) as store:
            row = store.get_run(run_id)
            try:
                report = store.load_report(row["id"])
            except ConfigError:
                report = None
        if json_out:
            from .common import emit_json
            if report is None:
                raise ConfigError(f"run {row['id']} has no report (status {row['status']}: "
                                  f"{row.get('error') or 'unfinished'})")
            emit_json(report)
            return
        from rich.console import Console
        con = Console(highlight=False)
        if report is None:
            from ..render import markup_escape as esc
            p = row.get("probes") or {}
            con.print(f"run {esc(row['id'], 40)}  status [bold]{esc(row['status'], 20)}[/bold]  "
                      f"probes {p.get('ok', 0)} ok / {p.get('total', 0)} recorded")
            if row.get("error"):
                con.print(f"error: {esc(row['error'], 500)}")
            con.print(f"no report: `provenance classify --run {esc(row['id'], 40)}` classifies what it recorded")
            return
        from ..render import render_verdict
        render_verdict(report, con)

    @app.command("classify")
    def classify(
        report_file: Optional[Path] = typer.Argument(None, metavar="[REPORT.json]", help="A JSON report to re-classify."),
        run_id: Optional[str] = typer.Option(None, "--run", help="Re-classify a stored run instead of a file."),
        answers_file: Optional[Path] = typer.Option(None, "--answers", metavar="FILE",
                                                    help="Classify answers pasted from a chat page: a filled-in `provenance questionnaire` form (Markdown) or JSON."),
        pair: bool = typer.Option(False, "--pair", help="With --answers: a pair form (side-by-side battle); two attributions, A and B."),
        label: Optional[str] = typer.Option(None, "--label", help="With --answers: the model's name as the chat page shows it (recorded as the target)."),
        no_store: bool = typer.Option(False, "--no-store", help="With --answers: do not record the run in the local store."),
        json_out: bool = typer.Option(False, "--json", help="Print the new JSON report."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the new report here (atomically)."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory (default: the shipped model)."),
        db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
        claim: Optional[str] = typer.Option(None, "--claim", metavar="CREATOR[/FAMILY]",
                                            help="Check the answers against this claimed maker (default: re-check the claim the report carries, if any)."),
    ) -> None:
        """Re-classify recorded raw responses with the current model (no network traffic), or
        classify answers pasted from a chat page (--answers).

        A report that carries a claim check (provenance verify, scan) has its claim
        re-checked too.

        Examples: provenance classify report.json --json; provenance classify --run 018f2a7c;
        provenance classify report.json --claim Anthropic; provenance classify --answers form.md;
        provenance classify --answers battle.md --pair
        """
        from .common import load_classifier_opt, load_probeset_opt, output_report
        from ..errors import ConfigError
        from ..pipeline import classify_report_dict
        from ..report import read_report, transcript_from_report

        if sum(x is not None for x in (report_file, run_id, answers_file)) != 1:
            raise ConfigError("give a REPORT.json file, --run ID or --answers FILE (exactly one)")
        if answers_file is None and (pair or label is not None or no_store):
            raise ConfigError("--pair, --label and --no-store go with --answers")
        if answers_file is not None:
            from .questionnaire_cmd import classify_answers_cmd
            classify_answers_cmd(answers_file, pair=pair, label=label, json_out=json_out, output=output,
                                 probes_dir=probes_dir, model_dir=model_dir, db=db, no_store=no_store)
            return
        if output is not None:
            from ..report import check_output_path
            check_output_path(output)
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        from ..claim import parse_claim
        from ..verify import claim_of_report
        the_claim = parse_claim(claim) if claim is not None else None
        if report_file is not None:
            doc = read_report(report_file)
            transcript = transcript_from_report(doc)
            rid = (doc.get("run") or {}).get("id")
        else:
            from ..store import RunStore
            with RunStore.open(db) as store:
                rid = store.resolve_id(run_id or "")
                transcript = store.load_transcript(rid)
                try:
                    doc = store.load_report(rid)
                except ConfigError:
                    doc = {}            # an unfinished run has no report, so no claim to re-check
        if the_claim is None:
            the_claim = claim_of_report(doc)
        if not transcript.results:
            raise ConfigError("nothing to classify: no probe results recorded")
        report = classify_report_dict(transcript, classifier, run_id=rid if isinstance(rid, str) else None,
                                      claim=the_claim)
        if json_out or report.get("claim") is None:
            output_report(report, output, json_out)
        else:
            if output is not None:
                from ..report import dumps, write_atomic
                write_atomic(output, dumps(report) + "\n")
            from rich.console import Console
            from ..render import render_verdict
            from ..render_claim import render_claim
            con = Console(highlight=False, soft_wrap=False)
            render_claim(report, con)
            con.print()
            render_verdict(report, con)
