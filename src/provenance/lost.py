"""What the probes a run lost would have told: one short note per kind of loss.

``lost_notes(transcript)`` -> reliability notes for a report, e.g.::

    91 of 132 probes failed
    why they failed: 85 timed out, 6 rate limited (HTTP 429)
    lost evidence: no tokenizer evidence (its baseline probe was lost); identity 3 of 7 answered
    the endpoint was slow (85 timed out, with timeouts stretched 4x): a longer --timeout lets each answer finish, ...

and what helps, said only from the evidence: a probe lost to a timeout is put down to a
queue only where replies queued (``run.pacing.queued_replies``) at a server that did not say
how many it serves at once (``--concurrency`` then helps); otherwise to slowness (a longer
``--timeout``). ``rate_limit_notes`` tells a rate limit as it is (refused requests by status,
the time spent waiting as the server asked, what helps), whether or not probes were lost.

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
    late = why.get("timed out", 0) + why.get("cut by the target deadline", 0)
    if late:
        notes.append(slow_advice(transcript.pacing or {}, why.get("timed out", 0),
                                 why.get("cut by the target deadline", 0)))
    return notes


def slow_advice(pacing: dict[str, Any], timed_out: int, cut: int) -> str:
    """Why probes ran out of time, and what helps, from the pacing's evidence only."""
    lost = " and ".join(x for x in (f"{timed_out} timed out" if timed_out else "",
                                    f"{cut} cut by the deadline" if cut else "") if x)
    server = pacing.get("server") or {}
    if pacing.get("queued_replies") and not server.get("slots"):
        return (f"the server queued requests ({pacing['queued_replies']} replies waited behind others; {lost}) "
                "and does not say how many it serves at once: --concurrency N with its slot count avoids "
                "the queue")
    scale = pacing.get("timeout_scale") or 1.0
    stretched = f", with timeouts stretched {scale:g}x" if scale > 1 else ""
    return (f"the endpoint was slow ({lost}{stretched}): a longer --timeout lets each answer finish, "
            "a longer --deadline the whole run")


def rate_limit_notes(transcript: Any) -> list[str]:
    """A rate limit told as it is: the requests refused (HTTP 429/503/529, counted by the pacer),
    the time the run waited as the server asked (Retry-After, honoured up to a cap), what became
    of the probes, and what helps. [] when nothing was refused."""
    p = transcript.pacing or {}
    by_status = {str(k): int(v) for k, v in (p.get("refused_by_status") or {}).items() if v}
    failed = [r for r in transcript.results if r.status == "failed"]
    lost = sum(1 for r in failed if r.failed_as() == ErrorKind.RATE_LIMITED
               or (r.failed_as() == ErrorKind.SERVER_ERROR and r.http_status in (503, 529)))
    if not by_status and not lost:
        return []
    n = sum(by_status.values())
    codes = ", ".join(f"HTTP {k}: {v}" for k, v in sorted(by_status.items()))
    head = (f"rate limited: the endpoint refused {n} requests ({codes})" if n else
            f"rate limited: {lost} probes were refused (HTTP 429/503) after their retries")
    waited = float(p.get("paused_s") or 0.0)
    if waited > 0:
        cap = p.get("retry_after_cap_s")
        capped = int(p.get("retry_after_capped") or 0)
        head += (f"; waiting as it asked (Retry-After{f', honoured up to {cap:g} s each' if cap else ''}"
                 f"{f', {capped} longer asks cut to that' if capped else ''}) paused the run {waited:.1f} s")
    head += (f"; {lost} probes lost to it" if lost else
             "; every probe was answered in the end" if not failed else "")
    return [head, "what helps with a rate limit: a key or tier allowing more requests, or fewer probes "
                  "(--until-confident 0.9, --budget N)"]


def _is_baseline(result: Any) -> bool:
    """Is this the tokenizer baseline probe (named by the shipped tokenizer table)?"""
    try:
        from .channels.tokenizer import load_table
        return result.probe_id == load_table()["baseline"]["probe"]
    except Exception:  # noqa: BLE001 - no table: no baseline to name
        return False
