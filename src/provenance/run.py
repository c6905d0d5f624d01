"""Run one probe end to end, from the CLI's point of view: store, progress, pipeline."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from .classifier.base import Classifier
from .probes import ProbeSet
from .settings import RunSettings, Target


def run_single(target: Target, *, probeset: ProbeSet, classifier: Classifier, settings: RunSettings,
               db: Path | None = None, store: bool = True, progress: bool = True,
               budget: int | None = None, until_confident: float | None = None,
               claim: Any = None, until_settled: bool = False) -> dict[str, Any]:
    """Probe one target; record the run in the store (unless ``store`` is False); return the report
    (with its claim check when ``claim`` is given, see ``pipeline.probe_async``)."""
    run_store = None
    if store:
        from .store import RunStore
        run_store = RunStore.open(db)
    try:
        return asyncio.run(_run_single(target, probeset=probeset, classifier=classifier, settings=settings,
                                       run_store=run_store, progress=progress, budget=budget,
                                       until_confident=until_confident, claim=claim,
                                       until_settled=until_settled))
    finally:
        if run_store is not None:
            run_store.close()


async def _run_single(target: Target, *, probeset: ProbeSet, classifier: Classifier, settings: RunSettings,
                      run_store: Any, progress: bool, budget: int | None,
                      until_confident: float | None, claim: Any = None,
                      until_settled: bool = False) -> dict[str, Any]:
    from .pipeline import probe_async
    from .report import new_run_id

    run_id = run_store.start_run(target, probeset) if run_store is not None else new_run_id()
    total = len(probeset.probes) if budget is None else min(budget, len(probeset.probes))
    done = {"n": 0}
    status = None
    if progress and sys.stderr.isatty():
        from rich.console import Console
        status = Console(stderr=True).status(f"probing {len(probeset.probes)} probes: 0/{total} done")
        status.start()

    def on_result(result) -> None:
        if run_store is not None:
            run_store.record_result(run_id, result)       # committed per probe
        done["n"] += 1
        if status is not None:
            status.update(f"probing: {done['n']}/{total} done")

    try:
        report = await probe_async(target, probeset=probeset, classifier=classifier, settings=settings,
                                   run_id=run_id, on_result=on_result, budget=budget,
                                   until_confident=until_confident, claim=claim,
                                   until_settled=until_settled)
    except BaseException as exc:
        if run_store is not None:
            from .text_safety import safe_line
            run_store.fail_run(run_id, safe_line(f"{type(exc).__name__}: {exc}", 300))
        raise
    finally:
        if status is not None:
            status.stop()
    if run_store is not None:
        run_store.finish_run(run_id, report)
    return report
