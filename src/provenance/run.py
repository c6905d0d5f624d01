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
               db: Path | None = None, store: bool = True, progress: bool = True) -> dict[str, Any]:
    return asyncio.run(_run_single(target, probeset=probeset, classifier=classifier, settings=settings,
                                   db=db, store=store, progress=progress))


async def _run_single(target: Target, *, probeset: ProbeSet, classifier: Classifier, settings: RunSettings,
                      db: Path | None, store: bool, progress: bool) -> dict[str, Any]:
    from .pipeline import probe_async
    from .report import new_run_id

    run_id = new_run_id()
    total = len(probeset.probes)
    done = {"n": 0}
    show = progress and sys.stderr.isatty()
    status = None
    if show:
        from rich.console import Console
        status = Console(stderr=True).status(f"probing: 0/{total}")
        status.start()

    def on_result(result) -> None:
        done["n"] += 1
        if status is not None:
            status.update(f"probing: {done['n']}/{total}")

    try:
        report = await probe_async(target, probeset=probeset, classifier=classifier, settings=settings,
                                   run_id=run_id, on_result=on_result)
    finally:
        if status is not None:
            status.stop()
    return report
