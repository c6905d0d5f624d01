"""The verdict on the terminal (``render_verdict``), and the helpers every CLI view uses.

Everything from an endpoint is escaped here first: ``safe_text`` (``text_safety.py``)
removes control characters and ANSI escapes and caps length; ``markup_escape``
additionally neutralises rich markup. ``pct`` writes a probability as a percentage.
Rich itself is imported only inside the functions that draw. The other views:
``render_claim.py`` (a claim check), ``scan_view.py`` (a scan's table),
``progress.py`` (live progress), ``runs_cmd.py`` (stored runs), ``train_cmd.py``
(evaluation figures).
"""

from __future__ import annotations

from ..classifier.lineage import describe as describe_lineage
from ..text_safety import safe_text


def markup_escape(s: object, limit: int = 2000) -> str:
    """safe_text plus rich markup escaping (for strings placed inside rich markup)."""
    from rich.markup import escape
    return escape(safe_text(s, limit))


def pct(x: object, digits: int = 0, missing: str = "?") -> str:
    """A probability as a percentage ('37%'), ``missing`` when it is not a number. With
    ``digits`` (claim checks: 1), a small non-zero value gets the digits it needs
    (0.004%, 0.42%) instead of rounding to nothing."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return missing
    if digits:
        if 0 < v < 0.001:
            return f"{v * 100:.3f}%"
        if 0 < v < 0.01:
            return f"{v * 100:.2f}%"
    return f"{v * 100:.{digits}f}%"


def _tokens(cost: dict) -> str:
    if cost.get("basis") == "none" or (not cost.get("tokens_total") and not cost.get("probes_with_usage")
                                       and not cost.get("probes_estimated") and "basis" in cost):
        return "none counted (no answer)"
    return f"{cost.get('tokens_total', '?')} ({markup_escape(cost.get('basis'), 20)})"


HEADLINES = {
    "match": "Creator match",
    "ambiguous": "Aggressive creator guess (ambiguous)",
    "unknown": "No confident creator match",
    "failed": "Probe run failed",
}


def best_guess_of(a: dict) -> dict:
    """The report's best guess (``attribution.best_guess``), or for a report written before it
    existed, the first candidate with nothing excluded."""
    bg = a.get("best_guess")
    if isinstance(bg, dict) and isinstance(bg.get("excluded", []), list):
        return bg
    c0 = next((c for c in (a.get("candidates") or []) if isinstance(c, dict)), {})
    return {"creator": c0.get("creator"), "probability": c0.get("probability"), "excluded": [], "tokenizer": None}


def unknown_lines(a: dict, esc=None, head=None) -> list[str]:
    """The lines of an ``unknown`` verdict (rich markup, endpoint text escaped).

    One meaning per percentage on a line: P(unknown) on its own; the best guess and the
    candidates are probabilities if the maker is one the classifier knows. A candidate the
    tokenizer excludes is never the best guess: it is named in a note. ``esc(text, limit)``
    and ``head(title)`` make the same lines for another medium (``render_html.py``: HTML).
    """
    markup_escape = esc or globals()["markup_escape"]
    head = head or (lambda title: f"[bold cyan]{title}:[/bold cyan]")
    bg = best_guess_of(a)
    excluded = [e for e in bg.get("excluded") or [] if isinstance(e, dict)]
    ex_names = {str(e.get("creator")) for e in excluded}
    cands = [c for c in (a.get("candidates") or []) if isinstance(c, dict)]
    tok = markup_escape(bg.get("tokenizer") or "?", 40)
    top = cands[0] if cands else {}
    out: list[str] = []
    if top and str(top.get("creator")) in ex_names:
        out.append(f"{head(HEADLINES['unknown'])} unknown: the tokenizer ({tok}) rules out "
                   "the answers' best guess")
        out.append(f"  P(unknown) from the answers alone: {pct(a.get('confidence'))}")
    else:
        out.append(f"{head(HEADLINES['unknown'])} unknown (P(unknown) {pct(a.get('confidence'))})")
    if bg.get("creator"):
        out.append(f"  best guess, if the maker is one this classifier knows: "
                   f"{markup_escape(bg.get('creator'), 60)} ({pct(bg.get('probability'))})")
    elif cands:
        out.append(f"  best guess: none; no maker this classifier knows fits the tokenizer ({tok})")
    # name the excluded candidates that rank above the best guess (all of them: the first
    # when none is allowed), one note each
    for c in cands:
        name = str(c.get("creator"))
        if bg.get("creator") and name == str(bg.get("creator")):
            break
        if name in ex_names:
            out.append(f"  note: the answers alone favour {markup_escape(name, 60)} "
                       f"({pct(c.get('probability'))}), which the tokenizer ({tok}) rules out")
            if not bg.get("creator"):
                break
    allowed = [c for c in cands[:5] if str(c.get("creator")) not in ex_names]
    ruled = [c for c in cands[:5] if str(c.get("creator")) in ex_names]
    fmt = lambda cs: ", ".join(f"{markup_escape(c.get('creator'), 60)} ({pct(c.get('probability'))})"  # noqa: E731
                               for c in cs)
    lin = describe_lineage(a.get("lineage") if isinstance(a.get("lineage"), dict) else None)
    if lin:
        out.append(f"  {markup_escape(lin, 120)} (a fine-tune of open weights shares them; not its maker)")
    if allowed:
        out.append(f"  candidates, if the maker is one this classifier knows: {fmt(allowed)}")
    if ruled:
        out.append(f"  ruled out by the tokenizer: {fmt(ruled)}")
    return out


def probe_counts(report: dict) -> str:
    """'212 ok, 0 failed, 0 skipped'; probes given up unsent and those the deadline cut are not
    counted as failed ('0 ok, 4 failed, 208 not sent', '16 ok, 0 failed, 196 cut by the deadline'),
    and a failed run's only 'ok' probe, the API-surface one whose error reply is its observation,
    says so."""
    s = report.get("summary") or {}
    probes = [p for p in report.get("probes") or [] if isinstance(p, dict)]
    from ..transcript import ErrorKind, failure_kind
    kinds = [failure_kind(p) for p in probes]
    unsent = kinds.count(ErrorKind.NOT_ANSWERING)
    cut = kinds.count(ErrorKind.DEADLINE)
    ok = s.get("ok", 0)
    failed_run = (report.get("attribution") or {}).get("status") == "failed"
    ok_text = f"{ok} ok" + (" (the API-surface probe: its error reply is what it observes)"
                            if failed_run and ok and all(p.get("family") == "api" for p in probes
                                                         if p.get("status") == "ok") else "")
    return (f"{ok_text}, {s.get('failed', 0) - unsent - cut} failed" + (f", {unsent} not sent" if unsent else "")
            + (f", {cut} cut by the deadline" if cut else "") + f", {s.get('skipped', 0)} skipped")


def render_verdict(report: dict, console=None, stored: bool = True) -> None:
    """Print a report as a readable verdict, graded the way nmap grades OS guesses.

    Every string that came from the endpoint (or could have: model names,
    evidence quoting answers) goes through markup_escape. ``stored``: False when the run is not
    in the run store (``--no-store``, the demo): its id is then marked "(not stored)".
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
        for line in unknown_lines(a):
            con.print(line)
    elif status == "failed":
        why = next(iter(a.get("reliability") or []), "no probe succeeded")
        con.print(f"[bold {color}]{head}:[/bold {color}] {markup_escape(why, 300)}")
    else:
        con.print(f"[bold {color}]{head}:[/bold {color}] {creator} ({pct(a.get('confidence'))})")
        fam = a.get("family")
        if isinstance(fam, dict) and fam.get("name"):
            con.print(f"  model family guess: {markup_escape(fam.get('name'), 80)} ({pct(fam.get('confidence'))})")
        cands = a.get("candidates") or []
        if cands:
            # the headline states P(named creator right), the chance of an unknown maker included;
            # the candidates are the posterior among the makers the classifier knows
            line = ", ".join(f"{markup_escape(c.get('creator'), 60)} ({pct(c.get('probability'))})" for c in cands[:5])
            con.print(f"  candidates, if the maker is one this classifier knows: {line}")
    tok = a.get("tokenizer")
    if isinstance(tok, dict):
        # the classifier stores {available, summary: {family, label, confidence}, reason}
        ts = tok.get("summary") if isinstance(tok.get("summary"), dict) else tok
        if ts.get("family"):
            con.print(f"  tokenizer: {markup_escape(ts.get('label') or ts.get('family'), 60)}"
                      f" ({pct(ts.get('confidence'))} match)")
        elif tok.get("reason"):
            con.print(f"  tokenizer: {markup_escape(tok.get('reason'), 120)}")
    stack = a.get("stack")
    if isinstance(stack, dict):
        ss = stack.get("summary") if isinstance(stack.get("summary"), dict) else stack
        label = ss.get("label") or ss.get("stack") or stack.get("reason")
        if label:
            con.print(f"  serving stack: {markup_escape(label, 60)}"
                      + (f" ({pct(ss.get('confidence'))} match)"
                         if ss.get("stack") not in (None, "", "unrecognised") and ss.get("confidence") is not None else ""))
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
    if status == "failed":
        rel = rel[1:]                 # the first is the headline's reason
    if rel:
        con.print("[bold]Why this may be unreliable:[/bold]")
        for r in rel[:8]:
            con.print(f"  - {markup_escape(r, 300)}")
    s = report.get("summary") or {}
    cost = report.get("cost") or {}
    clf = report.get("classifier") or {}
    con.print(f"[dim]probes: {probe_counts(report)}"
              f" | tokens: {_tokens(cost)}"
              f" | classifier: {markup_escape(clf.get('name'), 60)} {markup_escape(clf.get('version'), 30)}"
              f" | run {markup_escape((report.get('run') or {}).get('id'), 40)}"
              + ("" if stored else " (not stored)") + "[/dim]")
