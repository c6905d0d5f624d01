"""Live progress on a TTY stderr: one target's probes (``ProbeStatus``), a scan's entrants
(``ScanProgress``). Rich is imported only when something is drawn."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..probing.entrants import Entrant
from ..probing.scan import (STATE_COMPLETE, STATE_ERROR, STATE_REUSED, STATE_UNUSABLE, Outcome, ScanEvents,
                            unusable_why)
from .render import markup_escape as esc
from .render import pct


def clock(seconds: float) -> str:
    """12:05 or 1:02:05."""
    s = int(max(0.0, seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def progress_text(done: int, total: int, elapsed: float, first: int = 0) -> str:
    """'probing: 12/212 done, 1:05 elapsed, about 17:00 left': the time left at the pace of the
    probes finished in this run (``first``: those a resumed run already had), once 3 have."""
    line = f"probing: {done}/{total} done, {clock(elapsed)} elapsed"
    new = done - first
    if new >= 3 and done < total:
        line += f", about {clock(elapsed / new * (total - done))} left"
    return line


class ProbeStatus:
    """'probing: 12/212 done, 1:05 elapsed, about 17:00 left' while one target is probed:
    ``run_single``'s ``on_progress``; ``warn`` prints a line above it at once."""

    def __init__(self, n_probes: int) -> None:
        import time
        self.n_probes = n_probes
        self.status: Any = None
        self.console: Any = None
        self.t0 = time.monotonic()
        self.first: int | None = None

    def __call__(self, done: int, total: int) -> None:
        import time
        if self.first is None:
            self.first = done
        text = progress_text(done, total, time.monotonic() - self.t0, self.first)
        if self.status is None:
            from rich.console import Console
            self.console = Console(stderr=True, highlight=False)
            self.status = self.console.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def warn(self, line: str) -> None:
        if self.console is not None:
            self.console.print(f"[yellow]warning:[/yellow] {esc(line, 600)}", soft_wrap=True)
        else:
            warn_line(line)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def warn_line(line: str) -> None:
    """``provenance: warning: ...`` on stderr (no terminal to draw on)."""
    from ..text_safety import safe_line
    sys.stderr.write(f"provenance: warning: {safe_line(line, 600)}\n")
    sys.stderr.flush()


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


def warner(progress: Any) -> Callable[[str], None]:
    """``run_single``'s ``on_warning``: above the progress line on a terminal, else one stderr line."""
    return progress.warn if isinstance(progress, ProbeStatus) else warn_line


class ScanProgress(ScanEvents):
    """Live progress on stderr (TTY only): totals, elapsed, ETA, one line per entrant state."""

    def __init__(self, n_entrants: int) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self.console = Console(stderr=True, highlight=False)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, transient=True)
        self.total = self.progress.add_task("entrants", total=n_entrants)
        self.tasks: dict[str, Any] = {}
        self.counts = {STATE_COMPLETE: 0, STATE_REUSED: 0, STATE_UNUSABLE: 0, STATE_ERROR: 0}

    def __enter__(self) -> "ScanProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def started(self, entrant: Entrant, total: int, have: int) -> None:
        label = f"  {esc(entrant.name, 40)}" + (f" (resumed, {have} kept)" if have else "")
        self.tasks[entrant.name] = self.progress.add_task(label, total=total, completed=have)

    def probe_done(self, entrant: Entrant) -> None:
        tid = self.tasks.get(entrant.name)
        if tid is not None:
            self.progress.advance(tid)

    def parked(self, entrant: Entrant) -> None:
        self.progress.console.print(f"[yellow]stalled[/yellow]   {esc(entrant.name, 60)}: not answering; "
                                    f"waiting out its timeout beside the scan")

    def finished(self, o: Outcome) -> None:
        tid = self.tasks.pop(o.name, None)
        if tid is not None:
            self.progress.remove_task(tid)
        self.counts[o.state] = self.counts.get(o.state, 0) + 1
        a = o.attribution
        if o.state == STATE_ERROR:
            line = f"[red]error[/red]     {esc(o.name, 60)}: {esc(o.error, 200)}"
        elif o.state == STATE_UNUSABLE:
            line = f"[red]unusable[/red]  {esc(o.name, 60)}: {esc(unusable_why(o), 200)} {o.elapsed_s:.1f}s"
        else:
            tag = "stored   " if o.state == STATE_REUSED else "done     "
            line = (f"[green]{tag}[/green] {esc(o.name, 60)}: {esc(a.get('creator'), 60)} "
                    f"({pct(a.get('confidence'), missing='-')}, {esc(a.get('status'), 20)}) {o.elapsed_s:.1f}s")
        self.progress.console.print(line)
        c = self.counts
        self.progress.update(self.total, advance=1,
                             description=f"entrants ({c[STATE_COMPLETE] + c[STATE_REUSED]} ok, "
                                         f"{c[STATE_UNUSABLE] + c[STATE_ERROR]} failed)")
