"""`provenance report schema|export`."""

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
