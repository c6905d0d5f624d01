"""From a transcript to an attribution: classify it and say how reliable that is.

``finalize(transcript, classifier)`` is the deciding step every command takes after
probing (``probe``, ``verify``, ``scan``, ``classify``, ``classify --answers``, ``probe
--manual``; the run layer composes it with the report: ``run/steps.py``): it classifies
(or declares the run failed when no probe succeeded) and adds the notes on lost probes and
pacing, the best guess the tokenizer allows and the requested vs echoed model name. Pure
computation: probing is ``probing/``, the report ``report.py``, rendering ``cli/``.

A model scores only the probes it was trained on (its manifest's ``probe_ids``): a run of
a larger probe set sends and stores the others, ``classify`` leaves them out of the score,
``unscored`` names them (the report's ``probeset.unscored``) and ``finalize`` says so in a
reliability note.
"""

from __future__ import annotations

from typing import Any

from .classifier import UNKNOWN, Attribution, Classifier
from .transcript import ErrorKind, Transcript


def trained_on(classifier: Any) -> frozenset[str] | None:
    """The probe ids the model was trained on (None: a classifier that names none scores all)."""
    ids = (getattr(classifier, "manifest", None) or {}).get("probe_ids")
    return frozenset(ids) if isinstance(ids, list) and ids else None


def unscored(transcript: Transcript, classifier: Any) -> list[str]:
    """The transcript's probes the model was not trained on, in transcript order."""
    known = trained_on(classifier)
    return [] if known is None else [r.probe_id for r in transcript.results if r.probe_id not in known]


def scored_view(transcript: Transcript, classifier: Any) -> Transcript:
    """The transcript as the model scores it: without the probes it was not trained on."""
    known = trained_on(classifier)
    if known is None or all(r.probe_id in known for r in transcript.results):
        return transcript
    from dataclasses import replace
    return replace(transcript, results=[r for r in transcript.results if r.probe_id in known])


def classify(transcript: Transcript, classifier: Classifier) -> Attribution:
    """``classifier.classify`` on the probes it was trained on (a bare attribution: no notes)."""
    return classifier.classify(scored_view(transcript, classifier))


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
            from .lost import loss_reason
            sent = [r for r in transcript.results if r.status == "failed" and not _not_sent(r)]
            reasons = sorted({loss_reason(r) for r in sent if r.family != "api"}
                             or {loss_reason(r) for r in sent})[:3]
            unsent = counts["failed"] - len(sent)
            lead = (f"no probe succeeded ({len(sent)} failed: {'; '.join(reasons)}"
                    + (f"; {unsent} not sent" if unsent else "") + ")" + url_hint(transcript))
        return Attribution(creator=UNKNOWN, confidence=0.0, status="failed",
                           reliability=[lead] + [n for n in pacing_notes(transcript) if "not answering" not in n])
    scored = scored_view(transcript, classifier)
    attribution = classifier.classify(scored)
    from .lost import lost_notes
    notes = lost_notes(transcript) + pacing_notes(transcript)
    if counts["skipped"]:
        notes.append(f"{counts['skipped']} of {counts['total']} probes not run ({transcript.stopped_because or 'skipped'})")
    left_out = unscored(transcript, classifier)
    if left_out:
        shown = ", ".join(left_out[:4]) + (f", +{len(left_out) - 4} more" if len(left_out) > 4 else "")
        notes.append(f"{len(left_out)} probes not scored: the model was not trained on them ({shown}); "
                     "retrain to use them")
    attribution.reliability = notes + [n for n in attribution.reliability if n not in notes]
    _headline_and_echo(scored, transcript, attribution)
    return attribution


def _not_sent(result: Any) -> bool:
    """A probe given up before it was sent (the endpoint was declared not answering)."""
    return result.failed_as() == ErrorKind.NOT_ANSWERING


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
    from .lost import rate_limit_notes
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


def _headline_and_echo(scored: Transcript, transcript: Transcript, attribution: Attribution) -> None:
    """The best guess the tokenizer allows (classifier/headline.py, from the probes the model
    scores) and the requested vs echoed model name (channels/model_echo.py, from every reply):
    a mismatch is a reliability note and evidence."""
    from .classifier import Evidence
    from .classifier.headline import best_guess
    from .channels.model_echo import mismatch_note, model_echo

    cands = [{"creator": c.creator, "probability": c.probability} if hasattr(c, "creator") else dict(c)
             for c in attribution.candidates]
    attribution.best_guess = best_guess(scored, cands) if cands else None
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
