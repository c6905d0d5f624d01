"""From a transcript to a report: classify it, say how reliable that is, check a claim.

``classify_report_dict(transcript, classifier, run_id=None, claim=None)`` is the one
step every command takes after probing (``probe``, ``verify``, ``scan``, ``classify``,
``classify --answers``, ``probe --manual``): ``finalize`` classifies (or declares the
run failed when no probe succeeded), adds the notes on lost probes and pacing, the best
guess the tokenizer allows and the requested vs echoed model name; ``report.build_report``
assembles the JSON report; ``verify.check_claim`` adds the claim check when a claim is
given. Pure computation: probing is ``probing/``, rendering ``cli/``.
"""

from __future__ import annotations

from typing import Any

from .classifier import UNKNOWN, Attribution, Classifier
from .transcript import Transcript


def finalize(transcript: Transcript, classifier: Classifier) -> Attribution:
    """Classify a transcript, adding coverage notes; 'failed' when no probe (beyond the
    deliberately invalid API-surface request) succeeded."""
    counts = transcript.counts()
    # The API-surface probe is *meant* to be refused (its error reply is the observation), so it
    # alone does not make an endpoint usable: a server answering 401 to everything is unusable.
    if not any(r.ok and r.family != "api" for r in transcript.results):
        pacing = transcript.pacing or {}
        if pacing.get("not_answering"):
            lead = f"endpoint not answering: {pacing['not_answering']}"
        else:
            from .probing.lost import loss_reason
            sent = [r for r in transcript.results if r.status == "failed" and not _not_sent(r)]
            reasons = sorted({loss_reason(r.error) for r in sent if r.family != "api"}
                             or {loss_reason(r.error) for r in sent})[:3]
            unsent = counts["failed"] - len(sent)
            lead = (f"no probe succeeded ({len(sent)} failed: {'; '.join(reasons)}"
                    + (f"; {unsent} not sent" if unsent else "") + ")" + url_hint(transcript))
        return Attribution(creator=UNKNOWN, confidence=0.0, status="failed",
                           reliability=[lead] + [n for n in pacing_notes(transcript) if "not answering" not in n])
    attribution = classifier.classify(transcript)
    from .probing.lost import lost_notes
    notes = lost_notes(transcript) + pacing_notes(transcript)
    if counts["skipped"]:
        notes.append(f"{counts['skipped']} of {counts['total']} probes not run ({transcript.stopped_because or 'skipped'})")
    attribution.reliability = notes + [n for n in attribution.reliability if n not in notes]
    _headline_and_echo(transcript, attribution)
    return attribution


def _not_sent(result: Any) -> bool:
    """A probe given up before it was sent (the endpoint was declared not answering)."""
    return str(result.error or "").startswith("not sent")


def url_hint(transcript: Transcript) -> str:
    """'; HTTP 404 at URL/chat/completions: ... (try URL/v1)' when most probes sent got 404 from an
    OpenAI-compatible URL, the usual sign of a base URL without its /v1; else ''."""
    target = transcript.target or {}
    if target.get("protocol", "openai") != "openai":
        return ""
    sent = [r for r in transcript.results if r.status == "failed" and not _not_sent(r) and r.family != "api"]
    if not sent or sum(1 for r in sent if r.http_status == 404) * 2 < len(sent):
        return ""
    base = str(target.get("base_url") or "").rstrip("/")
    fix = (f"; try {base}/v1" if not base.endswith("/v1") else
           "; check the URL: it is the API's base, without /chat/completions")
    return (f". HTTP 404 at {base}/chat/completions: an OpenAI-compatible server takes the base URL "
            f"ending in /v1{fix}")


def pacing_notes(transcript: Transcript) -> list[str]:
    """Notes on how the run was paced that a reader of the verdict needs. A rate limit is told
    whenever requests were refused (``lost.rate_limit_notes``: it explains the run's time and
    says what helps). Cuts and re-sent probes are news only when probes were lost anyway: a run
    that got every answer after backing off (a slow server's queue) is as reliable as any, and
    its pacing stays in ``run.pacing``."""
    from .probing.lost import rate_limit_notes
    p = transcript.pacing or {}
    out = [n for n in p.get("notes") or [] if isinstance(n, str)] + rate_limit_notes(transcript)
    if not any(r.status == "failed" for r in transcript.results):
        return out
    if p.get("resent"):
        out.append(f"{p['resent']} probes lost to overload were sent again")
    if p.get("cuts") and p.get("final_concurrency") is not None:
        out.append(f"the endpoint was overloaded: concurrency lowered to {p['final_concurrency']} "
                   f"(from a peak of {p.get('peak_concurrency')})")
    return out


def _headline_and_echo(transcript: Transcript, attribution: Attribution) -> None:
    """The best guess the tokenizer allows (classifier/headline.py) and the requested vs
    echoed model name (channels/model_echo.py): a mismatch is a reliability note and evidence."""
    from .classifier import Evidence
    from .classifier.headline import best_guess
    from .channels.model_echo import mismatch_note, model_echo

    cands = [{"creator": c.creator, "probability": c.probability} if hasattr(c, "creator") else dict(c)
             for c in attribution.candidates]
    attribution.best_guess = best_guess(transcript, cands) if cands else None
    echo = model_echo(transcript)
    attribution.model_echo = echo
    note = mismatch_note(echo)
    if note:
        if note not in attribution.reliability:
            attribution.reliability.append(note)
        probes = [r.probe_id for r in transcript.results
                  if r.status == "ok" and r.response_model and r.response_model != echo["requested"]][:8]
        attribution.evidence.insert(min(1, len(attribution.evidence)),
                                    Evidence(text="model name echo: " + note, probes=probes, channel="api"))


def classify_report_dict(transcript: Transcript, classifier: Classifier, run_id: str | None = None,
                         claim: Any = None) -> dict[str, Any]:
    """The report; with ``claim`` (a ``claim.Claim``) it also carries the claim check (``verify.py``)."""
    from .report import build_report
    report = build_report(transcript, finalize(transcript, classifier), classifier.info(), run_id=run_id)
    if claim is not None:
        from .verify import check_claim
        report["claim"] = check_claim(claim, report, classifier, transcript=transcript)
    return report
