"""A scan: many entrants, each probed, decided and reported, every probe stored as it comes.

The scheduler (limits, resume, stalled entrants, outcomes) is probing's
(``probing/scan.py``); this module hands it the step it runs for each entrant
(``Entrants``: ``run/target.py: probe_async`` with the entrant's claim, and a reused
report's claim checked again offline) and reads the entrants' claims:
``entrant_claims`` parses every entrant's ``claim`` column (a one-line error naming the
file, line and field) before the first request, and an entrant without one claims the
maker its model name names (docs/claims.md).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ..errors import ConfigError
from ..probing.entrants import Entrant
from ..probing.scan import Outcome, ScanEvents


def stated_claim(entrant: Entrant) -> Any:
    """The claim an entrants file's ``claim`` column states (``claim.Claim``), or None;
    ConfigError naming the entrant's line when it names no known maker."""
    if entrant.claim is None:
        return None
    from ..claim import SOURCE_FILE, parse_claim
    try:
        return parse_claim(entrant.claim, source=SOURCE_FILE)
    except ConfigError as e:
        raise ConfigError(f"{entrant.where}: field 'claim': {str(e).split(': ', 1)[-1]}") from None


def entrant_claims(entrants: Sequence[Entrant]) -> dict[str, Any]:
    """Entrant name -> the maker it claims: its ``claim`` column, else its model name's (None when
    the name maps to no maker: such an entrant is not checked). Every column is checked here."""
    from ..claim import claim_from_model_name
    out = {}
    for e in entrants:
        stated = stated_claim(e)
        out[e.name] = stated if stated is not None else claim_from_model_name(e.target.model)
    return out


class Entrants:
    """The per-entrant step a scan's scheduler calls (``probing/scan.py: EntrantRunner``)."""

    def __init__(self, *, probeset: Any, classifier: Any, settings: Any, claims: Mapping[str, Any]) -> None:
        self.probeset = probeset
        self.classifier = classifier
        self.settings = settings
        self.claims = dict(claims)

    async def probe(self, entrant: Entrant, *, run_id: str, on_result: Callable[[Any], None],
                    existing: list[Any], pacer: Any) -> dict[str, Any]:
        from . import target
        return await target.probe_async(entrant.target, probeset=self.probeset, classifier=self.classifier,
                                        settings=self.settings, run_id=run_id, on_result=on_result,
                                        existing=existing, claim=self.claims.get(entrant.name), pacer=pacer)

    def reuse(self, entrant: Entrant, report: dict[str, Any]) -> dict[str, Any]:
        claim = self.claims.get(entrant.name)
        if claim is not None:                 # re-checked offline: the claim may be new
            from .steps import recheck_claim
            report["claim"] = recheck_claim(claim, report, self.classifier)
        else:
            report.pop("claim", None)
        return report


async def scan_entrants(entrants: Sequence[Entrant], *, store: Any, probeset: Any, classifier: Any,
                        settings: Any, concurrency: int = 8, per_host: int = 2, resume: bool = True,
                        scan_id: str | None = None, events: ScanEvents | None = None,
                        on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Probe every entrant (``probing/scan.py: scan_entrants``), each decided with ``classifier``
    and checked against the maker it claims; their outcomes in entrant order."""
    from ..probing import scan
    runner = Entrants(probeset=probeset, classifier=classifier, settings=settings,
                      claims=entrant_claims(entrants))
    return await scan.scan_entrants(entrants, store=store, probeset=probeset, runner=runner, settings=settings,
                                    concurrency=concurrency, per_host=per_host, resume=resume, scan_id=scan_id,
                                    events=events, on_outcome=on_outcome)
