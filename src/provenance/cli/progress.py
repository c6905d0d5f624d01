"""Live progress on a TTY stderr: one target's probes (``ProbeStatus``), a scan's entrants
(``ScanProgress``). Rich is imported only when something is drawn."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class ProbeStatus:
    """'probing: 12/132 done' while one target is probed: ``run_single``'s ``on_progress``."""

    def __init__(self, n_probes: int) -> None:
        self.n_probes = n_probes
        self.status: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.status is None:
            from rich.console import Console
            self.status = Console(stderr=True).status(f"probing {self.n_probes} probes: {done}/{total} done")
            self.status.start()
        else:
            self.status.update(f"probing: {done}/{total} done")

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


@contextmanager
def probe_progress(show: bool, n_probes: int) -> Iterator[Callable[[int, int], None] | None]:
    """The ``on_progress`` callback for ``run_single`` (None unless ``show`` and stderr is a
    terminal); what it drew is cleared on exit."""
    if not (show and sys.stderr.isatty()):
        yield None
        return
    status = ProbeStatus(n_probes)
    try:
        yield status
    finally:
        status.stop()
