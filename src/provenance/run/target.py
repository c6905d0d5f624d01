"""One target, from probes to report: ``probe``, ``verify`` and each entrant of a scan.

* ``probe_async`` composes one run: the probes in the model's order
  (``steps.choose_probes``), sent by probing (``probing/one_target.py: send``: all at
  once, or in batches that stop at a ``--budget`` or by the rule ``steps.stop_rule``
  builds from the classifier), then decided and reported (``steps.classify_report_dict``).
  ``scan`` calls it once per entrant (``run/scan.py``);
* ``run_single`` is ``probe_async`` for one command-line run: it records the run in the
  store (``probing/store.py``) probe by probe and reports progress through a callback (the
  CLI draws it: ``cli/progress.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Iterable

from ..probes import ProbeSet
from ..settings import RunSettings, Target
from ..transcript import ProbeResult, new_run_id


async def probe_async(target: Target, *, probeset: ProbeSet, classifier: Any,
                      settings: RunSettings, run_id: str | None = None,
                      on_result: Callable[[ProbeResult], None] | None = None,
                      existing: Iterable[ProbeResult] | None = None,
                      probes: Iterable[Any] | None = None,
                      budget: int | None = None,
                      until_confident: float | None = None,
                      claim: Any = None, until_settled: bool = False, pacer: Any = None) -> dict[str, Any]:
    """Probe one target and return its report (a dict).

    ``on_result`` lets a caller (the run store) persist each probe as it finishes;
    ``existing`` lets a resumed run skip probes it already has; ``probes``: the probes to
    send, in order (default: every probe, the most informative per token first).

    With ``budget`` (a number of probes) or ``until_confident`` (a confidence in 0..1),
    probes go out in batches (``probing/order.py: ADAPTIVE_BATCH``, at most
    ``settings.concurrency``); the posterior is updated after each batch and probing stops
    once a creator is matched with that confidence or the budget is spent. Probes never
    sent are recorded as skipped, and the report's ``run.stopped_because`` says why.

    ``claim``: check the report against this claimed maker (``verify.check_claim``);
    ``until_settled``: probe in batches as above and stop once the claim's verdict is
    settled (``verify.Settler``). ``pacer`` (``probing/pacing.py: Pacer``, one per target;
    made by probing when not given) paces every batch; a scan passes its own to see when an
    entrant stalls.
    """
    from ..probing.one_target import send
    from .steps import choose_probes, classify_report_dict, stop_rule

    order = list(probes) if probes is not None else choose_probes(probeset, classifier)
    stop = stop_rule(classifier, until_confident=until_confident,
                     claim=claim if until_settled else None)
    transcript = await send(target, probeset, settings=settings, order=order, budget=budget, stop=stop,
                            on_result=on_result, existing=existing, pacer=pacer)
    return classify_report_dict(transcript, classifier, run_id=run_id, claim=claim)


def run_single(target: Target, *, probeset: ProbeSet, classifier: Any, settings: RunSettings,
               db: Path | None = None, store: bool = True,
               on_progress: Callable[[int, int], None] | None = None,
               budget: int | None = None, until_confident: float | None = None,
               claim: Any = None, until_settled: bool = False) -> dict[str, Any]:
    """Probe one target; record the run in the store (unless ``store`` is False); return the report
    (with its claim check when ``claim`` is given, see ``probe_async``).

    ``on_progress(done, total)``: called with ``(0, total)`` before the first probe is sent,
    then after each probe that finishes (``total``: the probes this run may send)."""
    run_store = None
    if store:
        from ..probing.store import RunStore
        run_store = RunStore.open(db)
    try:
        return asyncio.run(_run_single(target, probeset=probeset, classifier=classifier, settings=settings,
                                       run_store=run_store, on_progress=on_progress, budget=budget,
                                       until_confident=until_confident, claim=claim,
                                       until_settled=until_settled))
    finally:
        if run_store is not None:
            run_store.close()


async def _run_single(target: Target, *, probeset: ProbeSet, classifier: Any, settings: RunSettings,
                      run_store: Any, on_progress: Callable[[int, int], None] | None, budget: int | None,
                      until_confident: float | None, claim: Any = None,
                      until_settled: bool = False) -> dict[str, Any]:
    run_id = run_store.start_run(target, probeset) if run_store is not None else new_run_id()
    total = len(probeset.probes) if budget is None else min(budget, len(probeset.probes))
    done = {"n": 0}
    if on_progress is not None:
        on_progress(0, total)

    def on_result(result: ProbeResult) -> None:
        if run_store is not None:
            run_store.record_result(run_id, result)       # committed per probe
        done["n"] += 1
        if on_progress is not None:
            on_progress(done["n"], total)

    try:
        report = await probe_async(target, probeset=probeset, classifier=classifier, settings=settings,
                                   run_id=run_id, on_result=on_result, budget=budget,
                                   until_confident=until_confident, claim=claim,
                                   until_settled=until_settled)
    except BaseException as exc:
        if run_store is not None:
            from ..text_safety import safe_line
            run_store.fail_run(run_id, safe_line(f"{type(exc).__name__}: {exc}", 300))
        raise
    if run_store is not None:
        run_store.finish_run(run_id, report)
    return report
