"""A report as one self-contained HTML page, and a scan as a page of rows linked to them.

``report_page(report) -> str`` and ``scan_page(rows, summary) -> str``: standard library
only, no script. What a reader gets:

* the verdict, as the terminal states it (``render.unknown_lines`` for ``unknown``), the
  target, the run, the classifier and the probe set;
* two pictures drawn with CSS bars: the candidates' probabilities (those the tokenizer
  rules out marked) and the evidence by channel (which maker each channel favours and how
  strongly; the tokenizer's and the serving stack's match);
* the strongest evidence, linked to the probes behind it, and the reliability notes;
* every probe, collapsible (``<details>``): its prompt, the raw answer or why it failed.

Every answer is hostile input. Each piece of text from a report (answers, model names,
headers, evidence lines, even probe ids: a report file can be hand-made) is made inert
before it is written: control characters and terminal escapes removed and length capped
(``text_safety.safe_text``), directional overrides and isolates (U+202A..U+202E,
U+2066..U+2069, U+200E/F, U+061C) shown as ``[U+202E]`` rather than obeyed, then HTML-escaped
(quotes included), and set in elements that isolate its direction (``<bdi>``,
``unicode-bidi: isolate``). No link is made from report text: the only links are anchors
to probes (ids reduced to ``[A-Za-z0-9._-]``) and, on a scan page, the entrant pages it
wrote itself. The page carries a Content-Security-Policy (``default-src 'none'``: no
script, no frame, nothing fetched from anywhere; inline styles only), so even a payload
that got through could neither run nor load anything.
"""

from __future__ import annotations

import html
import re
from typing import Any, Iterable, Sequence

from ..text_safety import safe_text
from .render import HEADLINES, best_guess_of, pct, unknown_lines

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ANCHOR = re.compile(r"[^A-Za-z0-9._-]")
ANSWER_CHARS = 20_000          # of one answer on the page (the report keeps it whole)
COLORS = {"match": "#1a7f37", "ambiguous": "#9a6700", "unknown": "#0969da", "failed": "#cf222e"}

STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       background: #fff; margin: 0 auto; max-width: 1100px; padding: 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem;
       border-bottom: 1px solid #d0d7de; padding-bottom: .25rem; }
.verdict { border-left: 6px solid var(--c); padding: .6rem 1rem; background: #f6f8fa; margin: 1rem 0; }
.verdict .head { font-size: 1.25rem; font-weight: 600; color: var(--c); }
.verdict p { margin: .2rem 0; }
bdi, .t { unicode-bidi: isolate; }
.meta { color: #59636e; font-size: .9rem; } .meta td { padding: 0 .8rem .1rem 0; vertical-align: top; }
table.bars { border-collapse: collapse; width: 100%; } table.bars td, table.bars th { padding: .15rem .4rem;
       text-align: left; vertical-align: middle; font-weight: normal; }
table.bars th { width: 13rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 13rem; }
.track { background: #eaeef2; height: .9rem; border-radius: 3px; min-width: 12rem; }
.bar { background: #0969da; height: .9rem; border-radius: 3px; }
.bar.out { background: repeating-linear-gradient(45deg, #d0d7de, #d0d7de 4px, #eaeef2 4px, #eaeef2 8px); }
.num { text-align: right; white-space: nowrap; width: 4rem; font-variant-numeric: tabular-nums; }
.note { color: #59636e; font-size: .88rem; }
table.ev { border-collapse: collapse; width: 100%; } table.ev td, table.ev th { border: 1px solid #d0d7de;
       padding: .3rem .5rem; vertical-align: top; text-align: left; }
table.ev th { background: #f6f8fa; }
ul.rel li { margin: .15rem 0; }
details { border: 1px solid #d0d7de; border-radius: 4px; margin: .25rem 0; padding: .2rem .6rem; }
details > summary { cursor: pointer; } summary .st { font-weight: 600; }
.ok { color: #1a7f37; } .failed { color: #cf222e; } .skipped { color: #59636e; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: .5rem; margin: .3rem 0;
      unicode-bidi: isolate; direction: ltr; font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
.label { color: #59636e; font-size: .85rem; margin-top: .4rem; }
table.scan { border-collapse: collapse; width: 100%; } table.scan td, table.scan th { border-bottom: 1px solid #d0d7de;
       padding: .3rem .5rem; text-align: left; } table.scan td.num, table.scan th.num { text-align: right; }
footer { margin-top: 2rem; color: #59636e; font-size: .85rem; }
"""


def h(s: object, limit: int = 2000) -> str:
    """Untrusted text made inert for HTML: overrides shown, not obeyed; controls gone; capped; escaped."""
    t = "" if s is None else str(s)
    t = _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", t)
    return html.escape(safe_text(t, limit), quote=True)


def anchor(i: int, probe_id: object) -> str:
    """The id attribute of the i-th probe's block: only characters that need no escaping."""
    return f"p{i}-" + _ANCHOR.sub("_", str(probe_id))[:80]


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _num(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def _width(frac: float | None) -> str:
    """A bar's width from a number we computed (never from text): 0..100%."""
    v = 0.0 if frac is None else min(1.0, max(0.0, frac))
    return f"{v * 100:.1f}%"


# ------------------------------------------------------------------------------ the verdict

def verdict_html(report: dict) -> tuple[str, str]:
    """(the headline in plain words, the verdict block) of a report."""
    a = report.get("attribution") or {}
    status = str(a.get("status", "unknown"))
    color = COLORS.get(status, "#59636e")
    lines: list[str] = []
    if status == "unknown":
        got = unknown_lines(a, esc=h, head=lambda title: f"<span class=\"head\">{h(title)}:</span>")
        lines = [got[0]] + [x.strip() for x in got[1:]]
        short = f"unknown (P(unknown) {pct(a.get('confidence'))})"
    elif status == "failed":
        why = next(iter(a.get("reliability") or []), "no probe succeeded")
        lines = [f"<span class=\"head\">{h(HEADLINES['failed'])}:</span> {h(why, 300)}"]
        short = "failed"
    else:
        lines = [f"<span class=\"head\">{h(HEADLINES.get(status, status))}:</span> "
                 f"<bdi>{h(a.get('creator'), 80)}</bdi> ({pct(a.get('confidence'))})"]
        fam = a.get("family")
        if isinstance(fam, dict) and fam.get("name"):
            lines.append(f"model family guess: <bdi>{h(fam.get('name'), 80)}</bdi> ({pct(fam.get('confidence'))})")
        short = f"{safe_text(a.get('creator'), 80)} ({pct(a.get('confidence'))})"
    tok = a.get("tokenizer")
    if isinstance(tok, dict):
        ts = tok.get("summary") if isinstance(tok.get("summary"), dict) else tok
        if ts.get("family"):
            lines.append(f"tokenizer: <bdi>{h(ts.get('label') or ts.get('family'), 60)}</bdi> "
                         f"({pct(ts.get('confidence'))} match)")
    stack = a.get("stack")
    if isinstance(stack, dict):
        ss = stack.get("summary") if isinstance(stack.get("summary"), dict) else stack
        label = ss.get("label") or ss.get("stack")
        if label:
            lines.append(f"serving stack: <bdi>{h(label, 60)}</bdi>")
    body = "".join(f"<p>{x}</p>" for x in lines)
    return short, f"<section class=\"verdict\" style=\"--c: {color}\">{body}</section>"


# ------------------------------------------------------------------------------ pictures

def candidates_html(a: dict) -> str:
    cands = [c for c in (a.get("candidates") or []) if isinstance(c, dict)][:10]
    if not cands:
        return ""
    out = {str(e.get("creator")) for e in (best_guess_of(a).get("excluded") or []) if isinstance(e, dict)}
    rows = []
    for c in cands:
        p = _num(c.get("probability"))
        ruled = str(c.get("creator")) in out
        rows.append(f"<tr><th><bdi>{h(c.get('creator'), 60)}</bdi></th><td><div class=\"track\">"
                    f"<div class=\"bar{' out' if ruled else ''}\" style=\"width: {_width(p)}\"></div></div></td>"
                    f"<td class=\"num\">{pct(p)}</td>"
                    f"<td class=\"note\">{'ruled out by the tokenizer' if ruled else ''}</td></tr>")
    return ("<h2>Candidates</h2><p class=\"note\">Probabilities among the makers this classifier knows"
            " (the verdict's own confidence also allows for a maker it does not know).</p>"
            f"<table class=\"bars\">{''.join(rows)}</table>")


MARGIN_FULL = 8.0      # a channel's log-odds margin drawn as a full bar


def channels_html(a: dict) -> str:
    chans = a.get("channels")
    if not isinstance(chans, dict):
        return ""
    rows = []
    for name, v in chans.items():
        if not isinstance(v, dict) or not ({"favours", "available", "summary"} & set(v)):
            continue            # not a channel (the posterior, P(unknown))
        if "favours" in v:
            m = _num(v.get("log_odds_margin")) or 0.0
            n = v.get("answers")
            what = (f"favours <bdi>{h(v.get('favours'), 60)}</bdi> by {m:.2f} log-odds"
                    + (f" over {int(n)} answers" if isinstance(n, int) else ""))
            frac = m / MARGIN_FULL
            num = f"{m:+.1f}"
        else:
            s = v.get("summary") if isinstance(v.get("summary"), dict) else {}
            label = s.get("label") or s.get("family") or s.get("stack")
            if not v.get("available", True) or not label:
                reason = v.get("reason") or "not measured"
                rows.append(f"<tr><th>{h(name, 30)}</th><td colspan=\"2\" class=\"note\">{h(reason, 160)}</td><td></td></tr>")
                continue
            frac = _num(s.get("confidence"))
            what = f"matches <bdi>{h(label, 60)}</bdi>"
            num = pct(frac)
        rows.append(f"<tr><th>{h(name, 30)}</th><td><div class=\"track\"><div class=\"bar\" "
                    f"style=\"width: {_width(frac)}\"></div></div></td><td class=\"num\">{num}</td>"
                    f"<td class=\"note\">{what}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Evidence by channel</h2><p class=\"note\">Each answer channel's favourite maker and by how much "
            f"(log-odds over the next; a full bar is {MARGIN_FULL:g} or more); the tokenizer and the serving stack: "
            f"how well they match.</p><table class=\"bars\">{''.join(rows)}</table>")


# ------------------------------------------------------------------------------ evidence, notes, probes

def evidence_html(a: dict, anchors: dict[str, str]) -> str:
    ev = [e for e in (a.get("evidence") or []) if isinstance(e, dict)][:12]
    if not ev:
        return ""
    rows = []
    for e in ev:
        links = ", ".join(f"<a href=\"#{anchors[str(p)]}\">{h(p, 80)}</a>" if str(p) in anchors else h(p, 80)
                          for p in (e.get("probes") or [])[:6])
        rows.append(f"<tr><td>{h(e.get('channel'), 20)}</td><td class=\"t\">{h(e.get('text'), 400)}</td>"
                    f"<td>{links}</td></tr>")
    return ("<h2>Strongest evidence</h2><table class=\"ev\"><tr><th>channel</th><th>evidence</th><th>probes</th></tr>"
            f"{''.join(rows)}</table>")


def reliability_html(a: dict) -> str:
    rel = [r for r in (a.get("reliability") or [])]
    if str(a.get("status")) == "failed":
        rel = rel[1:]
    if not rel:
        return ""
    items = "".join(f"<li class=\"t\">{h(r, 400)}</li>" for r in rel[:16])
    return f"<h2>Why this may be unreliable</h2><ul class=\"rel\">{items}</ul>"


def _prompt(p: dict) -> str:
    req = p.get("request") if isinstance(p.get("request"), dict) else {}
    body = req.get("json") if isinstance(req.get("json"), dict) else {}
    msgs = body.get("messages") if isinstance(body.get("messages"), list) else []
    parts = []
    for m in msgs[:8]:
        if isinstance(m, dict):
            parts.append(f"[{safe_text(m.get('role'), 20)}] {safe_text(m.get('content'), 4000)}")
    return "\n".join(parts)


def probes_html(probes: Sequence[Any], anchors: dict[str, str]) -> str:
    blocks = []
    for i, p in enumerate(probes):
        if not isinstance(p, dict):
            continue
        pid = p.get("probe_id")
        st = str(p.get("status") or "?")
        cls = st if st in ("ok", "failed", "skipped") else ""
        lat = _num(p.get("latency_ms"))
        meta = " · ".join(x for x in (h(p.get("family"), 30), f"<span class=\"st {cls}\">{h(st, 20)}</span>",
                                      f"{lat / 1000:.1f} s" if lat is not None else "") if x)
        inner = []
        prompt = _prompt(p)
        if prompt:
            inner.append(f"<div class=\"label\">prompt</div><pre>{h(prompt, 8000)}</pre>")
        if p.get("text"):
            inner.append(f"<div class=\"label\">answer</div><pre>{h(p.get('text'), ANSWER_CHARS)}</pre>")
        if p.get("error"):
            inner.append(f"<div class=\"label\">why it failed</div><pre>{h(p.get('error'), 600)}</pre>")
        if p.get("error_body") is not None and not p.get("text"):
            inner.append(f"<div class=\"label\">error reply</div><pre>{h(p.get('error_body'), 2000)}</pre>")
        blocks.append(f"<details id=\"{anchors.get(str(pid), anchor(i, pid))}\"><summary><code>{h(pid, 120)}</code> "
                      f"<span class=\"note\">{meta}</span></summary>{''.join(inner)}</details>")
    if not blocks:
        return ""
    return f"<h2>Probes and raw answers</h2>{''.join(blocks)}"


def meta_html(report: dict) -> str:
    t = report.get("target") or {}
    run = report.get("run") or {}
    clf = report.get("classifier") or {}
    ps = report.get("probeset") or {}
    s = report.get("summary") or {}
    cost = report.get("cost") or {}
    tool = report.get("tool") or {}
    rows = [("target", f"<bdi>{h(t.get('base_url'), 200)}</bdi> · model <bdi>{h(t.get('model'), 120)}</bdi> · "
                       f"{h(t.get('protocol'), 20)}"),
            ("run", f"{h(run.get('id'), 40)} · {h(run.get('started_at'), 40)} to {h(run.get('finished_at'), 40)}"
                    + (f" · stopped: {h(run.get('stopped_because'), 120)}" if run.get("stopped_because") else "")),
            ("probes", f"{h(s.get('ok', 0), 10)} ok, {h(s.get('failed', 0), 10)} failed, {h(s.get('skipped', 0), 10)} "
                       f"skipped · tokens {h(cost.get('tokens_total', '?'), 20)} ({h(cost.get('basis'), 20)})"),
            ("probe set", f"{h(ps.get('name'), 60)} {h(ps.get('version'), 20)} ({h(str(ps.get('hash') or '')[:16], 16)})"),
            ("classifier", f"{h(clf.get('name'), 60)} {h(clf.get('version'), 30)} · "
                           f"{h(tool.get('name'), 30)} {h(tool.get('version'), 20)}")]
    return "<table class=\"meta\">" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def report_page(report: dict, *, back: str | None = None) -> str:
    """One report as a self-contained page (``back``: a link to the scan page it belongs to,
    a relative path this tool wrote)."""
    a = report.get("attribution") or {}
    probes = [p for p in (report.get("probes") or []) if isinstance(p, dict)]
    anchors = {str(p.get("probe_id")): anchor(i, p.get("probe_id")) for i, p in enumerate(probes)}
    short, verdict = verdict_html(report)
    t = report.get("target") or {}
    title = h(f"provenance: {safe_text(t.get('name') or t.get('model'), 80)}: {short}", 200)
    nav = f"<p><a href=\"{html.escape(back, quote=True)}\">&larr; the scan</a></p>" if back else ""
    body = (f"{nav}<h1>Who made <bdi>{h(t.get('name') or t.get('model'), 120)}</bdi>?</h1>{meta_html(report)}"
            f"{verdict}{candidates_html(a)}{channels_html(a)}{evidence_html(a, anchors)}{reliability_html(a)}"
            f"{probes_html(probes, anchors)}"
            "<footer>Written by provenance from the run's JSON report; every answer is shown as text, "
            "inert. No script runs on this page and nothing is loaded from elsewhere.</footer>")
    return _page(title, body)


# ------------------------------------------------------------------------------ a scan

def scan_page(rows: Iterable[dict[str, Any]], summary: dict[str, Any], summary_text: str) -> str:
    """A scan's page: one row per entrant (``rows``: name, href or None, record, state,
    elapsed_s), linked to each entrant's page; ``summary_text``: the terminal's summary line."""
    trs = []
    for r in rows:
        rec = r.get("record") or {}
        a = rec.get("attribution") or {}
        name = f"<bdi>{h(r.get('name'), 80)}</bdi>"
        if r.get("href"):
            name = f"<a href=\"{html.escape(str(r['href']), quote=True)}\">{name}</a>"
        state = str(r.get("state"))
        if state == "error":
            status, creator, conf = "error", h(rec.get("error"), 160), "-"
        elif state == "unusable":
            status = "unusable"
            creator = h(next(iter(a.get("reliability") or []), "no probe succeeded"), 160)
            conf = "-"
        else:
            status = h(a.get("status"), 20) + (" (stored)" if state == "reused" else "")
            creator, conf = f"<bdi>{h(a.get('creator'), 60)}</bdi>", pct(a.get("confidence"), missing="-")
        claim = rec.get("claim") if isinstance(rec.get("claim"), dict) else {}
        tok = a.get("tokenizer") if isinstance(a.get("tokenizer"), dict) else {}
        stack = a.get("stack") if isinstance(a.get("stack"), dict) else {}
        color = COLORS.get(str(a.get("status")), "#59636e") if state not in ("error", "unusable") else COLORS["failed"]
        trs.append(f"<tr><td>{name}</td><td>{creator}</td><td class=\"num\">{conf}</td>"
                   f"<td style=\"color: {color}\">{status}</td><td>{h(claim.get('verdict') or '-', 20)}</td>"
                   f"<td>{h(tok.get('family') or '-', 30)}</td><td>{h(stack.get('stack') or '-', 30)}</td>"
                   f"<td class=\"num\">{_num(r.get('elapsed_s')) or 0:.1f} s</td></tr>")
    num = ' class="num"'
    head = "".join(f"<th{num if c in ('confidence', 'time') else ''}>{c}</th>"
                   for c in ("entrant", "creator", "confidence", "status", "claim", "tokenizer", "stack", "time"))
    body = (f"<h1>Scan: {h(summary.get('entrants'), 10)} entrants</h1>"
            f"<p class=\"meta\">scan {h(summary.get('scan_id'), 40)} · {h(summary_text, 600)}</p>"
            f"<table class=\"scan\"><tr>{head}</tr>{''.join(trs)}</table>"
            "<footer>Written by provenance; each entrant's page holds its verdict, evidence and raw answers. "
            "No script runs on these pages and nothing is loaded from elsewhere.</footer>")
    return _page(h(f"provenance scan: {summary.get('entrants')} entrants", 100), body)
