"""`provenance report schema|export|html`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Report format and export of stored runs.", no_args_is_help=True)
    app.add_typer(group, name="report")

    @group.command("schema")
    def schema() -> None:
        """Print the JSON Schema of the attribution report."""
        from .common import emit_json
        from ..report import report_schema
        emit_json(report_schema())

    @group.command("export")
    def export(
        run_id: str = typer.Argument(..., help="Run id (see `provenance runs list`)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to this file (atomically) instead of stdout."),
        db: Optional[Path] = typer.Option(None, "--db", help="Run store path (default: $PROVENANCE_DB or your data directory)."),
    ) -> None:
        """Export a stored run as its JSON report.

        Example: provenance report export 018f2a7c3b1e9d2f4a6c -o report.json
        """
        from .common import emit_json
        from ..report import dumps, write_atomic
        from ..probing.store import RunStore
        with RunStore.open(db) as store:
            report = store.load_report(run_id)
        if output is not None:
            write_atomic(output, dumps(report) + "\n")
        else:
            emit_json(report)

    @group.command("html", epilog=HTML_EPILOG)
    def html_cmd(
        source: str = typer.Argument(..., metavar="REPORT.json|RUN_ID",
                                     help="A JSON report (probe --json / -o), or a stored run's id (`provenance runs list`)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the page to this file (atomically) instead of stdout."),
        db: Optional[Path] = typer.Option(None, "--db", help="Run store path, for a run id (default: $PROVENANCE_DB or your data directory)."),
    ) -> None:
        """Write a report as one self-contained HTML page to share: the verdict, pictures of the
        candidates and of the evidence by channel, the reliability notes and every raw answer
        (collapsible). No script, nothing loaded from elsewhere; every answer is shown as inert text."""
        from ..report import write_atomic
        from .render_html import report_page
        report = load_report_arg(source, db)
        page = report_page(report)
        if output is not None:
            write_atomic(output, page)
        else:
            import sys
            sys.stdout.write(page)


HTML_EPILOG = """Examples:

  provenance probe http://127.0.0.1:8080/v1 -m qwen -o report.json && provenance report html report.json -o page.html

  provenance report html 018f2a7c3b1e9d2f4a6c -o page.html       # a stored run (provenance runs list)

  provenance scan entrants.yaml --html scan.html                  # a scan: one row per entrant, each linked to its page
"""


def load_report_arg(source: str, db: Optional[Path]) -> dict:
    """A report from a file when ``source`` names one, else from the run store by run id (a
    prefix is enough); one-line errors either way."""
    from ..errors import ConfigError
    from ..report import read_report
    p = Path(source)
    if p.exists():
        return read_report(p)
    if not source or not all(c.isalnum() or c in "-_" for c in source) or len(source) > 64:
        raise ConfigError(f"{source[:200]!r}: no such report file, and not a run id")
    from ..probing.store import RunStore
    with RunStore.open(db) as store:
        return store.load_report(store.resolve_id(source))
