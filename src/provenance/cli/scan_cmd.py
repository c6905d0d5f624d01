"""`provenance scan`: probe many entrants (a file, or a server's model list) and tabulate who
made each model. The scheduler is ``probing/scan.py``; this module builds its inputs, writes
the JSONL, and draws the progress (``progress.py``) and the table (``scan_view.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any, Optional, Sequence

import typer

from ..endpoints import registry as protocols
from ..errors import EXIT_UNUSABLE
from .common import DB_HELP, RunOptions, run_options

SCAN_EPILOG = f"""Examples:

  provenance scan entrants.yaml --concurrency 16 --per-host 2 --out results.jsonl

  provenance scan entrants.csv --json > results.jsonl

  provenance scan --models-from http://127.0.0.1:8080/v1 --match 'qwen*'

Entrants file (YAML, JSON or CSV): name, base_url, model, and optionally
protocol ({protocols.listing()}), api_key_env (the NAME of a variable holding the
key), headers, claim (CREATOR[/FAMILY] the entrant claims to be; without it
the claim is read from the model name). Each entrant's claim is checked: a
claim column in the table, and "N of M entrants inconsistent with their
claimed maker" at the end. Every run is kept in the run store (--db); a scan that was
interrupted continues where it stopped unless --no-resume is given.

JSONL output: one report per line, an {{"type": "error", ...}} line for an
entrant whose run broke, and a final {{"type": "summary", ...}} line.

Exit codes: 0 scan completed (even with unknowns or some failed entrants);
2 configuration error; 3 every entrant was unusable.
"""


def register(app: typer.Typer) -> None:
    @app.command("scan", epilog=SCAN_EPILOG)
    @run_options(deadline_help="Deadline per entrant, seconds.")
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
        run: RunOptions = None,  # --timeout, --total-timeout, --deadline, --retries (common.run_options)
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write JSONL (one report per line, then a summary)."),
        html: Optional[Path] = typer.Option(None, "--html", metavar="PAGE",
                                            help="Also write the scan as a web page: one row per entrant, each linked to "
                                                 "its own page (written to PAGE's folder, in PAGE-NAME_entrants/): "
                                                 "self-contained, no script."),
        json_out: bool = typer.Option(False, "--json", help="Print the JSONL on stdout and nothing else there."),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="Reuse complete runs and continue interrupted ones."),
        db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
        probes_dir: Optional[Path] = typer.Option(None, "--probes", help="Probe-set directory (default: the shipped set)."),
        model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Classifier artifact directory (default: the shipped model)."),
    ) -> None:
        """Probe many endpoints (leaderboard entrants) and tabulate who made each model."""
        from ..errors import ConfigError
        from ..probing.scan import USABLE
        from ..probing.store import RunStore
        from .common import load_classifier_opt, load_probeset_opt

        if (entrants_file is None) == (models_from is None):
            raise ConfigError("give an entrants file or --models-from URL (exactly one)")
        if models_from is None and (match or api_key_env):
            raise ConfigError("--match and --api-key-env go with --models-from")
        # entrants are mostly remote APIs: each starts at 16 in flight, as bench_scan measured, or
        # at the slot count its server states (a single `probe` starts at every probe)
        settings = run.settings(probe_concurrency, start_concurrency=min(16, probe_concurrency))
        # Everything is validated before the first request.
        if html is not None:
            from ..report import check_output_path
            check_output_path(html)
        probeset = load_probeset_opt(probes_dir)
        classifier = load_classifier_opt(model_dir, probeset)
        store = RunStore.open(db)
        try:
            entrants, source = _entrants(entrants_file, models_from, match, api_key_env, settings)
            limits = {"concurrency": concurrency, "per_host": per_host, "resume": resume, "probeset": probeset.info(),
                      "settings": {"probe_concurrency": probe_concurrency, "timeout": run.timeout,
                                   "deadline": run.deadline, "retries": run.retries}}
            outcomes, summary = _scan(entrants, source, limits, store=store, probeset=probeset,
                                      classifier=classifier, settings=settings, out=out, json_out=json_out)
        finally:
            store.close()
        if html is not None:
            write_scan_html(outcomes, summary, html)
        if not json_out or sys.stderr.isatty():
            from rich.console import Console

            from .scan_view import render_table
            render_table(outcomes, summary, Console(stderr=json_out, highlight=False))
        if not any(o.state in USABLE for o in outcomes):
            sys.stderr.write(unusable_line(summary) + "\n")
            sys.stderr.flush()
            raise typer.Exit(EXIT_UNUSABLE)


def unusable_line(summary: dict[str, Any]) -> str:
    """The stderr line of a scan whose every entrant was unusable: how many, and why."""
    from ..text_safety import safe_line
    n = summary.get("entrants", 0)
    why = "; ".join(f"{k}: {v}" for k, v in (summary.get("unusable_why") or {}).items())
    errors = summary.get("error") or 0
    parts = [why] if why else []
    if errors:
        parts.append(f"{errors} broke with an error")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return safe_line(f"provenance: error: none of the {n} entrants was usable{detail}", 600)


def _entrants(entrants_file: Optional[Path], models_from: Optional[str], match: Optional[str],
              api_key_env: Optional[str], settings: Any) -> tuple[list[Any], str]:
    """The entrants to scan, from the file or from ``GET URL/models``, and where they came from."""
    from ..probing.entrants import entrants_from_models, load_entrants
    from ..run.scan import entrant_claims
    if entrants_file is not None:
        entrants = load_entrants(entrants_file)
        entrant_claims(entrants)              # every claim column checked before the first request
        return entrants, str(entrants_file)
    entrants = entrants_from_models(models_from or "", match=match, api_key_env=api_key_env, settings=settings)
    return entrants, entrants[0].where


def _scan(entrants: list[Any], source: str, limits: dict[str, Any], *, store: Any, probeset: Any,
          classifier: Any, settings: Any, out: Optional[Path], json_out: bool) -> tuple[list[Any], dict[str, Any]]:
    """Run the scan (``limits``: its --concurrency, --per-host, --resume and what the store records
    of its settings) with live progress on a terminal, each entrant's JSONL line written as it
    finishes; the outcomes and the summary record (written last, and kept in the store)."""
    import asyncio
    import time

    from ..probing.scan import summarize
    from ..run.scan import scan_entrants
    from .progress import ScanProgress

    out_f = open_out(out) if out is not None else None
    try:
        sink = JsonlSink(([out_f] if out_f else []) + ([sys.stdout] if json_out else []))
        scan_id = store.start_scan(source, limits)
        progress = ScanProgress(len(entrants)) if sys.stderr.isatty() else None
        t0 = time.monotonic()
        try:
            if progress is not None:
                progress.__enter__()
            done: list[Any] = []

            def on_outcome(o: Any) -> None:
                done.append(o)
                sink.write(o.record())

            try:
                outcomes = asyncio.run(scan_entrants(
                    entrants, store=store, probeset=probeset, classifier=classifier, settings=settings,
                    concurrency=limits["concurrency"], per_host=limits["per_host"], resume=limits["resume"],
                    scan_id=scan_id, events=progress, on_outcome=on_outcome))
            except KeyboardInterrupt:
                from ..errors import RunInterrupted
                raise RunInterrupted(f"{len(done)} of {len(entrants)} entrants finished; every answer received "
                                     "is saved, and the same command continues the rest") from None
        finally:
            if progress is not None:
                progress.__exit__(None, None, None)
        summary = summarize(outcomes, scan_id=scan_id, elapsed_s=time.monotonic() - t0, probeset=probeset.info())
        sink.write(summary)
        store.finish_scan(scan_id, summary)
    finally:
        if out_f is not None:
            out_f.close()
    return outcomes, summary


def write_scan_html(outcomes: Sequence[Any], summary: dict[str, Any], page: Path) -> None:
    """The scan's page at ``page`` and one page per entrant with a report in ``<stem>_entrants/``
    beside it (names made here: a number and the entrant's name reduced to safe characters)."""
    import re

    from rich.text import Text

    from ..report import write_atomic
    from .render_html import report_page, scan_page
    from .scan_view import summary_line

    folder = page.with_name(page.stem + "_entrants")
    rows = []
    for i, o in enumerate(outcomes, 1):
        href = None
        if o.report is not None:
            folder.mkdir(exist_ok=True)
            name = f"{i:03d}-{re.sub(r'[^A-Za-z0-9._-]+', '-', str(o.name)).strip('.-')[:60] or 'entrant'}.html"
            write_atomic(folder / name, report_page(o.report, back=f"../{page.name}"))
            href = f"{folder.name}/{name}"
        rows.append({"name": o.name, "href": href, "record": o.record(), "state": o.state, "elapsed_s": o.elapsed_s})
    write_atomic(page, scan_page(rows, summary, Text.from_markup(summary_line(summary)).plain))


class JsonlSink:
    """Writes records as JSON lines to several streams, flushing after each line."""

    def __init__(self, streams: Sequence[IO[str]]) -> None:
        self.streams = list(streams)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        for s in self.streams:
            s.write(line)
            s.flush()


def open_out(path: Any) -> IO[str]:
    from ..report import check_output_path
    p = check_output_path(path)
    try:
        return open(p, "w", encoding="utf-8")
    except OSError as e:
        from ..errors import ConfigError
        raise ConfigError(f"{p}: cannot write ({e.strerror or e})") from None
