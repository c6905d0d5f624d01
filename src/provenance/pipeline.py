"""Glue for one target: endpoint -> runner -> transcript -> classifier -> report.

Used by ``probe``, ``scan`` and ``classify``. The CLI renders; this module only
computes. ``on_result`` lets a caller (the run store) persist each probe as it
finishes; ``existing`` lets a resumed run skip probes it already has.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .classifier.base import UNKNOWN, Attribution, Classifier
from .probes import ProbeSet
from .settings import RunSettings, Target
from .transcript import ProbeResult, Transcript


def finalize(transcript: Transcript, classifier: Classifier) -> Attribution:
    """Classify a transcript, adding coverage notes; 'failed' when no probe succeeded."""
    counts = transcript.counts()
    if counts["ok"] == 0:
        reasons = sorted({(r.error or "no answer").split(":")[0] for r in transcript.results})[:3]
        return Attribution(creator=UNKNOWN, confidence=0.0, status="failed",
                           reliability=[f"no probe succeeded ({counts['failed']} failed: {'; '.join(reasons)})"])
    attribution = classifier.classify(transcript)
    notes = []
    if counts["failed"]:
        notes.append(f"{counts['failed']} of {counts['total']} probes failed")
    if counts["skipped"]:
        notes.append(f"{counts['skipped']} of {counts['total']} probes not run ({transcript.stopped_because or 'skipped'})")
    attribution.reliability = notes + [n for n in attribution.reliability if n not in notes]
    return attribution


def classify_report_dict(transcript: Transcript, classifier: Classifier, run_id: str | None = None) -> dict[str, Any]:
    from .report import build_report
    return build_report(transcript, finalize(transcript, classifier), classifier.info(), run_id=run_id)


async def probe_async(target: Target, *, probeset: ProbeSet, classifier: Classifier,
                      settings: RunSettings, run_id: str | None = None,
                      on_result: Callable[[ProbeResult], None] | None = None,
                      existing: Iterable[ProbeResult] | None = None,
                      probes: Iterable[Any] | None = None) -> dict[str, Any]:
    """Probe one target and return its report (a dict)."""
    from .endpoints.base import make_endpoint
    from .runner import run_probes

    endpoint = make_endpoint(target, settings)       # run_probes opens and closes it (async with)
    transcript = await run_probes(endpoint, probeset, settings=settings, probes=probes,
                                  on_result=on_result, existing=list(existing or []))
    return classify_report_dict(transcript, classifier, run_id=run_id)
