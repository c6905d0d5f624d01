"""What the probes a run lost would have told: one short note per kind of loss.

``lost_notes(transcript)`` -> reliability notes for a report, e.g.::

    91 of 132 probes failed
    why they failed: 85 timed out, 6 rate limited (HTTP 429)
    lost evidence: no tokenizer evidence (its baseline probe was lost); identity 3 of 7 answered
    the endpoint did not keep up: a local server wants --concurrency set to its slot count (e.g. 4); a slow one a longer --timeout

Families are read from the results (never from probe ids), so any probe set works; why a
probe failed is read from its typed ``error_kind`` (``ProbeResult.failed_as``), never parsed
back out of its error text.
"""

from __future__ import annotations

from typing import Any

from .transcript import ErrorKind

# what each family's answers are evidence of (unknown families are named as they are)
EVIDENCE = {
    "tokenizer": "tokenizer evidence",
    "identity": "self-identification answers",
    "refusal": "refusal style",
    "style": "writing-style evidence",
    "cutoff": "knowledge-cutoff evidence",
    "api": "API-surface evidence",
}


# what a reader calls each kind of loss
LOSS = {
    ErrorKind.NOT_ANSWERING: "given up (endpoint not answering)",
    ErrorKind.ABANDONED: "given up (endpoint not answering)",
    ErrorKind.TIMEOUT: "timed out",
    ErrorKind.DEADLINE: "cut by the target deadline",
    ErrorKind.RATE_LIMITED: "rate limited (HTTP 429)",
    ErrorKind.CONNECT: "connection failed",
    ErrorKind.BAD_REPLY: "unusable reply",
    ErrorKind.AUTH: "authentication failed",
    ErrorKind.DENIED: "access denied",
    ErrorKind.NOT_FOUND: "not found",
    ErrorKind.REJECTED: "request rejected",
    ErrorKind.INTERNAL: "internal error",
    ErrorKind.TRANSPORT: "transport error",
    ErrorKind.REDIRECT: "redirect refused",
    ErrorKind.DECODE: "undecodable reply",
}


def loss_reason(result: Any) -> str:
    """A short category for a failed probe (from its error kind; a server error names its status)."""
    kind = result.failed_as()
    if kind == ErrorKind.SERVER_ERROR:
        return f"server error (HTTP {result.http_status or '5xx'})"
    if kind in LOSS:
        return LOSS[kind]
    return (result.error or "").strip().split(":", 1)[0][:40] or "failed"


def lost_notes(transcript: Any) -> list[str]:
    results = list(transcript.results)
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return []
    why: dict[str, int] = {}
    for r in failed:
        k = loss_reason(r)
        why[k] = why.get(k, 0) + 1
    parts = ", ".join(f"{n} {k}" for k, n in sorted(why.items(), key=lambda kv: (-kv[1], kv[0])))
    notes = [f"{len(failed)} of {len(results)} probes failed", f"why they failed: {parts}"]
    fams: dict[str, list[Any]] = {}
    for r in results:
        fams.setdefault(r.family, []).append(r)
    missing = []
    for fam, rs in sorted(fams.items()):
        ok = sum(1 for r in rs if r.ok)
        lost = sum(1 for r in rs if r.status == "failed")
        if not lost:
            continue
        label = EVIDENCE.get(fam, f"{fam} evidence")
        if fam == "tokenizer" and any(r.status == "failed" and _is_baseline(r) for r in rs):
            missing.append(f"no {label} (its baseline probe was lost; every count needs it)")
        elif ok == 0:
            missing.append(f"no {label} ({lost} probes lost)")
        else:
            missing.append(f"{label}: {ok} of {len(rs)} answered")
    if missing:
        notes.append("lost evidence: " + "; ".join(missing))
    if any(k in why for k in ("timed out", "rate limited (HTTP 429)", "server error (HTTP 503)")):
        notes.append("the endpoint did not keep up: a local server wants --concurrency set to its slot "
                     "count (e.g. 4); a slow one a longer --timeout")
    return notes


def _is_baseline(result: Any) -> bool:
    """Is this the tokenizer baseline probe (named by the shipped tokenizer table)?"""
    try:
        from .channels.tokenizer import load_table
        return result.probe_id == load_table()["baseline"]["probe"]
    except Exception:  # noqa: BLE001 - no table: no baseline to name
        return False
