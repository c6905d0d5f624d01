from __future__ import annotations

import io

from rich.console import Console

from provenance.cli.render import markup_escape, render_verdict
from provenance.text_safety import safe_line, safe_text


def test_safe_text_strips_escapes_and_controls() -> None:
    hostile = "ok\x1b[31mRED\x1b[0m\x1b]0;title\x07\x07bell\u202eevil\r\nnext"
    out = safe_text(hostile)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "RED" in out and "next" in out


def test_safe_text_caps() -> None:
    assert len(safe_text("a" * 10_000, limit=100)) < 140
    assert "\n" not in safe_line("a\nb")


def test_markup_is_escaped() -> None:
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=True, width=200, highlight=False)
    con.print(markup_escape("[bold red]pwned[/bold red] [link=http://x]y[/link]"))
    out = buf.getvalue()
    assert "[bold red]pwned" in out


def _report(creator: str, text: str) -> dict:
    return {
        "target": {"base_url": "http://127.0.0.1:1/v1", "model": "m\x1b[2J", "protocol": "openai"},
        "attribution": {"creator": creator, "confidence": 0.9, "status": "match",
                        "candidates": [{"creator": creator, "probability": 0.9}],
                        "evidence": [{"text": text, "probes": ["identity.who"], "channel": "identity"}],
                        "reliability": ["1 of 3 probes failed"]},
        "summary": {"ok": 2, "failed": 1, "skipped": 0}, "cost": {"tokens_total": 10, "basis": "usage"},
        "classifier": {"name": "x", "version": "1"}, "run": {"id": "r1"},
    }


def test_render_verdict_escapes_endpoint_text() -> None:
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=False, width=200)
    render_verdict(_report("[red]Acme[/red]", "says \x1b[31m[blink]hi[/blink]"), con)
    out = buf.getvalue()
    assert "\x1b" not in out
    assert "[red]Acme[/red]" in out and "[blink]hi[/blink]" in out
    assert "Creator match" in out and "1 of 3 probes failed" in out
