"""From a transcript to an attribution: classify it and say how reliable that is.

``finalize(transcript, classifier)`` is the deciding step every command takes after
probing (``probe``, ``verify``, ``scan``, ``classify``, ``classify --answers``, ``probe
--manual``; the run layer composes it with the report: ``run/steps.py``): it classifies
(or declares the run failed when no probe succeeded) and adds the notes on lost probes and
pacing, the best guess the tokenizer allows and the requested vs echoed model name. Pure
computation: probing is ``probing/``, the report ``report.py``, rendering ``cli/``.
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
            from .lost import loss_reason
            reasons = sorted({loss_reason(r) for r in transcript.results
                              if r.family != "api" and r.status == "failed"}
                             or {loss_reason(r) for r in transcript.results if r.status == "failed"})[:3]
            lead = f"no probe succeeded ({counts['failed']} failed: {'; '.join(reasons)})"
        return Attribution(creator=UNKNOWN, confidence=0.0, status="failed",
                           reliability=[lead] + [n for n in pacing_notes(transcript) if "not answering" not in n])
    attribution = classifier.classify(transcript)
    from .lost import lost_notes
    notes = lost_notes(transcript) + pacing_notes(transcript)
    if counts["skipped"]:
        notes.append(f"{counts['skipped']} of {counts['total']} probes not run ({transcript.stopped_because or 'skipped'})")
    attribution.reliability = notes + [n for n in attribution.reliability if n not in notes]
    _headline_and_echo(transcript, attribution)
    return attribution


def pacing_notes(transcript: Transcript) -> list[str]:
    """Notes on how the run was paced that a reader of the verdict needs. Cuts and re-sent probes
    are news only when probes were lost anyway: a run that got every answer after backing off
    (a slow server's queue) is as reliable as any, and its pacing stays in ``run.pacing``."""
    p = transcript.pacing or {}
    out = [n for n in p.get("notes") or [] if isinstance(n, str)]
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
