"""`provenance runs list|show`: the runs kept in the local run store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import DB_HELP


def _verdict_cell(r: dict) -> str:
    """What a stored run concluded: a `verify` run's claim verdict ('inconsistent (claims OpenAI)'),
    else the creator ('Alibaba 93%', 'Alibaba? 48%', 'unknown'); a run without a report, its status;
    a run the deadline cut, its verdict marked '(partial)'."""
    status = str(r.get("status") or "")
    verdict, creator, conf = r.get("verdict"), r.get("creator"), r.get("confidence")
    pct = f" {conf * 100:.0f}%" if isinstance(conf, (int, float)) else ""
    if status not in ("complete", "partial"):
        return status or "-"
    tail = " (partial)" if status == "partial" else ""
    claim = r.get("claim")
    if isinstance(claim, dict) and claim.get("verdict") and not r.get("scan_id"):   # a verify run
        return f"{claim['verdict']} (claims {claim.get('creator')}){tail}"
    if verdict == "match":
        return f"{creator}{pct}{tail}"
    if verdict == "ambiguous":
        return f"{creator}?{pct}{tail}"
    return str(verdict or creator or "-") + tail


def runs_table(rows: list[dict], width: int):
    """Stored runs as a table that fits ``width`` columns: id, time, model and verdict always
    (the id never cut: `runs show` takes it); the endpoint and probe counts when there is room;
    only the model and endpoint columns shrink, with an ellipsis."""
    from rich import box
    from rich.table import Table
    from .render import markup_escape as esc
    wide = width >= 110
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    id_w = max([len(str(r["id"])) for r in rows] + [2])
    verdict_w = min(32, max([len(_verdict_cell(r)) for r in rows] + [7]))
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


def register(app: typer.Typer) -> None:
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
        from ..probing.store import RunStore
        with RunStore.open(db) as store:
            rows = store.list_runs(scan_id=scan_id, limit=limit)
        if json_out:
            from .common import emit_json
            emit_json(rows)
            return
        from rich.console import Console
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
        from ..probing.store import RunStore
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
            from .render import markup_escape as esc
            p = row.get("probes") or {}
            con.print(f"run {esc(row['id'], 40)}  status [bold]{esc(row['status'], 20)}[/bold]  "
                      f"probes {p.get('ok', 0)} ok / {p.get('total', 0)} recorded")
            if row.get("error"):
                con.print(f"error: {esc(row['error'], 500)}")
            if row.get("incomplete"):
                con.print(esc(row["incomplete"], 300))
            rid = esc(row["id"], 40)
            con.print(f"no report: `provenance classify --run {rid}` classifies what it recorded; "
                      f"`provenance probe --resume {rid}` continues it")
            return
        if isinstance(report.get("claim"), dict):          # a verify run: the claim check first
            from .render_claim import render_claim_and_verdict
            render_claim_and_verdict(report, con)
            return
        from .render import render_verdict
        render_verdict(report, con)
