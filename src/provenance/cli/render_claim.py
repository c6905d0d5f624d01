"""Terminal rendering of a report's claim check (``provenance verify``, ``classify``).

Everything that came from an endpoint or a user (model names, claims, evidence
quoting answers) goes through ``render.markup_escape``.
"""

from __future__ import annotations

from typing import Any, Mapping

from .render import markup_escape as esc
from .render import pct

COLORS = {"consistent": "green", "inconsistent": "red", "inconclusive": "yellow"}
MARKS = {"contradicts": "against", "supports": "for", "neutral": "-"}


def claim_cell(c: Mapping[str, Any] | None) -> str:
    """One short cell for a scan table: 'OpenAI: inconsistent'."""
    if not isinstance(c, Mapping):
        return "-"
    v = str(c.get("verdict") or "?")
    return f"{esc(c.get('creator'), 40)}: [{COLORS.get(v, 'white')}]{esc(v, 20)}[/]"


def render_claim(report: Mapping[str, Any], console: Any) -> None:
    from rich.table import Table

    c = report.get("claim")
    if not isinstance(c, Mapping):
        return
    v = str(c.get("verdict") or "inconclusive")
    color = COLORS.get(v, "white")
    fam = f" ({esc(c.get('family'), 60)})" if c.get("family") else ""
    src = str(c.get("source") or "")
    given = esc(c.get("given"), 120)
    where = f"from the model name {given!s}" if src == "model name" else f"from {esc(src, 30)} {given}"
    console.print(f"[bold]Claim[/bold]    {esc(c.get('creator'), 60)}{fam}, {where}")
    p = c.get("probability")
    # the posterior among the makers the classifier knows, as the verdict's candidates line states it
    # (the verdict's own percentage is another quantity: P(named creator right), unknown makers and
    # fine-tunes allowed for), so it says so: one meaning per probability on the screen
    pt = (f"P({esc(c.get('creator'), 60)}) {pct(p, 1)}, if the maker is one this classifier knows"
          if p is not None else "no probability for this maker")
    console.print(f"[bold {color}]Verdict: {esc(v.upper(), 20)}[/bold {color}]  {pt}"
                  + (" (decided by the tokenizer)" if c.get("decided_by") == "tokenizer" else ""))
    if c.get("reason"):
        console.print(f"  {esc(c.get('reason'), 400)}")
    th = c.get("thresholds") or {}
    if th:
        console.print(f"  [dim]thresholds: inconsistent below {pct(th.get('inconsistent_below'), 1)}, consistent at "
                      f"{pct(th.get('consistent_at'), 1)} or above ({esc(th.get('source'), 40)})[/dim]")
    ev = c.get("evidence") or []
    if ev:
        t = Table(title="Evidence on the claim", title_justify="left", header_style="bold")
        t.add_column("")
        t.add_column("channel")
        t.add_column("evidence")
        for e in ev[:8]:
            st = str(e.get("stance") or "neutral")
            mark = {"contradicts": "[red]against[/red]", "supports": "[green]for[/green]"}.get(st, "-")
            t.add_row(mark, esc(e.get("channel"), 20), esc(e.get("text"), 300))
        console.print(t)
    tokens = c.get("tokens")
    sent = esc(c.get("probes_sent", "?"), 20)
    console.print(f"  [dim]took {sent} probes, {esc(tokens if tokens is not None else '?', 20)} tokens"
                  + (f"; stopped: {esc(c.get('stopped_because'), 120)}" if c.get("stopped_because") else "")
                  + "[/dim]")


def render_claim_and_verdict(report: Mapping[str, Any], console: Any = None) -> None:
    """The claim check, a blank line, then the verdict (``verify``, ``classify``, ``runs show``)."""
    from rich.console import Console

    from .render import render_verdict
    con = console or Console(highlight=False, soft_wrap=False)
    render_claim(report, con)
    con.print()
    render_verdict(report, con)
