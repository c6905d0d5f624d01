"""One target, from probes to report: ``probe``, ``verify`` and each entrant of a scan.

* ``probe_async`` composes one run: the probes in the model's order
  (``steps.choose_probes``), sent by probing (``probing/one_target.py: send``: all at
  once, or in batches that stop at a ``--budget`` or by the rule ``steps.stop_rule``
  builds from the classifier), then decided and reported (``steps.classify_report_dict``).
  ``scan`` calls it once per entrant (``run/scan.py``);
* ``run_single`` is ``probe_async`` for one command-line run: it records the run in the
  store (``probing/store.py``) probe by probe, reports progress and the first reply that
  names another model through callbacks (the CLI draws them: ``cli/progress.py``), continues
  a stored run (``resume``, ``resume_point``), and on Ctrl-C stores the run as interrupted
  and raises ``Interrupted``.
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


class Interrupted(Exception):
    """Raised by ``run_single`` when the run was interrupted (Ctrl-C): what it saved, where."""

    def __init__(self, run_id: str, answered: int, total: int, stored: bool) -> None:
        super().__init__(f"run {run_id} interrupted: {answered} of {total} probes answered")
        self.run_id, self.answered, self.total, self.stored = run_id, answered, total, stored


def run_single(target: Target, *, probeset: ProbeSet, classifier: Any, settings: RunSettings,
               db: Path | None = None, store: bool = True,
               on_progress: Callable[[int, int], None] | None = None,
               budget: int | None = None, until_confident: float | None = None,
               claim: Any = None, until_settled: bool = False, resume: str | None = None,
               on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Probe one target; record the run in the store (unless ``store`` is False); return the report
    (with its claim check when ``claim`` is given, see ``probe_async``).

    ``on_progress(done, total)``: called with ``(done, total)`` before the first probe is sent
    (``done``: the answers a resumed run keeps), then after each probe that finishes (``total``:
    the probes this run may send). ``resume``: the id of a stored run of this target to continue
    (``resume_point``): its answers are kept and only the probes it lacks are sent.
    ``on_warning(line)``: called at once when the first reply names another model than the one
    requested (``model_echo.first_reply_mismatch``).

    Ctrl-C raises ``Interrupted`` (what was saved, and the run id), the run stored as interrupted."""
    run_store = None
    if store:
        from ..probing.store import RunStore
        run_store = RunStore.open(db)
    state: dict[str, Any] = {"run_id": None, "answered": 0, "total": 0}
    try:
        return asyncio.run(_run_single(target, probeset=probeset, classifier=classifier, settings=settings,
                                       run_store=run_store, on_progress=on_progress, budget=budget,
                                       until_confident=until_confident, claim=claim,
                                       until_settled=until_settled, resume=resume, on_warning=on_warning,
                                       state=state))
    except KeyboardInterrupt:
        if state["run_id"] is None:
            raise
        raise Interrupted(state["run_id"], state["answered"], state["total"], run_store is not None) from None
    finally:
        if run_store is not None:
            run_store.close()


def resume_point(run_store: Any, run_id: str, target: Target, probeset: ProbeSet) -> tuple[str, list[ProbeResult]]:
    """(run id, the answers to keep) of a stored run that ``target`` may continue with
    ``probeset``; ConfigError when it is complete, of another probe set or another target."""
    from ..errors import ConfigError
    from ..probing.store import target_key
    row = run_store.get_run(run_id)
    rid = row["id"]
    if row["status"] == "complete":
        raise ConfigError(f"run {rid} is complete: nothing to resume (`provenance runs show {rid}`)")
    if (row.get("probeset") or {}).get("hash") != probeset.hash:
        ps = row.get("probeset") or {}
        raise ConfigError(f"run {rid} was probed with probe set {ps.get('name')} {ps.get('version')}, not "
                          f"{probeset.name} {probeset.version}: it cannot be continued with this one")
    if target_key(row.get("target") or {}) != target_key(target):
        raise ConfigError(f"run {rid} probed another target ({(row.get('target') or {}).get('base_url')} "
                          f"model {(row.get('target') or {}).get('model')})")
    return rid, [r for r in run_store.load_results(rid) if r.ok]


async def _run_single(target: Target, *, probeset: ProbeSet, classifier: Any, settings: RunSettings,
                      run_store: Any, on_progress: Callable[[int, int], None] | None, budget: int | None,
                      until_confident: float | None, claim: Any = None, until_settled: bool = False,
                      resume: str | None = None, on_warning: Callable[[str], None] | None = None,
                      state: dict[str, Any] | None = None) -> dict[str, Any]:
    from ..channels.model_echo import first_reply_mismatch

    state = state if state is not None else {}
    existing: list[ProbeResult] = []
    if resume is not None:
        run_id, existing = resume_point(run_store, resume, target, probeset)
        run_store.register_secrets(run_id, target)
        run_store.reopen_run(run_id)
    else:
        run_id = run_store.start_run(target, probeset) if run_store is not None else new_run_id()
    total = len(probeset.probes) if budget is None else min(budget, len(probeset.probes))
    done = {"n": len(existing), "warned": False}
    state.update(run_id=run_id, answered=len(existing), total=total)
    if on_progress is not None:
        on_progress(done["n"], total)

    def on_result(result: ProbeResult) -> None:
        if run_store is not None:
            run_store.record_result(run_id, result)       # committed per probe
        done["n"] += 1
        if result.ok:
            state["answered"] += 1
        if on_warning is not None and not done["warned"]:
            line = first_reply_mismatch(target.model, result)
            if line:
                done["warned"] = True
                on_warning(line)
        if on_progress is not None:
            on_progress(done["n"], total)

    try:
        report = await probe_async(target, probeset=probeset, classifier=classifier, settings=settings,
                                   run_id=run_id, on_result=on_result, existing=existing, budget=budget,
                                   until_confident=until_confident, claim=claim,
                                   until_settled=until_settled)
    except (asyncio.CancelledError, KeyboardInterrupt):
        if run_store is not None:
            run_store.interrupt_run(run_id, f"interrupted: {state['answered']} of {total} probes answered")
        raise
    except BaseException as exc:
        if run_store is not None:
            from ..text_safety import safe_line
            run_store.fail_run(run_id, safe_line(f"{type(exc).__name__}: {exc}", 300))
        raise
    if run_store is not None:
        run_store.finish_run(run_id, report)
    return report
