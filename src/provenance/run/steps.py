"""The steps every run composes: choose the probes, the stop rule, decide and report.

* ``choose_probes(probeset, classifier)``: the probe set in the informative order the
  model ranked (``probing/order.py: adaptive_order`` reads the ranking, not the model);
* ``stop_rule(classifier, until_confident=, claim=)``: the callable an adaptive run hands
  to probing (``probing/order.py: send_in_batches``), or None: stop once a creator is
  matched with that confidence, or once the claim's verdict is settled (``verify.Settler``);
* ``classify_report_dict(transcript, classifier, run_id=, claim=)``: decide
  (``attribute.finalize``, ``verify.check_claim``) and report (``report.build_report``);
  every command takes this step after probing (``probe``, ``verify``, ``scan``,
  ``classify``, ``classify --answers``, ``probe --manual``);
* ``recheck_claim(claim, report, classifier)``: a stored report's claim checked again,
  offline (a resumed scan).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..probes import Probe, ProbeSet
from ..transcript import Transcript


def choose_probes(probeset: ProbeSet, classifier: Any) -> list[Probe]:
    """Every probe of the set, the most informative per token first (the model's ranking)."""
    from ..probing.order import adaptive_order
    return adaptive_order(probeset, (getattr(classifier, "manifest", None) or {}).get("probe_order", []))


def stop_rule(classifier: Any, *, until_confident: float | None = None,
              claim: Any = None) -> Callable[[Transcript, bool], str | None] | None:
    """The rule an adaptive run stops by (None when it has none): after each batch, a creator
    matched with ``until_confident`` or more; while probes are left, the claim's verdict
    settled (``verify.Settler``)."""
    settler = None
    if claim is not None:
        from ..verify import Settler
        settler = Settler(claim, classifier)
    if until_confident is None and settler is None:
        return None

    def rule(transcript: Transcript, more_left: bool) -> str | None:
        from ..attribute import classify
        if until_confident is not None:
            a = classify(transcript, classifier)
            if a.status == "match" and a.confidence >= until_confident:
                return f"confident: {a.creator} at {a.confidence:.2f} >= {until_confident:.2f}"
        if settler is not None and more_left:
            return settler(transcript, classify(transcript, classifier))
        return None

    return rule


def classify_report_dict(transcript: Transcript, classifier: Any, run_id: str | None = None,
                         claim: Any = None) -> dict[str, Any]:
    """The report; with ``claim`` (a ``claim.Claim``) it also carries the claim check (``verify.py``)."""
    from ..attribute import finalize
    from ..report import build_report
    report = build_report(transcript, finalize(transcript, classifier), classifier.info(), run_id=run_id,
                          unscored=unscored_probes(transcript, classifier))
    if claim is not None:
        from ..verify import check_claim
        report["claim"] = check_claim(claim, report["attribution"], transcript, classifier,
                                      tokens=report["cost"]["tokens_total"])
    return report


def recheck_claim(claim: Any, report: Mapping[str, Any], classifier: Any) -> dict[str, Any]:
    """A finished report's claim check, made again offline (its raw probe results are in it)."""
    from ..report import transcript_from_report
    from ..verify import check_claim
    return check_claim(claim, report.get("attribution") or {}, transcript_from_report(report), classifier,
                       tokens=(report.get("cost") or {}).get("tokens_total"))


def unscored_probes(transcript: Transcript, classifier: Any) -> list[str]:
    """The probes of this run the model was not trained on (sent and stored, not scored)."""
    from ..attribute import unscored
    return unscored(transcript, classifier)
