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
key), headers. Every run is kept in the run store (--db); a scan that was
interrupted continues where it stopped unless --no-resume is given.

JSONL output: one report per line, an {"type": "error", ...} line for an
entrant whose run broke, and a final {"type": "summary", ...} line.

Exit codes: 0 scan completed (even with unknowns or some failed entrants);
2 configuration error; 3 every entrant was unusable.
"""

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
        settings = RunSettings(concurrency=probe_concurrency, read_timeout=timeout, deadline=deadline,
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
        table = Table(header_style="bold")
        table.add_column("id", no_wrap=True, min_width=20)
        for col in ("started", "entrant", "status", "creator", "conf", "probes"):
            table.add_column(col)
        for r in rows:
            t = r.get("target") or {}
            who = r.get("entrant") or f"{t.get('model')} @ {t.get('base_url')}"
            conf = r.get("confidence")
            p = r.get("probes") or {}
            table.add_row(esc(r["id"], 40), esc((r.get("started_at") or "")[5:16].replace("T", " "), 30), esc(who, 80),
                          esc(r["status"], 20), esc(r.get("creator") or "-", 60),
                          f"{conf * 100:.0f}%" if isinstance(conf, (int, float)) else "-",
                          f"{p.get('ok', 0)}/{p.get('total', 0)}")
        con.print(table)

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
        json_out: bool = typer.Option(False, "--json", help="Print the new JSON report."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the new report here (atomically)."),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory (default: the shipped model)."),
        db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    ) -> None:
        """Re-classify recorded raw responses with the current model (no network traffic).

        Examples: provenance classify report.json --json; provenance classify --run 018f2a7c
        """
        from .common import load_classifier_opt, load_probeset_opt, output_report
        from ..errors import ConfigError
        from ..pipeline import classify_report_dict
        from ..report import read_report, transcript_from_report

        if (report_file is None) == (run_id is None):
            raise ConfigError("give a REPORT.json file or --run ID (exactly one)")
        if output is not None:
            from ..report import check_output_path
            check_output_path(output)
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        if report_file is not None:
            doc = read_report(report_file)
            transcript = transcript_from_report(doc)
            rid = (doc.get("run") or {}).get("id")
        else:
            from ..store import RunStore
            with RunStore.open(db) as store:
                rid = store.resolve_id(run_id or "")
                transcript = store.load_transcript(rid)
        if not transcript.results:
            raise ConfigError("nothing to classify: no probe results recorded")
        report = classify_report_dict(transcript, classifier, run_id=rid if isinstance(rid, str) else None)
        output_report(report, output, json_out)
