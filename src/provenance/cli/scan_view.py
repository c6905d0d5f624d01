"""A scan on the terminal: the final table (``render_table``) and its summary lines.

Everything that came from an endpoint or an entrants file goes through
``render.markup_escape``; rich is imported only inside ``render_table``.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..probing.store import serving_stack, tokenizer_family
from ..probing.scan import STATE_ERROR, STATE_REUSED, STATE_UNUSABLE, Outcome, unusable_why
from .render import markup_escape as esc
from .render import pct


def cut_text(inc: Any) -> str:
    """'answered 21 of 212, deadline' for an entrant whose deadline cut probes."""
    return f"answered {inc.get('answered', '?')} of {inc.get('of', '?')}, {inc.get('why', 'deadline')}"


def render_table(outcomes: Sequence[Outcome], summary: dict[str, Any], console: Any) -> None:
    """The table, then why each unusable or broken entrant failed and what the deadline cut of each
    entrant it cut (in full, below the table, so a narrow terminal or a pipe wraps the reason
    instead of cutting it), then the summary lines."""
    from rich.table import Table

    from .render_claim import claim_cell

    table = Table(title="Scan results", title_justify="left", header_style="bold")
    for col in ("entrant", "creator", "confidence", "status", "claim", "tokenizer", "stack", "time"):
        table.add_column(col, justify="right" if col in ("confidence", "time") else "left")
    colors = {"match": "green", "ambiguous": "yellow", "unknown": "cyan", "failed": "red"}
    why_lines = []
    for o in outcomes:
        a = o.attribution
        if o.state == STATE_ERROR:
            status, creator = "[red]error[/red]", "-"
            why_lines.append(f"  [red]error[/red] {esc(o.name, 60)}: {esc(o.error, 600)}")
        elif o.state == STATE_UNUSABLE:
            status, creator = "[red]unusable[/red]", "-"
            why_lines.append(f"  [red]unusable[/red] {esc(o.name, 60)}: {esc(unusable_why(o), 600)}")
        else:
            st = str(a.get("status", "?"))
            status = f"[{colors.get(st, 'white')}]{esc(st, 20)}[/]" + (" (stored)" if o.state == STATE_REUSED else "")
            if o.incomplete:
                status += " [yellow](cut)[/yellow]"
                why_lines.append(f"  [yellow]cut[/yellow] {esc(o.name, 60)}: {esc(cut_text(o.incomplete), 80)}")
            creator = esc(a.get("creator"), 60)
        table.add_row(esc(o.name, 60), creator, pct(a.get("confidence"), missing="-") if o.state not in
                      (STATE_ERROR, STATE_UNUSABLE) and o.report else "-", status,
                      claim_cell((o.report or {}).get("claim")),
                      esc(tokenizer_family(a) or "-", 30), esc(serving_stack(a) or "-", 30), f"{o.elapsed_s:.1f}s")
    console.print(table)
    for line in why_lines:
        console.print(line, soft_wrap=True)
    console.print(summary_line(summary), soft_wrap=True)
    line = claims_line(summary)
    if line:
        console.print(line, soft_wrap=True)


def claims_line(s: dict[str, Any]) -> str:
    """'3 of 40 entrants inconsistent with their claimed maker (...)', or '' when none was checked."""
    c = s.get("claims") or {}
    if not c.get("checked"):
        return ""
    return (f"{c['inconsistent']} of {s['entrants']} entrants inconsistent with their claimed maker "
            f"({c['checked']} checked: {c['consistent']} consistent, {c['inconclusive']} inconclusive"
            + (f"; {c['not_checked']} without a claim" if c.get("not_checked") else "") + ")")


def summary_line(s: dict[str, Any]) -> str:
    cut = s.get("cut_by_deadline") or 0
    probed = f"{s['complete']} probed" + (f" ({cut} cut by the deadline: the same command resumes "
                                          f"{'it' if cut == 1 else 'them'})" if cut else "")
    parts = [f"{s['entrants']} entrants: {probed}, {s['reused']} from earlier runs, "
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
