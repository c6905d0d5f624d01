"""Rendering for the terminal. Everything from an endpoint is escaped here first.

``safe_text`` removes control characters and ANSI escapes and caps length;
``markup_escape`` additionally neutralises rich markup. Rich itself is imported
only inside the functions that draw tables.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(s: object, limit: int = 2000) -> str:
    """Untrusted text made inert for a terminal: no escapes, no control chars, capped."""
    t = "" if s is None else str(s)
    t = _ANSI.sub("", t)
    t = t.replace("\r\n", "\n").replace("\t", "    ")
    t = _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else "", t)
    if len(t) > limit:
        t = t[:limit] + f"... [{len(t) - limit} more chars]"
    return t


def safe_line(s: object, limit: int = 500) -> str:
    """Like safe_text, on one line."""
    return safe_text(s, limit).replace("\n", " ")


def markup_escape(s: object, limit: int = 2000) -> str:
    """safe_text plus rich markup escaping (for strings placed inside rich markup)."""
    from rich.markup import escape
    return escape(safe_text(s, limit))


def _pct(x: object) -> str:
    try:
        return f"{float(x) * 100:.0f}%"
    except (TypeError, ValueError):
        return "?"


HEADLINES = {
    "match": "Creator match",
    "ambiguous": "Aggressive creator guess (ambiguous)",
    "unknown": "No confident creator match",
    "failed": "Probe run failed",
}


def render_verdict(report: dict, console=None) -> None:
    """Print a report as a readable verdict, graded the way nmap grades OS guesses.

    Every string that came from the endpoint (or could have: model names,
    evidence quoting answers) goes through markup_escape.
    """
    from rich.console import Console
    from rich.table import Table

    con = console or Console(highlight=False, soft_wrap=False)
    a = report.get("attribution") or {}
    t = report.get("target") or {}
    status = str(a.get("status", "unknown"))
    head = HEADLINES.get(status, status)
    if t.get("protocol") == "manual":      # answers a person pasted from a chat page
        con.print(f"[bold]Target[/bold]   {markup_escape(t.get('model'), 120)}: answers pasted by hand"
                  f" ({markup_escape(t.get('source'), 200)})")
    else:
        con.print(f"[bold]Target[/bold]   {markup_escape(t.get('base_url'), 200)}  model={markup_escape(t.get('model'), 120)}"
                  f"  protocol={markup_escape(t.get('protocol'), 20)}")
    color = {"match": "green", "ambiguous": "yellow", "unknown": "cyan", "failed": "red"}.get(status, "white")
    creator = markup_escape(a.get("creator"), 80)
    if status == "unknown":
        cands0 = (a.get("candidates") or [{}])[0]
        guess = (f"; best guess {markup_escape(cands0.get('creator'), 60)} ({_pct(cands0.get('probability'))})"
                 if cands0.get("creator") else "")
        con.print(f"[bold {color}]{head}:[/bold {color}] unknown (P(unknown) {_pct(a.get('confidence'))}){guess}")
    else:
        con.print(f"[bold {color}]{head}:[/bold {color}] {creator} ({_pct(a.get('confidence'))})")
    fam = a.get("family")
    if isinstance(fam, dict) and fam.get("name"):
        con.print(f"  model family guess: {markup_escape(fam.get('name'), 80)} ({_pct(fam.get('confidence'))})")
    cands = a.get("candidates") or []
    if cands:
        line = ", ".join(f"{markup_escape(c.get('creator'), 60)} ({_pct(c.get('probability'))})" for c in cands[:5])
        con.print(f"  candidates: {line}")
    tok = a.get("tokenizer")
    if isinstance(tok, dict):
        if tok.get("family"):
            con.print(f"  tokenizer: {markup_escape(tok.get('family'), 60)} ({_pct(tok.get('confidence'))})")
        elif tok.get("reason"):
            con.print(f"  tokenizer: {markup_escape(tok.get('reason'), 120)}")
    stack = a.get("stack")
    if isinstance(stack, dict) and (stack.get("stack") or stack.get("reason")):
        label = stack.get("stack") or stack.get("reason")
        con.print(f"  serving stack: {markup_escape(label, 60)}"
                  + (f" ({_pct(stack.get('confidence'))})" if stack.get("confidence") is not None else ""))
    ev = a.get("evidence") or []
    if ev:
        table = Table(title="Strongest evidence", show_header=True, header_style="bold", title_justify="left")
        table.add_column("channel")
        table.add_column("evidence")
        table.add_column("probes")
        for e in ev[:8]:
            probes = ", ".join(str(p) for p in (e.get("probes") or [])[:4])
            table.add_row(markup_escape(e.get("channel"), 20), markup_escape(e.get("text"), 300),
                          markup_escape(probes, 200))
        con.print(table)
    rel = a.get("reliability") or []
    if rel:
        con.print("[bold]Why this may be unreliable:[/bold]")
        for r in rel[:8]:
            con.print(f"  - {markup_escape(r, 300)}")
    s = report.get("summary") or {}
    cost = report.get("cost") or {}
    clf = report.get("classifier") or {}
    con.print(f"[dim]probes: {s.get('ok', 0)} ok, {s.get('failed', 0)} failed, {s.get('skipped', 0)} skipped"
              f" | tokens: {cost.get('tokens_total', '?')} ({markup_escape(cost.get('basis'), 20)})"
              f" | classifier: {markup_escape(clf.get('name'), 60)} {markup_escape(clf.get('version'), 30)}"
              f" | run {markup_escape((report.get('run') or {}).get('id'), 40)}[/dim]")
