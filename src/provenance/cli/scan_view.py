"""A scan on the terminal: the final table (``render_table``) and its summary lines.

Everything that came from an endpoint or an entrants file goes through
``render.markup_escape``; rich is imported only inside ``render_table``.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..probing.scan import STATE_ERROR, STATE_REUSED, STATE_UNUSABLE, Outcome, unusable_why
from .render import markup_escape as esc
from .render import pct


def _sub(d: Any, key: str) -> str | None:
    return d.get(key) if isinstance(d, dict) else None


def render_table(outcomes: Sequence[Outcome], summary: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    from .render_claim import claim_cell

    table = Table(title="Scan results", title_justify="left", header_style="bold")
    for col in ("entrant", "creator", "confidence", "status", "claim", "tokenizer", "stack", "time"):
        table.add_column(col, justify="right" if col in ("confidence", "time") else "left")
    colors = {"match": "green", "ambiguous": "yellow", "unknown": "cyan", "failed": "red"}
    for o in outcomes:
        a = o.attribution
        if o.state == STATE_ERROR:
            status, creator = "[red]error[/red]", esc(o.error, 80)
        elif o.state == STATE_UNUSABLE:
            status, creator = "[red]unusable[/red]", esc(unusable_why(o), 80)
        else:
            st = str(a.get("status", "?"))
            status = f"[{colors.get(st, 'white')}]{esc(st, 20)}[/]" + (" (stored)" if o.state == STATE_REUSED else "")
            creator = esc(a.get("creator"), 60)
        table.add_row(esc(o.name, 60), creator, pct(a.get("confidence"), missing="-") if o.report else "-", status,
                      claim_cell((o.report or {}).get("claim")),
                      esc(_sub(a.get("tokenizer"), "family") or "-", 30),
                      esc(_sub(a.get("stack"), "stack") or "-", 30), f"{o.elapsed_s:.1f}s")
    console.print(table)
    console.print(summary_line(summary))
    line = claims_line(summary)
    if line:
        console.print(line)


def claims_line(s: dict[str, Any]) -> str:
    """'3 of 40 entrants inconsistent with their claimed maker (...)', or '' when none was checked."""
    c = s.get("claims") or {}
    if not c.get("checked"):
        return ""
    return (f"{c['inconsistent']} of {s['entrants']} entrants inconsistent with their claimed maker "
            f"({c['checked']} checked: {c['consistent']} consistent, {c['inconclusive']} inconclusive"
            + (f"; {c['not_checked']} without a claim" if c.get("not_checked") else "") + ")")


def summary_line(s: dict[str, Any]) -> str:
    parts = [f"{s['entrants']} entrants: {s['complete']} probed, {s['reused']} from earlier runs, "
             f"{s['unusable']} unusable, {s['error']} errors"]
    if s.get("creators"):
        parts.append("creators: " + ", ".join(f"{esc(k, 40)} {v}" for k, v in list(s["creators"].items())[:8]))
    rl = s.get("rate_limited") or {}
    if rl.get("entrants"):
        refused = rl.get("refused") or {}
        parts.append(f"rate limited: {rl['entrants']} entrants, {sum(refused.values())} requests refused ("
                     + ", ".join(f"HTTP {k}: {v}" for k, v in refused.items())
                     + f"), {rl.get('paused_s', 0):.0f}s waiting as asked")
    if s.get("elapsed_s") is not None:
        parts.append(f"{s['elapsed_s']:.1f}s")
    return " | ".join(parts)
