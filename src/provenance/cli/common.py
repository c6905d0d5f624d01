"""Option parsing helpers shared by command modules (light imports only).

``run_options`` declares, once, the options that say how long and how hard one target is
probed (--timeout, --total-timeout, --deadline, --retries); ``probe``, ``verify`` and
``scan`` take them as one ``RunOptions``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from ..errors import ConfigError


def parse_headers(values: list[str] | None) -> dict[str, str]:
    from ..settings import parse_header
    out: dict[str, str] = {}
    for v in values or []:
        kv = parse_header(v)
        if kv is None:
            raise ConfigError(f"--header {v!r}: expected NAME:VALUE")
        out[kv[0]] = kv[1]
    return out


def load_probeset_opt(probes_dir: Path | None):
    from ..probes import load_probeset
    return load_probeset(probes_dir)


def load_classifier_opt(model_dir: Path | None, probeset: Any):
    from ..classifier import load_classifier
    return load_classifier(model_dir, probeset=probeset)


def emit_json(doc: Any) -> None:
    from ..report import dumps
    sys.stdout.write(dumps(doc) + "\n")
    sys.stdout.flush()


def stderr_console():
    from rich.console import Console
    return Console(stderr=True, highlight=False)


def output_report(report: dict, output: Path | None, json_out: bool, stored: bool = True) -> None:
    """Write the report to ``output`` (atomically) if given; print it as JSON or as a verdict
    (``stored``: False when the run is not in the run store, which the verdict's last line says)."""
    if output is not None:
        from ..report import dumps, write_atomic
        write_atomic(output, dumps(report) + "\n")
    if json_out:
        emit_json(report)
    else:
        from .render import render_verdict
        render_verdict(report, stored=stored)


TIMEOUT_HELP = ("Read timeout, seconds: the longest wait for the first or the next byte of a reply. "
                "Each request's TOTAL time, every retry included, is bounded by --total-timeout "
                "(default twice this), so a reply that trickles or stalls ends too.")
TOTAL_TIMEOUT_HELP = ("Total time bound for one request, seconds, every attempt and backoff included "
                      "(default: twice --timeout). A probe cut by it is recorded as timed out, with why.")


DEADLINE_HELP = "Deadline for the whole target, seconds."
RETRIES_HELP = "Retries on 408/429/5xx and transport errors."
DB_HELP = "Run store (SQLite) path; default $PROVENANCE_DB or your data directory."


def total_timeout(timeout: float, total: float | None) -> float:
    """The total-time bound for one request: ``total``, or twice the read timeout."""
    from ..errors import ConfigError as _CE
    if total is None:
        return 2.0 * timeout
    if total < timeout:
        raise _CE(f"--total-timeout {total:g} is shorter than --timeout {timeout:g}")
    return total


class RunOptions(NamedTuple):
    """--timeout, --total-timeout, --deadline and --retries as one command received them."""

    timeout: float
    total_timeout: Optional[float]
    deadline: float
    retries: int

    def check(self) -> None:
        """ConfigError when --total-timeout is shorter than --timeout."""
        total_timeout(self.timeout, self.total_timeout)

    def settings(self, concurrency: int, **more: Any) -> Any:
        """The ``RunSettings`` of a run with these options and at most ``concurrency`` probes in
        flight, and any other ``RunSettings`` field in ``more`` (ConfigError when --total-timeout
        is shorter than --timeout)."""
        from ..settings import RunSettings
        return RunSettings(concurrency=concurrency, read_timeout=self.timeout, deadline=self.deadline,
                           retries=self.retries, request_timeout=total_timeout(self.timeout, self.total_timeout),
                           **more)


def run_options(deadline_help: str = DEADLINE_HELP, deadline_default: float = 600.0
                ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Put on a command (below ``@app.command``): its ``run: RunOptions`` parameter becomes
    --timeout, --total-timeout, --deadline and --retries, in that place in its option list,
    and the command is called with them gathered in one ``RunOptions``."""
    import functools
    import inspect

    import typer

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    options = [
        inspect.Parameter("timeout", kind, annotation=float,
                          default=typer.Option(60.0, "--timeout", min=0.1, help=TIMEOUT_HELP)),
        inspect.Parameter("total_timeout", kind, annotation=Optional[float],
                          default=typer.Option(None, "--total-timeout", min=0.1, help=TOTAL_TIMEOUT_HELP)),
        inspect.Parameter("deadline", kind, annotation=float,
                          default=typer.Option(deadline_default, "--deadline", min=1.0, help=deadline_help)),
        inspect.Parameter("retries", kind, annotation=int,
                          default=typer.Option(3, "--retries", min=0, max=10, help=RETRIES_HELP)),
    ]
    names = [o.name for o in options]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(command, eval_str=True)
        if "run" not in sig.parameters or any(n in sig.parameters for n in names):
            raise TypeError(f"{command.__name__}: run_options needs a 'run' parameter and no {', '.join(names)}")
        params = [q for p in sig.parameters.values() for q in (options if p.name == "run" else [p])]

        @functools.wraps(command)
        def with_run_options(**kw: Any) -> Any:
            run = RunOptions(**{n: kw.pop(n) for n in names})
            return command(run=run, **kw)

        with_run_options.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        with_run_options.__annotations__ = {p.name: p.annotation for p in params}
        return with_run_options

    return decorate


def failed_line(report: dict) -> str:
    """One line on stderr for a run that found the endpoint unusable."""
    from ..text_safety import safe_line
    a = report.get("attribution") or {}
    t = report.get("target") or {}
    why = (a.get("reliability") or ["no probe succeeded"])[0]
    return safe_line(f"provenance: error: {t.get('base_url')}: {why}", 600)


def run_with_progress(target: Any, *, show: bool, probeset: Any, classifier: Any, settings: Any,
                      go_on: str = "provenance probe --resume {run}", **kw: Any) -> dict:
    """``run/target.py: run_single`` with the progress line (a terminal's stderr, when ``show``), model-name
    warnings at once, and Ctrl-C turned into one line saying what was saved and how to go on
    (``RunInterrupted``, exit 130; ``go_on``: the command that continues, ``{run}`` the run id).
    ``kw``: run_single's other arguments."""
    from ..errors import RunInterrupted
    from ..run.target import Interrupted, run_single
    from .progress import probe_progress, warner

    with probe_progress(show, len(probeset.probes)) as on_progress:
        try:
            return run_single(target, probeset=probeset, classifier=classifier, settings=settings,
                              on_progress=on_progress, on_warning=warner(on_progress), **kw)
        except Interrupted as e:
            raise RunInterrupted(interrupted_line(e, go_on)) from None


def interrupted_line(e: Any, go_on: str = "provenance probe --resume {run}") -> str:
    """'17 of 212 probes answered and saved in run R; continue with: provenance probe --resume R'."""
    if not e.stored:
        return f"{e.answered} of {e.total} probes answered; nothing was saved (--no-store)"
    return (f"{e.answered} of {e.total} probes answered and saved in run {e.run_id}; "
            f"continue with: {go_on.format(run=e.run_id)}")